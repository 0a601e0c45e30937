/**
 * User text never changes the nft script (reference/nftables.md §7: nft has no escape for `"`,
 * and `;` ends a command). Valid Calico can carry hostile text in selector literals; names,
 * labels and annotations that validation would reject are also fed straight to the compiler
 * to prove the renderer's own defences.
 */
import { describe, expect, test } from "bun:test";
import { buildRuleset } from "../../src/pipeline.ts";
import { loadConfig } from "../../src/config/load.ts";
import { resolvePlan } from "../../src/resolve/resolve.ts";
import { compileRuleset } from "../../src/nft/compile.ts";
import { renderScript } from "../../src/nft/render.ts";

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

/** Every quoted string in the script holds only inert characters; nothing hostile survives. */
function expectInert(script: string): void {
  for (const m of script.matchAll(/"([^"\n]*)"/g)) expect(m[1]!).toMatch(/^[A-Za-z0-9 _.,:=/@+%-]*$/);
  const quotes = script.split("\n").map((line) => (line.match(/"/g) ?? []).length % 2);
  expect(quotes.every((odd) => odd === 0)).toBe(true);
  expect(script).not.toContain("$");
  // Outside quotes, the only commands are hostwall's own and `;` only ends a base chain's hook line.
  for (const line of script.split("\n").map((l) => l.replace(/"[^"\n]*"/g, '""').trim())) {
    if (/^(delete )?table /.test(line)) expect(line).toMatch(/^(table (netdev|inet) hostwall \{\}?|delete table (netdev|inet) hostwall)$/);
    if (line.includes(";")) expect(line).toMatch(/^type filter hook \w+( device "")? priority -?\d+; policy accept;$/);
    expect(line).not.toContain("#");
  }
}

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
