/**
 * Per-prefix-length selector sets (#13 item 3, docs/nft-layout.md "Big selector sets") give
 * real packets the verdicts of the default layout and of the evaluator.
 *
 * One config: GlobalNetworkSets with hosts and prefixes of several lengths, prefixes that
 * cover others (dropped by normalisation) and a set overlapping another, IPv4 and IPv6; a
 * policy with a positive selector (Deny on port 7001) and a notSelector (Allow on port 7002).
 * It is compiled three ways (default: hosts/prefixes halves; per-length with every length in
 * its own hash set; per-length with the lengths of fewer than 2 members in the interval set),
 * each script loaded into the lab host, and the attacker sends hand-crafted UDP frames
 * (frames.ts) from sources inside and outside every prefix, to both ports, then a sentinel.
 * What the listeners received must be exactly what the evaluator allows, in every layout.
 *
 * The listing parser reads the per-length layout back: every golden config and this config,
 * compiled with threshold 0, listed with `nft -j`, parse back into the compiled IR.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Evaluator } from "../../src/explain/evaluate.ts";
import { compileRuleset } from "../../src/nft/compile.ts";
import type { NftRuleset } from "../../src/nft/ir.ts";
import { parseRulesetJson } from "../../src/nft/listing.ts";
import { firstDifference, normaliseRuleset } from "../../src/nft/listing-normalise.ts";
import type { PerLengthLayout } from "../../src/nft/names.ts";
import { renderScript } from "../../src/nft/render.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { goldenSource } from "../support/golden-source.ts";
import { sendFrames, startUdpListener, udpFrame, type UdpListener } from "./frames";
import { createLab, kernelTestGate, loadNft, sweepStaleLabs, type Lab } from "./lab";

const TAG = `hw-pl-${process.pid.toString(36)}`;
const NODE = "plen-node";
const enabled = await kernelTestGate();
const [DENY_PORT, ALLOW_PORT] = [7001, 7002];

const YAML = `
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: host-eth0, labels: {role: host}}
spec: {node: ${NODE}, interfaceName: eth0, expectedIPs: [192.0.2.10, "2001:db8:2::10"]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: bad, labels: {list: bad}}
spec:
  # 198.51.100.128/25 and .7 are inside the /24; 2001:db8:dd:1::/64 and 2001:db8:aa:5::9 too.
  nets: [198.51.100.0/24, 198.51.100.128/25, 198.51.100.7, 203.0.113.5, 203.0.113.9, 203.0.113.64/26,
         203.0.113.128/28, 192.0.2.128/25,
         "2001:db8:aa::/48", "2001:db8:aa:5::9", "2001:db8:bb::/64", "2001:db8:cc::1", "2001:db8:cc::2",
         "2001:db8:dd::/56", "2001:db8:dd:1::/64"]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: good, labels: {list: good}}
spec:
  nets: [203.0.113.192/27, 203.0.113.5, 198.51.100.64/26, "2001:db8:ee::/64", "2001:db8:bb::/64", "2001:db8:cc::2"]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: plen}
spec:
  selector: role == 'host'
  types: [Ingress]
  ingress:
    - {action: Deny, protocol: UDP, source: {selector: list == 'bad'}, destination: {ports: [${DENY_PORT}]}}
    - {action: Allow, protocol: UDP, source: {notSelector: list == 'good'}, destination: {ports: [${ALLOW_PORT}]}}
    - {action: Allow, protocol: UDP, destination: {ports: [${DENY_PORT}]}}
`;

/** Sources inside and just outside every prefix of both sets. */
const SOURCES: Record<4 | 6, string[]> = {
  4: [
    "198.51.100.1", "198.51.100.7", "198.51.100.200", "198.51.100.70", "198.51.101.1",
    "203.0.113.5", "203.0.113.6", "203.0.113.9", "203.0.113.63", "203.0.113.64", "203.0.113.100", "203.0.113.127",
    "203.0.113.140", "203.0.113.143", "203.0.113.144", "203.0.113.200", "203.0.113.250",
    "192.0.2.130", "192.0.2.127", "192.0.2.66",
  ],
  6: [
    "2001:db8:aa::1", "2001:db8:aa:ffff::1", "2001:db8:ab::1", "2001:db8:aa:5::9",
    "2001:db8:bb::ff", "2001:db8:bb:1::1", "2001:db8:cc::1", "2001:db8:cc::2", "2001:db8:cc::3",
    "2001:db8:dd:ff::1", "2001:db8:dd:100::1", "2001:db8:dd:1::5", "2001:db8:ee::7", "2001:db8:ef::7", "2001:db8:2::66",
  ],
};

