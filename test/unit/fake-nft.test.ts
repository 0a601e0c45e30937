/**
 * The fake kernel checks what it is given: scripts the renderer writes are accepted (every
 * golden, the failsafe ruleset, the flush script), and each way a script can go wrong is
 * refused with its line, like nft refuses it. A refused script, an injected failure or a
 * `delete table` of a missing table changes nothing; every call is recorded.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildFailsafeRuleset, buildRuleset } from "../../src/pipeline.ts";
import { renderFlush, stampScript } from "../../src/nft/render.ts";
import { parseScript } from "../support/nft-script.ts";
import { exampleFiles } from "./api-fakes.ts";
import { fakeKernel } from "./fake-nft.ts";

const GOLDEN = join(import.meta.dir, "../golden");
const example = stampScript(buildRuleset({ files: exampleFiles(), node: "jasper" }).script!.text, { generation: 1, hash: "0123456789abcdef" });
const lines = example.split("\n");
const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
/** The example script with `edit` applied to its lines. */
const mutate = (edit: (l: string[]) => void) => {
  const l = [...lines];
  edit(l);
  return l.join("\n");
};
const problems = (script: string) => {
  const r = parseScript(script);
  return r.ok ? [] : r.problems.map((p) => `${p.line}: ${p.message}`);
};

