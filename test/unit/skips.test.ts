/**
 * Skip accounting of `npm test` (scripts/skips.ts): bun's real JUnit report of a sample file
 * is parsed into skips and todos, each skip gets the skipIf condition of its test or describe
 * as its reason, and the allow-list decides which skips CI tolerates.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { accountSkips, formatSkips, parseAllowList, parseJunit } from "../../scripts/skips.ts";

const SAMPLE = `import { describe, test } from "bun:test";
const root = false;
describe("d", () => {
  test("runs", () => {});
  test.skipIf(!root)("needs root <&> \\"quoted\\"", () => {});
  test.todo("known bug", () => { throw new Error("x"); });
});
describe.skipIf(process.platform === "linux")("whole", () => {
  test("inner", () => {});
});
`;

const dir = mkdtempSync(join(tmpdir(), "hw-skips-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "sample.test.ts"), SAMPLE);
// A temp dir has no bunfig.toml: no preload, no build.
const run = Bun.spawnSync([process.execPath, "test", "--reporter=junit", "--reporter-outfile=j.xml", "./sample.test.ts"], { cwd: dir, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
const cases = parseJunit(readFileSync(join(dir, "j.xml"), "utf8"));
const source = (file: string) => (file === "sample.test.ts" ? SAMPLE : undefined);

describe("skip accounting", () => {
  test("bun's JUnit report gives every test with its status, full name and line", () => {
    expect(run.exitCode).toBe(0);
    expect(cases.map((c) => [c.status, c.name, c.line])).toEqual([
      ["pass", "d > runs", 4],
      ["skip", 'd > needs root <&> "quoted"', 5],
      ["todo", "d > known bug", 6],
      ["skip", "whole > inner", 9],
    ]);
  });

  test("each skip's reason is the skipIf at its test or its describe; the allow-list marks what CI tolerates", () => {
    const allow = parseAllowList("# comment\n\nsample.test.ts | whole > * | linux-only by design\nsample.test.ts | nothing > here | stale\n");
    expect(allow.errors).toEqual([]);
    const { skips, todos, unused } = accountSkips(cases, allow.entries, source);
    expect(skips.map((s) => [s.test.name, s.reason, s.allowedBy?.reason])).toEqual([
      ['d > needs root <&> "quoted"', "skipIf(!root) at sample.test.ts:5", undefined],
      ["whole > inner", 'skipIf(process.platform === "linux") at sample.test.ts:8', "linux-only by design"],
    ]);
    expect(todos.map((t) => t.name)).toEqual(["d > known bug"]);
    expect(unused.map((e) => e.line)).toEqual([4]);
    const text = formatSkips(skips, todos, unused, "test/skips.allow");
    expect(text.split("\n")[0]).toBe("2 skipped (1 not on test/skips.allow), 1 todo");
    expect(text).toContain("NOT on test/skips.allow");
    expect(text).toContain("allowed (test/skips.allow:3: linux-only by design)");
  });

  test("an allow-list line without a reason is an error; the repo's allow-list parses", () => {
    expect(parseAllowList("a.test.ts | x\n").errors).toEqual(['line 1: expected "FILE | TEST NAME | WHY IT IS ALLOWED", got "a.test.ts | x"']);
    expect(parseAllowList("a.test.ts | x |  \n").errors).toHaveLength(1);
    expect(parseAllowList(readFileSync(join(import.meta.dir, "../skips.allow"), "utf8")).errors).toEqual([]);
  });
});