/** YAML with bad's rule an Allow, and a Deny of every other IPv6 source on its port right after (the prefilter's return). */
const ALLOWED = YAML.replace(
  `    - {action: Deny, protocol: UDP, source: {selector: list == 'bad'}, destination: {ports: [${DENY_PORT}]}}\n`,
  `    - {action: Allow, protocol: UDP, source: {selector: list == 'bad'}, destination: {ports: [${DENY_PORT}]}}\n    - {action: Deny, protocol: UDP, ipVersion: 6, destination: {ports: [${DENY_PORT}]}}\n`,
);

const LAYOUTS: Record<string, PerLengthLayout> = {
  "default (hosts/prefixes halves)": { threshold: 4096, rare: 64 },
  "per-length, every length its own hash set": { threshold: 0, rare: 0 },
  "per-length, lengths of one member in the interval set": { threshold: 0, rare: 2 },
};

function build(yaml: string, perLength?: PerLengthLayout): { ruleset: NftRuleset; evaluator: Evaluator } {
  const built = buildRuleset({ files: [{ path: "plen.yaml", text: yaml }], node: NODE });
  if (!built.ruleset || !built.plan) throw new Error(`does not compile: ${JSON.stringify(built.diagnostics.filter((d) => d.severity === "error"))}`);
  return { ruleset: perLength ? compileRuleset(built.plan, { perLength }) : built.ruleset, evaluator: new Evaluator(built.model, NODE) };
}