describe("the grammar accepts what the renderer writes", () => {
  const goldens = readdirSync(GOLDEN, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  test("there are goldens", () => expect(goldens.length).toBeGreaterThanOrEqual(10));
  for (const name of goldens) test(`golden ${name}`, () => expect(problems(readFileSync(join(GOLDEN, name, "expected.nft"), "utf8"))).toEqual([]));
  test("the stamped example rules, the failsafe ruleset and the flush script", () => {
    expect(problems(example)).toEqual([]);
    expect(problems(buildFailsafeRuleset("jasper", new Set(["lo", "eth0"])).script!.text)).toEqual([]);
    expect(problems(renderFlush([{ family: "netdev", name: "hostwall" }, { family: "inet", name: "hostwall" }]))).toEqual([]);
  });
});

describe("the grammar refuses everything else, by line", () => {
  const rule = at(/comment "gnp\/allow-host-services\/ingress\/1"/) + 1;
  const cases: [string, string, string][] = [
    ["flush ruleset", mutate((l) => l.splice(0, 0, "flush ruleset")), `1: not a top-level line the renderer writes: "flush ruleset"`],
    ["add table", mutate((l) => l.splice(0, 0, "add table inet pwned")), `1: not a top-level line the renderer writes: "add table inet pwned"`],
    ["a foreign table", mutate((l) => l.splice(0, 0, "table inet keepme {}")), `1: table inet "keepme" is not one of hostwall's (hostwall)`],
    ["a foreign family", mutate((l) => l.splice(0, 0, "delete table ip hostwall")), `1: family "ip" is not netdev or inet`],
    ["a dangling jump", mutate((l) => l.splice(rule, 0, "\t\tjump nosuch")), `${rule + 1}: jump/goto to chain nosuch, which table inet hostwall does not define`],
    ["a jump to a base chain", mutate((l) => l.splice(rule, 0, "\t\tgoto filter-input")), `${rule + 1}: jump/goto to base chain filter-input`],
    ["an unknown set", mutate((l) => l.splice(rule, 0, "\t\tip saddr @nosuch drop")), `${rule + 1}: @nosuch: table inet hostwall defines no such set`],
    ["a command in a chain", mutate((l) => l.splice(rule, 0, "\t\tflush ruleset")), `${rule + 1}: a rule line starts with the command "flush"`],
    ["a second statement", mutate((l) => (l[rule - 1] = `${l[rule - 1]}; delete table inet keepme`)), `${rule}: a rule holds ";" outside quotes`],
    ["an open brace", mutate((l) => (l[rule - 1] = `${l[rule - 1]} {`)), `${rule}: unbalanced braces`],
    ["an odd quote", mutate((l) => (l[rule - 1] = `${l[rule - 1]}"`)), `${rule}: unbalanced quotes`],
    ["a top-level closer inside a chain", mutate((l) => l.splice(rule, 0, "}")), `${rule + 1}: chain gnp-allow-host-services-in: not a rule line: "}"`],
    ["a duplicated chain", mutate((l) => l.splice(lines.length - 2, 0, "\tchain filter-input {", "\t}")), `${lines.length - 1}: chain filter-input is defined twice in table inet hostwall`],
    ["a netdev chain without its device", mutate((l) => (l[at(/device "eth0"/)] = "\t\ttype filter hook ingress priority -500; policy accept;")), `${at(/device "eth0"/) + 1}: chain ingress-eth0: a netdev chain needs a device`],
    ["no final newline", example.slice(0, -1), `${lines.length - 1}: the script does not end with a newline`],
  ];
  for (const [name, script, problem] of cases) test(name, () => expect(problems(script)).toContain(problem));
  test("every case changed the script", () => expect(cases.every(([, s]) => s !== example)).toBe(true));
});

describe("the fake kernel", () => {
  test("runs a script as one transaction and records every call", async () => {
    const { kernel, runner } = fakeKernel();
    kernel.tables.push({ family: "inet", name: "keepme", handle: 999, sets: [], chains: [] });
    expect((await runner.apply(example, { check: true })).ok).toBe(true);
    expect(kernel.tables.map((t) => t.name)).toEqual(["keepme"]); // a check changes nothing
    expect((await runner.apply(example)).ok).toBe(true);
    expect(kernel.tables.map((t) => `${t.family} ${t.name}`)).toEqual(["inet keepme", "netdev hostwall", "inet hostwall"]);
    expect(kernel.tables[2]!.comment).toBe("hostwall generation 1 hash 0123456789abcdef");
    await runner.list!();
    await runner.tables!();
    expect(kernel.calls.map((c) => c.op)).toEqual(["check", "apply", "list", "tables"]);
    expect(kernel.applied).toEqual([example]);
    // The flush script removes hostwall's tables and nothing else.
    expect((await runner.apply(renderFlush([{ family: "netdev", name: "hostwall" }, { family: "inet", name: "hostwall" }]))).ok).toBe(true);
    expect(kernel.tables.map((t) => `${t.family} ${t.name}`)).toEqual(["inet keepme"]);
  });

  test("a malformed script, an injected failure or a failing statement changes nothing", async () => {
    const { kernel, runner } = fakeKernel();
    await runner.apply(example);
    const before = structuredClone(kernel.tables);
    const bad = mutate((l) => l.splice(0, 0, "flush ruleset"));
    expect(await runner.apply(bad)).toEqual({ ok: false, stdout: "", stderr: '/dev/stdin:1:1-1: Error: not a top-level line the renderer writes: "flush ruleset"\n' });
    expect(kernel.malformed.map((m) => m.script)).toEqual([bad]);
    kernel.failApply = "Error: injected\n";
    expect(await runner.apply(example)).toEqual({ ok: false, stdout: "", stderr: "Error: injected\n" });
    kernel.failCheck = "Error: injected check\n";
    expect((await runner.apply(example, { check: true })).stderr).toBe("Error: injected check\n");
    // `delete table` of a table that is not there fails the whole transaction, after a statement that succeeded.
    const partial = "table inet hostwall {}\ndelete table inet hostwall\ndelete table inet hostwall\n";
    expect((await runner.apply(partial)).stderr).toBe("/dev/stdin:3:1-1: Error: Could not process rule: No such file or directory\n");
    expect(kernel.tables).toEqual(before);
    expect(kernel.applied).toEqual([example]);
    // Injected failures are one-shot.
    expect((await runner.apply(example, { check: true })).ok).toBe(true);
    expect((await runner.apply(example)).ok).toBe(true);
    expect(kernel.calls.map((c) => (c.op === "check" || c.op === "apply" ? `${c.op} ${c.ok}` : c.op))).toEqual(["apply true", "apply false", "apply false", "check false", "apply false", "check true", "apply true"]);
  });
});
