/**
 * User text never changes the nft script (reference/nftables.md §7: nft has no escape for `"`,
 * and `;` ends a command). Valid Calico can carry hostile text in selector literals; names,
 * labels and annotations that validation would reject are also fed straight to the compiler
 * to prove the renderer's own defences.
 */
import { describe, expect, test } from "bun:test";
import { buildRuleset } from "../../src/pipeline.ts";
import { loadConfig } from "../../src/validate/load.ts";
import { resolvePlan } from "../../src/resolve/resolve.ts";
import { compileRuleset } from "../../src/nft/compile.ts";
import { renderScript } from "../../src/nft/render.ts";
import { parseScript } from "../support/nft-script.ts";

const HOSTILE = `x"; delete table inet keepme; add table inet pwned; #`;
const yaml = (selector: string, extra = "") => `
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: h, labels: {role: web}}
spec: {node: jasper, interfaceName: eth0, expectedIPs: [192.0.2.10]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: s, labels: {role: bad}, annotations: {note: '${HOSTILE.replaceAll("'", "''")}'}}
spec: {nets: [203.0.113.0/24]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  selector: role == 'web'
  ingress:
    - action: Log
    - action: Deny
      source: {selector: ${JSON.stringify(selector)}}
${extra}`;

/** The only lines a script may have outside a table definition (render.ts). */
const TOP_LEVEL = /^(table (netdev|inet) hostwall \{\}|delete table (netdev|inet) hostwall|table (netdev|inet) hostwall \{( comment "[^"\n]*";)?|\})$/;

/**
 * Every line is one the renderer writes: top-level lines only from TOP_LEVEL, everything else
 * indented inside a table and in the grammar of test/support/nft-script.ts (sets and chains
 * balanced, only hostwall's tables, references resolved, no command inside a chain); every
 * quoted string holds only inert characters; nothing hostile survives.
 */
function expectInert(script: string): void {
  const lines = script.split("\n");
  expect(lines.pop()).toBe("");
  for (const line of lines) {
    if (line.startsWith("\t")) continue;
    expect(line).toMatch(TOP_LEVEL);
  }
  const parsed = parseScript(script);
  expect(parsed.ok ? [] : parsed.problems).toEqual([]);
  for (const m of script.matchAll(/"([^"]*)"/g)) expect(m[1]!).toMatch(/^[A-Za-z0-9 _.,:=/@+%-]*$/);
  const quotes = lines.map((line) => (line.match(/"/g) ?? []).length % 2);
  expect(quotes.every((odd) => odd === 0)).toBe(true);
  expect(script).not.toContain("$");
  // Outside quotes, `;` only ends a base chain's hook line (and a table's stamp comment).
  for (const line of lines.map((l) => l.replace(/"[^"\n]*"/g, '""').trim())) {
    if (line.includes(";")) expect(line).toMatch(/^(type filter hook \w+( device "")? priority -?\d+; policy accept;|table (netdev|inet) hostwall \{ comment "";)$/);
    expect(line).not.toContain("#");
  }
}

describe("the check itself", () => {
  const script = buildRuleset({ files: [{ path: "a.yaml", text: yaml("role == 'bad'") }], node: "jasper" }).script!.text;
  const lines = script.split("\n");
  const rule = lines.findIndex((l) => l.includes("@sel-"));
  const injected: [string, string[]][] = [
    ["add table at the top", ["add table inet pwned", ...lines]],
    ["flush ruleset at the top", ["flush ruleset", ...lines]],
    ["a foreign table", ["table inet keepme {}", "delete table inet keepme", ...lines]],
    ["flush ruleset in a chain", [...lines.slice(0, rule), "\t\tflush ruleset", ...lines.slice(rule)]],
    ["a top-level line between tables", [...lines.slice(0, lines.indexOf("}") + 1), "add table inet pwned", ...lines.slice(lines.indexOf("}") + 1)]],
    ["an unindented line in a chain", [...lines.slice(0, rule), "counter accept", ...lines.slice(rule)]],
    ["a second statement on a rule line", lines.map((l, i) => (i === rule ? `${l}; add table inet pwned` : l))],
  ];
  test("the renderer's script passes", () => expectInert(script));
  for (const [name, bad] of injected) test(`refuses ${name}`, () => expect(() => expectInert(bad.join("\n"))).toThrow());
});

describe("hostile text", () => {
  test("a selector literal with quotes, semicolons and newlines becomes an inert set comment", () => {
    const selector = `role == 'bad' || role == '${HOSTILE}\n$x'`;
    const result = buildRuleset({ files: [{ path: "a.yaml", text: yaml(selector) }], node: "jasper" });
    expect(result.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expectInert(result.script!.text);
    expect(result.script!.text).toContain("ip saddr @sel-");
  });

  test("hostile names, labels, interfaces and log prefixes that bypass validation are hashed, sanitised or refused", () => {
    const { model } = loadConfig([{ path: "a.yaml", text: yaml("role == 'bad'") }], { node: "jasper" });
    model.policies[0]!.meta.name = HOSTILE;
    model.hostEndpoints[0]!.meta.labels = { role: "web", [HOSTILE]: HOSTILE };
    model.felix.logPrefix = `${HOSTILE} %n`;
    const { plan } = resolvePlan(model, "jasper");
    const script = renderScript(compileRuleset(plan)).text;
    expectInert(script);
    expect(script).toMatch(/chain gnp\/[a-z2-7]{12}-in \{/);

    model.hostEndpoints[0]!.interfaceName = `e"; flush ruleset`;
    const evil = resolvePlan(model, "jasper").plan;
    expect(() => renderScript(compileRuleset(evil))).toThrow(/internal error: unsafe (device name|nft identifier)/);
  });

  test("validation rejects hostile names and label values before they reach the compiler", () => {
    const text = yaml("role == 'bad'").replace("metadata: {name: p}", `metadata: {name: '${HOSTILE.replaceAll("'", "''")}'}`).replace("labels: {role: web}", `labels: {role: 'a;b'}`);
    const { diagnostics } = loadConfig([{ path: "a.yaml", text }], { node: "jasper" });
    expect(diagnostics.map((d) => d.code).sort()).toEqual(["INVALID_LABEL_VALUE", "INVALID_NAME"]);
  });

  test("log prefixes are capped below nft's 127-byte limit", () => {
    const long = yaml("role == 'bad'", `---
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: default}
spec: {logPrefix: "${"a".repeat(200)} %n"}
`);
    const script = buildRuleset({ files: [{ path: "a.yaml", text: long }], node: "jasper" }).script!.text;
    const prefix = /log prefix "([^"]*)"/.exec(script)![1]!;
    expect(Buffer.byteLength(prefix)).toBeLessThanOrEqual(127);
    expect(prefix.endsWith(": ")).toBe(true);
  });
});