describe.skipIf(!enabled)("per-prefix-length selector sets in the kernel", () => {
  let lab: Lab;
  const listeners: Record<number, UdpListener> = {};
  const mac = { host: "", attacker: "" };
  let round = 0;

  beforeAll(async () => {
    await sweepStaleLabs("hw-pl-");
    lab = await createLab({ tag: TAG });
    for (const role of ["host", "attacker"] as const) {
      const r = await lab[role].exec(["ip", "-j", "link", "show", "dev", "eth0"]);
      if (r.code !== 0) throw new Error(`ip link show eth0 in ${lab[role].name}: ${r.stderr}`);
      mac[role] = JSON.parse(r.stdout)[0].address;
    }
    // Spoofed sources from other subnets must reach the socket: no reverse-path filter here.
    for (const key of ["all", "default", "eth0"]) await lab.host.exec(["sysctl", "-qw", `net.ipv4.conf.${key}.rp_filter=0`]);
    for (const port of [DENY_PORT, ALLOW_PORT]) listeners[port] = await startUdpListener(lab.host, port);
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  }, 30_000);

  /** Sends one frame per source and port, then a sentinel per port; returns "port src" of what arrived. */
  async function deliveries(): Promise<Set<string>> {
    round++;
    const frames: Uint8Array[] = [];
    const sent: string[] = [];
    for (const family of [4, 6] as const) {
      const dst = family === 4 ? lab.addr.host.v4 : lab.addr.host.v6;
      for (const src of SOURCES[family]) {
        for (const port of [DENY_PORT, ALLOW_PORT]) {
          const payload = `${round} ${port} ${src}`;
          sent.push(payload);
          frames.push(udpFrame({ dstMac: mac.host, srcMac: mac.attacker, src, dst, srcPort: 40000, dstPort: port, payload }));
        }
      }
    }
    await sendFrames(lab.attacker, "eth0", frames);
    // The attacker's own address is allowed on both ports in every layout: its arrival ends the round.
    const sentinels = [DENY_PORT, ALLOW_PORT].map((port) => `${round} ${port} ${lab.addr.attacker.v4}`);
    for (const [i, port] of [DENY_PORT, ALLOW_PORT].entries()) await listeners[port]!.waitFor(sentinels[i]!, 5000);
    await Bun.sleep(50);
    const got = new Set<string>();
    for (const port of [DENY_PORT, ALLOW_PORT]) for (const d of listeners[port]!.received) if (d.data.startsWith(`${round} `)) got.add(d.data.slice(`${round} `.length));
    expect(sent.length).toBe(2 * (SOURCES[4].length + SOURCES[6].length));
    return got;
  }

  function expected(evaluator: Evaluator): Set<string> {
    const out = new Set<string>();
    for (const family of [4, 6] as const) {
      for (const src of SOURCES[family]) {
        for (const port of [DENY_PORT, ALLOW_PORT]) {
          const dst = family === 4 ? lab.addr.host.v4 : lab.addr.host.v6;
          const e = evaluator.evaluate({ direction: "ingress", inInterface: "eth0", family, src, dst, protocol: 17, srcPort: 40000, dstPort: port });
          if (e.verdict === "allow") out.add(`${port} ${src}`);
        }
      }
    }
    return out;
  }

  for (const [name, layout] of Object.entries(LAYOUTS)) {
    test(`${name}: real packets get the evaluator's verdicts`, async () => {
      const { ruleset, evaluator } = build(YAML, layout);
      const sets = ruleset.tables[1]!.sets.filter((s) => s.name.startsWith("sel-")).map((s) => s.name.replace(/^sel-[a-z2-7]+-/, ""));
      // The layout is the one asked for (the selector sets of both lists, both families).
      if (layout.threshold > 0) expect(sets.filter((s) => /^[46][hp]$/.test(s)).length).toBe(sets.length);
      // bad: v4 /32 (2), /28, /26, /25, /24; v6 /128 (2), /64, /56, /48. good: v4 /32, /27, /26; v6 /128, /64 (2).
      // bad's four IPv6 lengths stand behind its /32 prefilter (the Deny rule); good's notSelector has none.
      else if (layout.rare === 0) expect(sets.sort()).toEqual(["4l24", "4l25", "4l26", "4l26", "4l27", "4l28", "4l32", "4l32", "6f32", "6l128", "6l128", "6l48", "6l56", "6l64", "6l64"].sort());
      else expect(sets.sort()).toEqual(["4l32", "4r", "4r", "6l128", "6l64", "6r", "6r"].sort());
      await loadNft(lab.host, renderScript(ruleset).text);
      const want = expected(evaluator);
      // The scenario decides both ways on both ports and in both families.
      expect([...want].filter((w) => w.startsWith(`${DENY_PORT} `)).length).toBeWithin(8, 30);
      expect([...want].filter((w) => w.startsWith(`${ALLOW_PORT} `) && w.includes(":")).length).toBeWithin(3, 14);
      expect([...(await deliveries())].sort()).toEqual([...want].sort());
    }, 60_000);
  }

  test("the IPv6 prefilter missing: a list whose IPv6 members all lie outside the senders' /32 denies none of them, its IPv4 members still denied", async () => {
    // The members are data, never sent from: 2001:db8:: becomes 2001:db9:: in the bad list only.
    const moved = YAML.replace(/(name: bad[\s\S]*?nets: \[[\s\S]*?\]\n)/, (list) => list.replaceAll("2001:db8:", "2001:db9:"));
    expect(moved).toContain('"2001:db9:aa::/48"');
    const { ruleset, evaluator } = build(moved, { threshold: 0, rare: 0 });
    const prefilter = ruleset.tables[1]!.sets.find((set) => set.name.endsWith("-6f32"));
    expect([...(prefilter?.elements ?? [])]).toEqual(["2001:db9::"]);
    await loadNft(lab.host, renderScript(ruleset).text);
    const want = expected(evaluator);
    // Every IPv6 source gets through on the deny port (no member covers it); IPv4 ones as before.
    expect(SOURCES[6].every((src) => want.has(`${DENY_PORT} ${src}`))).toBe(true);
    expect(SOURCES[4].filter((src) => !want.has(`${DENY_PORT} ${src}`)).length).toBeGreaterThan(5);
    expect([...(await deliveries())].sort()).toEqual([...want].sort());
  }, 60_000);

  test("an Allow behind the IPv6 prefilter: bad's members allowed through the jump (and no later rule sees them), every other IPv6 source denied by the next rule", async () => {
    expect(ALLOWED).not.toBe(YAML);
    const { ruleset, evaluator } = build(ALLOWED, { threshold: 0, rare: 0 });
    const script = renderScript(ruleset).text;
    expect(script).toContain("meta mark & 0x00010000 == 0x00010000 return");
    expect(script).toMatch(/-6f32 jump gnp-plen-in-r0-v6/);
    await loadNft(lab.host, script);
    const want = expected(evaluator);
    // Both ways on the deny port in IPv6: some sources allowed (bad's members), some denied.
    const v6 = SOURCES[6].map((src) => want.has(`${DENY_PORT} ${src}`));
    expect([v6.filter(Boolean).length > 3, v6.filter((x) => !x).length > 3]).toEqual([true, true]);
    expect([...(await deliveries())].sort()).toEqual([...want].sort());
  }, 60_000);

  test("the listing parser reads the per-length layout back (every golden, and this config)", async () => {
    const golden = join(import.meta.dir, "../golden");
    const cases = readdirSync(golden, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    expect(cases.length).toBeGreaterThanOrEqual(17);
    const rulesets: Array<[string, NftRuleset]> = [
      ["plen.yaml", build(YAML, { threshold: 0, rare: 0 }).ruleset],
      ["plen.yaml rare 2", build(YAML, { threshold: 0, rare: 2 }).ruleset],
      ["plen.yaml, bad's rule an Allow behind the prefilter", build(ALLOWED, { threshold: 0, rare: 0 }).ruleset],
    ];
    for (const name of cases) {
      const s = goldenSource(join(golden, name), { node: "jasper" });
      const built = buildRuleset({ files: s.files, node: s.node, addresses: s.addresses });
      if (!built.plan) throw new Error(`${name} does not compile`);
      rulesets.push([name, compileRuleset(built.plan, { perLength: { threshold: 0, rare: 0 }, interfaces: new Set() })]);
    }
    const differences: string[] = [];
    let masked = 0;
    for (const [name, compiled] of rulesets) {
      const script = renderScript(compiled).text;
      masked += script.split(" & ").length - 1;
      const load = await lab.host.exec(["nft", "-f", "-"], { stdin: script, timeoutMs: 20_000 });
      if (load.code !== 0) throw new Error(`${name}: nft -f: ${load.stderr}`);
      const list = await lab.host.exec(["nft", "-j", "list", "ruleset"], { timeoutMs: 20_000 });
      const parsed = parseRulesetJson(list.stdout);
      if (!parsed.ok) differences.push(`${name}: listing does not parse: ${parsed.error.path}: ${parsed.error.message}`);
      else {
        const d = firstDifference(normaliseRuleset(compiled), normaliseRuleset(parsed.listing.ruleset));
        if (d) differences.push(`${name}: ${d}`);
      }
    }
    expect(differences).toEqual([]);
    expect(masked).toBeGreaterThan(20); // masked lookups were there to read back
  }, 120_000);
});
