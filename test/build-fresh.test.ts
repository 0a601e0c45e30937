/**
 * The binary under test is the current source (issue 17, item 10). dist/hostwall bakes in a
 * hash of the source it was built from (scripts/source-hash.ts, printed by `hostwall version`);
 * the test preload (test/preload.ts, bunfig.toml) rebuilds it when the tree differs. Here:
 * the binary of this run is fresh, the hash moves with every input it names, a stale or
 * hashless binary is told apart, and in a copy of the repo the preload rebuilds a stale binary
 * before the tests and fails the run when the source does not build.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binaryFreshness, embeddedHash, sourceHash } from "../scripts/source-hash.ts";

const REPO = join(import.meta.dir, "..");
const BINARY = join(REPO, "dist/hostwall");
const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** A copy of what the build and the preload read, with node_modules linked. */
function copyRepo(withBinary: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), "hw-fresh-"));
  temps.push(dir);
  for (const entry of ["src", "scripts", "package.json", "tsconfig.json", "bunfig.toml", "test/preload.ts"]) cpSync(join(REPO, entry), join(dir, entry), { recursive: true });
  symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
  if (withBinary) {
    mkdirSync(join(dir, "dist"));
    copyFileSync(BINARY, join(dir, "dist/hostwall"));
  }
  return dir;
}

/** A stand-in binary whose `version` prints the given line. */
function fakeBinary(line: string): string {
  const dir = mkdtempSync(join(tmpdir(), "hw-fake-bin-"));
  temps.push(dir);
  writeFileSync(join(dir, "hostwall"), `#!/bin/sh\necho '${line}'\n`, { mode: 0o755 });
  return join(dir, "hostwall");
}

describe("the binary under test is built from the current source", () => {
  test("dist/hostwall names the current tree's source hash", () => {
    const f = binaryFreshness(REPO, BINARY);
    expect({ fresh: f.fresh, why: f.why }).toEqual({ fresh: true, why: undefined });
    expect(f.current).toMatch(/^[0-9a-f]{16}$/);
  });

  test("the hash changes with a src file, a new src file, package.json, the build script and the Bun version; not with other files", () => {
    const dir = copyRepo(false);
    const base = sourceHash(dir);
    expect(sourceHash(dir)).toBe(base);
    expect(sourceHash(dir, "0.0.0")).not.toBe(base);
    const changes: Array<[string, () => void]> = [
      ["src file", () => appendFileSync(join(dir, "src/version.ts"), " ")],
      ["new src file", () => writeFileSync(join(dir, "src/nft/extra.ts"), "")],
      ["package.json", () => appendFileSync(join(dir, "package.json"), "\n")],
      ["build script", () => appendFileSync(join(dir, "scripts/build.ts"), "\n")],
    ];
    let last = base;
    for (const [what, change] of changes) {
      change();
      const now = sourceHash(dir);
      expect({ what, changed: now !== last }).toEqual({ what, changed: true });
      last = now;
    }
    writeFileSync(join(dir, "src/NOTES.md"), "not source");
    expect(sourceHash(dir)).toBe(last);
  });

  test("a binary from other source, one without a hash, and a missing one are not fresh", () => {
    const current = sourceHash(REPO);
    const other = binaryFreshness(REPO, fakeBinary("hostwall 0.1.0 (commit abc, source 0123456789abcdef, bun 1.4.5)"));
    expect(other).toEqual({ fresh: false, current, embedded: "0123456789abcdef", why: `built from source 0123456789abcdef, the tree is ${current}` });
    const old = binaryFreshness(REPO, fakeBinary("hostwall 0.1.0 (commit abc, bun 1.4.5)"));
    expect(old.fresh).toBe(false);
    expect(old.why).toContain("names no source hash");
    expect(embeddedHash(join(REPO, "dist/no-such-binary")).hash).toBeUndefined();
    // The real binary, for contrast: the same check says fresh (first test).
    expect(embeddedHash(BINARY).hash).toBe(current);
  });

  test("in a copy: the preload rebuilds a stale binary before the tests, and fails the run when src does not build", () => {
    const dir = copyRepo(true);
    writeFileSync(join(dir, "probe.test.ts"), `import { expect, test } from "bun:test";\nimport { binaryFreshness } from "./scripts/source-hash.ts";\ntest("fresh", () => expect(binaryFreshness(import.meta.dir, import.meta.dir + "/dist/hostwall").why).toBeUndefined());\n`);
    const runTests = () => Bun.spawnSync([process.execPath, "test", "./probe.test.ts"], { cwd: dir, stdout: "pipe", stderr: "pipe", timeout: 120_000 });
    // Fresh copy: nothing to rebuild.
    expect(binaryFreshness(dir, join(dir, "dist/hostwall")).fresh).toBe(true);
    appendFileSync(join(dir, "src/version.ts"), "\n// changed after the build\n");
    expect(binaryFreshness(dir, join(dir, "dist/hostwall")).fresh).toBe(false);
    const rebuilt = runTests();
    expect({ code: rebuilt.exitCode, rebuilt: /test preload: rebuilt dist\/hostwall \(built from source [0-9a-f]{16}, the tree is [0-9a-f]{16}\)/.test(rebuilt.stderr.toString()) }).toEqual({ code: 0, rebuilt: true });
    expect(binaryFreshness(dir, join(dir, "dist/hostwall")).fresh).toBe(true);

    appendFileSync(join(dir, "src/version.ts"), "export const = ;\n");
    const broken = runTests();
    expect(broken.exitCode).not.toBe(0);
    expect(broken.stderr.toString()).toContain("rebuilding it failed");
    expect(broken.stderr.toString()).not.toContain("(pass) fresh");
  }, 120_000);
});
