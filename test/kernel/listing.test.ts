/**
 * What the kernel holds is what was compiled (#12 item 2): every golden config (rules/, every
 * field kind, IPv4+IPv6 and IPv6 off, named ports, Log rules, failsafes, reject, untracked,
 * pre-DNAT and applyOnForward, fragments, the `*` endpoint, the guides) and a run of the
 * differential generator's configs are compiled, rendered, loaded with `nft -f` into a
 * namespace, listed back with `nft -j list ruleset`, parsed into IR (src/nft/listing.ts), and
 * compared with the compiled IR object by object after normaliseRuleset on both sides. The
 * first difference is reported with its table, chain and rule index. nft 1.0.6's JSON has no
 * device for netdev chains, so devices are compared in the text listing. Some goldens are also
 * compiled with drop summaries (dynamic sets fed by `update @set { ip saddr }`).
 *
 * Controls: a rendered script with one port changed, and one with a rule removed, are each
 * loaded and reported as a difference at the right chain and rule.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { NftRuleset } from "../../src/nft/ir.ts";
import { parseRulesetJson } from "../../src/nft/listing.ts";
import { firstDifference, normaliseRuleset } from "../../src/nft/listing-normalise.ts";
import { compileRuleset } from "../../src/nft/compile.ts";
import { renderScript } from "../../src/nft/render.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { goldenSource } from "../support/golden-source.ts";
import { NODE, scenario } from "./differential-gen.ts";
import { createNs, deleteNs, kernelTestGate, type Ns } from "./netns";

const GOLDEN = join(import.meta.dir, "../golden");
const NS = `hw-ls-${process.pid.toString(36)}`;
const DEVICES = ["eth0", "eth1", "eth2", "ens3", "enp0s1"];
const SEEDS = Array.from({ length: 40 }, (_, i) => 1 + i * 37);
const cases = readdirSync(GOLDEN, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

const enabled = await kernelTestGate();

function compileGolden(name: string, opts: { dropSummaries?: boolean } = {}): NftRuleset {
  const s = goldenSource(join(GOLDEN, name), { node: "jasper" });
  const built = buildRuleset({ files: s.files, node: s.node, addresses: s.addresses });
  if (!built.ruleset || !built.plan) throw new Error(`${name} does not compile`);
  return opts.dropSummaries ? compileRuleset(built.plan, { dropSummaries: true }) : built.ruleset;
}

function compileSeed(seed: number): NftRuleset {
  const built = buildRuleset({ files: [{ path: "differential.yaml", text: scenario(seed).yaml }], node: NODE });
  if (!built.ruleset) throw new Error(`seed ${seed} does not compile`);
  return built.ruleset;
}

/** netdev chain → device, from the compiled IR. */
function devicesOf(r: NftRuleset): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of r.tables) for (const c of t.chains) if (c.base?.device) out[c.name] = c.base.device;
  return out;
}

describe.skipIf(!enabled)("nft -j list ruleset parses back into the compiled IR", () => {
  let ns: Ns;

  beforeAll(async () => {
    await deleteNs(NS);
    ns = await createNs(NS);
    for (const [i, dev] of DEVICES.entries()) {
      const r = await ns.exec(["ip", "link", "add", dev, "type", "veth", "peer", "name", `ls-peer${i}`]);
      if (r.code !== 0) throw new Error(`ip link add ${dev}: ${r.stderr}`);
    }
  });
  afterAll(async () => {
    await ns?.close();
    await deleteNs(NS);
  });

  /** Loads `script`, lists the ruleset, and returns the first difference from `compiled` (undefined = equal). */
  async function roundTrip(compiled: NftRuleset, script = renderScript(compiled).text): Promise<string | undefined> {
    const load = await ns.exec(["nft", "-f", "-"], { stdin: script, timeoutMs: 20_000 });
    if (load.code !== 0) throw new Error(`nft -f: ${load.stderr}`);
    const list = await ns.exec(["nft", "-j", "list", "ruleset"], { timeoutMs: 20_000 });
    if (list.code !== 0) throw new Error(`nft -j list: ${list.stderr}`);
    const parsed = parseRulesetJson(list.stdout);
    if (!parsed.ok) return `listing does not parse: ${parsed.error.path}: ${parsed.error.message}`;
    const difference = firstDifference(normaliseRuleset(compiled), normaliseRuleset(parsed.listing.ruleset));
    if (difference) return difference;
    // Devices, from the text listing (`chain ingress-eth0 {` then `type filter hook ingress device "eth0" …`).
    const text = await ns.exec(["nft", "list", "table", "netdev", "hostwall"], { timeoutMs: 20_000 });
    const listed: Record<string, string> = {};
    for (const m of text.stdout.matchAll(/chain (\S+) \{\n\s*type filter hook ingress device "([^"]+)"/g)) listed[m[1]!] = m[2]!;
    const expected = devicesOf(compiled);
    return JSON.stringify(listed) === JSON.stringify(expected) ? undefined : `netdev devices ${JSON.stringify(listed)}, compiled ${JSON.stringify(expected)}`;
  }

  test("there are golden cases to compare", () => expect(cases.length).toBeGreaterThanOrEqual(17));

  for (const name of cases) {
    test(`golden ${name}`, async () => {
      expect(await roundTrip(compileGolden(name))).toBeUndefined();
    });
  }

  for (const name of ["example-rules", "deny-reject", "stages", "log-everywhere", "ipv6-disabled"]) {
    test(`golden ${name} with drop summaries (dynamic sets, set updates)`, async () => {
      expect(await roundTrip(compileGolden(name, { dropSummaries: true }))).toBeUndefined();
    });
  }

  test(`${SEEDS.length} differential-generator configs`, async () => {
    const differences: string[] = [];
    for (const seed of SEEDS) {
      const d = await roundTrip(compileSeed(seed));
      if (d) differences.push(`seed ${seed}: ${d}`);
    }
    expect(differences).toEqual([]);
  }, 120_000);

  test("control: a script with one port changed is a difference at that chain and rule", async () => {
    const compiled = compileGolden("ports");
    const script = renderScript(compiled).text;
    const changed = script.replace("th dport { 80, 443, 8000-8099 }", "th dport { 80, 444, 8000-8099 }");
    expect(changed).not.toBe(script);
    const chain = compiled.tables[1]!.chains.find((c) => c.rules.some((r) => r.comment === "gnp/ports/ingress/0"))!;
    const index = chain.rules.findIndex((r) => r.comment === "gnp/ports/ingress/0");
    expect(await roundTrip(compiled, changed)).toStartWith(`table inet hostwall chain ${chain.name} rule ${index}: `);
  });

  test("control: a script without one rule is a difference in that chain", async () => {
    const compiled = compileGolden("example-rules");
    const lines = renderScript(compiled).text.split("\n");
    const at = lines.findIndex((l) => l.includes('comment "conntrack invalid"'));
    expect(at).toBeGreaterThan(0);
    lines.splice(at, 1);
    expect(await roundTrip(compiled, lines.join("\n"))).toMatch(/^table inet hostwall chain \S+ rule \d+: /);
  });
});
