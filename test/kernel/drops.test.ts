/**
 * Drop summaries in the kernel (#14 item 5, the kernel side): a config compiled with
 * `dropSummaries` is loaded in the lab host, the attacker's probes are denied by a policy
 * rule and the client's by another, and each rule's dynamic set lists exactly the address it
 * denied with exactly one packet per probe (a TCP probe gives up before the SYN is retried;
 * UDP and ping send one packet), read back with parseDropSetJson and summarised per rule. A
 * rule that denied nothing has an empty summary, and the config without the option renders
 * the same script as before (no dynamic set).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NftRuleset } from "../../src/nft/ir.ts";
import { dropSets, parseDropSetJson, summariseDrops, type DropSummary } from "../../src/nft/drops.ts";
import { renderScript } from "../../src/nft/render.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { createLab, kernelTestGate, loadNft, PROBE_TIMEOUT_MS, probeAll, sweepStaleLabs, type Lab, type ProbeSpec } from "./lab";
import { compileRuleset } from "../../src/nft/compile.ts";

const enabled = await kernelTestGate();
const PREFIX = "hw-drops-";

const CONFIG = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: host, labels: {host: "true"}}
spec: {node: jasper, interfaceName: eth0, profiles: [projectcalico-default-allow]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: block}
spec:
  selector: host == 'true'
  order: 10
  ingress:
  - action: Deny
    source: {nets: [192.0.2.66/32]}
  - action: Deny
    source: {nets: [2001:db8:2::66/128]}
  - action: Deny
    protocol: TCP
    destination: {ports: [8081]}
  - action: Deny
    protocol: UDP
    destination: {ports: [9999]}
`;

function compiled(dropSummaries: boolean): NftRuleset {
  const built = buildRuleset({ files: [{ path: "drops.yaml", text: CONFIG }], node: "jasper" });
  if (!built.plan) throw new Error("config does not resolve");
  return compileRuleset(built.plan, { dropSummaries });
}

describe.skipIf(!enabled)("drop summaries: each Deny rule's dynamic set", () => {
  let lab: Lab;
  beforeAll(async () => {
    await sweepStaleLabs(PREFIX);
    lab = await createLab({ tag: `${PREFIX}${process.pid.toString(36)}` });
  }, 60_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  test("without the option the script is the one compiled before (no dynamic set)", () => {
    const built = buildRuleset({ files: [{ path: "drops.yaml", text: CONFIG }], node: "jasper" });
    expect(renderScript(compiled(false)).text).toBe(built.script!.text);
    expect(built.script!.text).not.toContain("dynamic");
    expect(dropSets(compiled(true)).map((s) => s.origin).sort()).toEqual(
      ["gnp/block/ingress/0", "gnp/block/ingress/1", "gnp/block/ingress/2", "gnp/block/ingress/2", "gnp/block/ingress/3", "gnp/block/ingress/3"].sort(),
    );
  });

  test("the attacker's and the client's addresses, one packet per probe, under the rule that denied them", async () => {
    const ruleset = compiled(true);
    await loadNft(lab.host, renderScript(ruleset).text);
    const to = (family: 4 | 6) => (family === 4 ? lab.addr.host.v4 : lab.addr.host.v6);
    const specs: ProbeSpec[] = [];
    for (let round = 0; round < 2; round++) {
      for (const family of [4, 6] as const) {
        specs.push({ from: lab.attacker, kind: "tcp", addr: to(family), port: 80, timeoutMs: PROBE_TIMEOUT_MS });
        specs.push({ from: lab.attacker, kind: "ping", addr: to(family), timeoutMs: PROBE_TIMEOUT_MS });
        specs.push({ from: lab.client, kind: "tcp", addr: to(family), port: 8081, timeoutMs: PROBE_TIMEOUT_MS });
      }
    }
    const results = await probeAll(specs);
    expect(results.filter((r) => r.ok).length).toBe(0);

    const read = [];
    for (const s of dropSets(ruleset)) {
      const r = await lab.host.exec(["nft", "-j", "list", "set", s.family, s.table, s.set]);
      expect(r.code).toBe(0);
      const parsed = parseDropSetJson(r.stdout);
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
      read.push({ origin: s.origin, sources: parsed.sources });
    }
    const summary = summariseDrops(read).map((d: DropSummary) => ({ origin: d.origin, packets: d.packets, top: d.top.map((t) => `${t.address} ${t.packets}`) }));
    expect(summary).toEqual([
      { origin: "gnp/block/ingress/0", packets: 4, top: [`${lab.addr.attacker.v4} 4`] },
      { origin: "gnp/block/ingress/1", packets: 4, top: [`${lab.addr.attacker.v6} 4`] },
      // Equal packets: more bytes first (IPv6 headers are longer).
      { origin: "gnp/block/ingress/2", packets: 4, top: [`${lab.addr.client.v6} 2`, `${lab.addr.client.v4} 2`] },
      { origin: "gnp/block/ingress/3", packets: 0, top: [] },
    ]);
  }, 60_000);
});
