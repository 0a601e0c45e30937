/**
 * Names Calico accepts at their longest (issue #11 item 15): 253 characters in one label for
 * policies, profiles, endpoints and network sets, 63 for tiers. They must compile: nft limits
 * chain and set names to 255 bytes and comments to 128, so long names are hashed into
 * generated names (src/nft/names.ts) and comments are capped. (Checked by hand too:
 * `nft -c -f` and `nft -f` of this script in a scratch network namespace succeed.)
 */
import { expect, test } from "bun:test";
import { buildRuleset } from "../../src/pipeline.ts";

const L = (c: string, n = 253) => c.repeat(n);
const TEXT = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: ${L("h")}, labels: {role: web}}
spec: {node: n1, interfaceName: eth0, expectedIPs: [192.0.2.10], profiles: [${L("p")}]}
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: ${L("p")}}
spec: {ingress: [{action: Log}, {action: Allow}], egress: [{action: Allow}]}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: ${L("t", 63)}}
spec: {order: 10}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: ${L("t", 63)}.${L("g", 189)}}
spec: {tier: ${L("t", 63)}, selector: "role == 'web'", ingress: [{action: Log}, {action: Allow, source: {selector: "all()"}}, {action: Pass}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: ${L("a")}}
spec: {selector: "role == 'web'", doNotTrack: true, applyOnForward: true, ingress: [{action: Log}, {action: Deny, source: {selector: "x == 'z'"}}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: ${L("s")}, labels: {x: z}}
spec: {nets: [198.51.100.0/24]}
`;

test("253-character names compile to nft names and comments within nft's limits", () => {
  const built = buildRuleset({ files: [{ path: "long.yaml", text: TEXT }], node: "n1" });
  expect(built.diagnostics).toEqual([]);
  const script = built.script!.text;
  const names = [...script.matchAll(/\b(?:chain|set|jump|goto) ([^\s{;]+)/g)].map((m) => m[1]!);
  expect(names.length).toBeGreaterThan(10);
  expect(names.filter((n) => Buffer.byteLength(n) > 255)).toEqual([]);
  const comments = [...script.matchAll(/comment "([^"]*)"/g)].map((m) => m[1]!);
  expect(comments.length).toBeGreaterThan(5);
  expect(comments.filter((c) => Buffer.byteLength(c) > 128)).toEqual([]);
  // Both 253-character policies got their own chains.
  expect(built.plan!.endpoints[0]!.stages.untracked.ingress[0]!.policies[0]!.meta.name).toBe(L("a"));
});
