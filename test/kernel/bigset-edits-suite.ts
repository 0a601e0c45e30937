/**
 * Edits of a big GlobalNetworkSet file, applied by the running agent as deltas, are exact
 * (issue #13 items 2, 3, 6). The set (~60k entries, IPv4 and IPv6, hosts and prefixes of
 * several lengths, a few of rare lengths) is big enough for the per-prefix-length layout in
 * both families (names.ts PER_LENGTH_DEFAULTS: 4096 members) and its file is over 1 MiB, so
 * the parser's fast path (fast-yaml.ts FAST_PATH_BYTES), which the incremental edits rely on,
 * reads it. The example rules deny it in netdev ingress (rules/30-dos-mitigation.yaml).
 *
 * Each edit is renamed in (as editors save), then POST /reload makes sure it was taken. After
 * each: (a) the agent sent a delta, never a full replace, and no delta was refused (/status
 * nft counters); (b) the kernel holds exactly what a full replace of the same config gives:
 * `hostwall compile` of the config dir loaded into a second namespace, both listings parsed
 * (src/nft/listing.ts) and normalised (normaliseRuleset), compared with firstDifference;
 * (c) UDP frames to port 5353 (allowed by rules/40-allow-host-services.yaml) from the edited
 * addresses (203.0.113.0/24, 2001:db8:5::/48 ...: sources of raw frames, frames.ts, so any
 * address can be sent from) arrive or not as the edit says, each round closed by a sentinel
 * from the attacker's own address.
 *
 * Run for either nft backend: bigset-edits.test.ts (libnftables in-process; the first load is
 * staged: the big sets go in over netlink) and bigset-edits-spawn.test.ts (`run --nft
 * /usr/sbin/nft`: the spawned fallback, whose first load is the one whole script).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { FAST_PATH_BYTES } from "../../src/config/fast-yaml.ts";
import { firstDifference } from "../../src/nft/listing-normalise.ts";
import { fullReplaceListing, hostwallListing, makeConfigDir, REPO, startAgent, waitFor, writeConfig, type AgentHandle } from "./agent-harness";
import { frameProbe, sendFrames, udpFrame, type UdpListener } from "./frames";
import { createLab, createNs, deleteNs, kernelTestGate, sweepStaleLabs, type Lab } from "./lab";

const enabled = await kernelTestGate();
const FILE = "25-big.yaml";
const PORT = 5353;

/** mulberry32: the same set on every run. */
function prng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * The base list: in 10.0.0.0/8 and 2001:db8:8000::/33 (never sent from), hosts and /24 /26
 * /28 (/48 /64) prefixes, /20 and /56 of rare lengths (the interval set), plus the hosts the
 * probes send from.
 */
function baseEntries(): string[] {
  const r = prng(13);
  const v4 = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
  const in10 = () => (0x0a000000 | (r() & 0xffffff)) >>> 0;
  const hx = () => (r() & 0xffff).toString(16);
  const h3 = () => (0x8000 | (r() & 0x7fff)).toString(16);
  const out: string[] = [];
  for (let i = 0; i < 40_000; i++) out.push(v4(in10()));
  for (const len of [24, 26, 28]) for (let i = 0; i < 2500; i++) out.push(`${v4((in10() & (0xffffffff << (32 - len))) >>> 0)}/${len}`);
  for (let i = 0; i < 20; i++) out.push(`${v4((in10() & 0xfffff000) >>> 0)}/20`);
  for (let i = 0; i < 6000; i++) out.push(`2001:db8:${h3()}:${hx()}:${hx()}:${hx()}:${hx()}:${hx()}`);
  for (let i = 0; i < 1500; i++) out.push(`2001:db8:${h3()}:${hx()}::/64`);
  for (let i = 0; i < 500; i++) out.push(`2001:db8:${h3()}::/48`);
  for (let i = 0; i < 10; i++) out.push(`2001:db8:${h3()}:${(r() & 0xff00).toString(16)}::/56`);
  out.push("203.0.113.18", "203.0.113.24", "203.0.113.40", "203.0.113.60", "2001:db8:5::60");
  return out;
}

const fileText = (entries: readonly string[]) =>
  `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n${entries.map((e) => (e.startsWith("#") ? `    ${e}\n` : `    - ${e}\n`)).join("")}`;

interface Step {
  what: string;
  edit(entries: string[]): string[];
  /** Sources whose frames must be dropped / must arrive after the edit. */
  dropped: string[];
  passed: string[];
  /** An edit that changes nothing in the kernel (a duplicate): no delta needed. */
  noop?: boolean;
}

const without = (...xs: string[]) => (e: string[]) => {
  const out = [...e];
  for (const x of xs) {
    const i = out.lastIndexOf(x);
    if (i < 0) throw new Error(`test bug: ${x} is not in the list`);
    out.splice(i, 1);
  }
  return out;
};
const plus = (...xs: string[]) => (e: string[]) => [...e, ...xs];
/** `x` written in the middle of the file; a line starting with # is a comment line. */
const insertAt = (at: number, x: string) => (e: string[]) => [...e.slice(0, at), x, ...e.slice(at)];
const replace = (x: string, y: string) => (e: string[]) => e.map((v) => (v === x ? y : v));
const base = baseEntries();
// 100 out (98 of the list: IPv4 hosts and /24s; two probed hosts) and 100 in (98 hosts of 198.51.100.0/24, two probed hosts).
const out100 = [...base.slice(1000, 1049), ...base.slice(41_000, 41_049), "203.0.113.60", "2001:db8:5::60"];
// 64 /40s of 2001:db8:1000::/36-2001:db8:4f00::/40: no member, probe or lab address falls in them.
const forties = Array.from({ length: 64 }, (_, i) => `2001:db8:${(0x10 + i).toString(16)}00::/40`);
const base48 = base.filter((e) => e.endsWith("::/48"));
const in100 = [...Array.from({ length: 98 }, (_, i) => `198.51.100.${i + 1}`), "203.0.113.70", "2001:db8:5::70"];

const STEPS: Step[] = [
  { what: "an IPv4 host added", edit: plus("203.0.113.5"), dropped: ["203.0.113.5"], passed: ["203.0.113.6"] },
  { what: "the IPv4 host removed", edit: without("203.0.113.5"), dropped: [], passed: ["203.0.113.5"] },
  { what: "a prefix covering two hosts of the list added", edit: plus("203.0.113.16/28"), dropped: ["203.0.113.17", "203.0.113.18", "203.0.113.24", "203.0.113.31"], passed: ["203.0.113.32", "203.0.113.15"] },
  { what: "the covering prefix removed (its hosts stay)", edit: without("203.0.113.16/28"), dropped: ["203.0.113.18", "203.0.113.24"], passed: ["203.0.113.17", "203.0.113.31"] },
  { what: "a host next to one of the list added (a /31 when normalised)", edit: plus("203.0.113.41"), dropped: ["203.0.113.40", "203.0.113.41"], passed: ["203.0.113.39", "203.0.113.42"] },
  { what: "the adjacent host removed", edit: without("203.0.113.41"), dropped: ["203.0.113.40"], passed: ["203.0.113.41"] },
  { what: "an entry of the list duplicated", edit: plus("203.0.113.40"), dropped: ["203.0.113.40"], passed: ["203.0.113.41"], noop: true },
  { what: "one copy of the duplicate removed", edit: without("203.0.113.40"), dropped: ["203.0.113.40"], passed: ["203.0.113.41"], noop: true },
  { what: "a host of the list rewritten in place (one line changed)", edit: replace("203.0.113.24", "203.0.113.25"), dropped: ["203.0.113.25", "203.0.113.18"], passed: ["203.0.113.24"] },
  { what: "a host inserted in the middle of the file", edit: insertAt(20_000, "203.0.113.9"), dropped: ["203.0.113.9", "203.0.113.25"], passed: ["203.0.113.8"] },
  { what: "a comment line inserted in the middle of the file", edit: insertAt(30_000, "# ticket 42: the 203.0.113.9 host above"), dropped: ["203.0.113.9"], passed: ["203.0.113.8"], noop: true },
  { what: "the rewrite, the insertion and the comment undone", edit: (e) => replace("203.0.113.25", "203.0.113.24")(without("203.0.113.9", "# ticket 42: the 203.0.113.9 host above")(e)), dropped: ["203.0.113.24"], passed: ["203.0.113.9", "203.0.113.25"] },
  { what: "an IPv6 host and an IPv6 prefix added", edit: plus("2001:db8:5::5", "2001:db8:6::/48"), dropped: ["2001:db8:5::5", "2001:db8:6::1", "2001:db8:6:ffff::9"], passed: ["2001:db8:5::6", "2001:db8:7::1"] },
  { what: "the IPv6 host and prefix removed", edit: without("2001:db8:5::5", "2001:db8:6::/48"), dropped: ["2001:db8:5::60"], passed: ["2001:db8:5::5", "2001:db8:6::1"] },
  { what: "prefixes of lengths the list has not (/25, /40: its interval sets) added", edit: plus("203.0.113.128/25", "2001:db8:7700::/40"), dropped: ["203.0.113.200", "2001:db8:77ff::1"], passed: ["203.0.113.100", "2001:db8:7800::1"] },
  { what: "the rare-length prefixes removed", edit: without("203.0.113.128/25", "2001:db8:7700::/40"), dropped: [], passed: ["203.0.113.200", "2001:db8:77ff::1"] },
  // The IPv6 prefilter (docs/nft-layout.md): the base has three IPv6 hash lengths (/128 /64 /48) behind it.
  { what: "64 IPv6 /40s added: a fourth length behind the IPv6 prefilter (its chain rewritten, a new set)", edit: plus(...forties), dropped: ["2001:db8:1000::1", "2001:db8:4fff:ffff::9"], passed: ["2001:db8:5000::1"] },
  { what: "every /48 removed: three lengths still behind the prefilter, one set gone", edit: without(...base48), dropped: ["2001:db8:1000::1", "2001:db8:5::60"], passed: ["2001:db8:5000::1"] },
  { what: "the /40s removed too: two IPv6 lengths, the prefilter, its chain and the jump gone", edit: without(...forties), dropped: ["2001:db8:5::60"], passed: ["2001:db8:1000::1"] },
  { what: "the /48s and /40s back: the prefilter made again, filled in the same transaction", edit: plus(...base48, ...forties), dropped: ["2001:db8:1000::1", "2001:db8:5::60"], passed: ["2001:db8:5000::1"] },
  { what: "the /40s removed again: the base's three lengths", edit: without(...forties), dropped: ["2001:db8:5::60"], passed: ["2001:db8:1000::1"] },
  { what: "100 out and 100 in, one edit", edit: (e) => plus(...in100)(without(...out100)(e)), dropped: ["203.0.113.70", "2001:db8:5::70", "198.51.100.50"], passed: ["203.0.113.60", "2001:db8:5::60"] },
  { what: "the 100 + 100 undone", edit: (e) => plus(...out100)(without(...in100)(e)), dropped: ["203.0.113.60", "2001:db8:5::60"], passed: ["203.0.113.70", "2001:db8:5::70", "198.51.100.50"] },
];

export function bigsetEditsSuite(backend: "libnftables" | "spawn"): void {
  const TAG = `hw-bse${backend === "spawn" ? "s" : "l"}-${process.pid.toString(36)}`;
  const NFT = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].find((p) => existsSync(p)) ?? "/usr/sbin/nft";
  describe.skipIf(!enabled)(`big-set file edits, applied as deltas (${backend}), equal a full replace`, () => {
    let lab: Lab;
    let agent: AgentHandle;
    let configDir: string;
    let listener: UdpListener;
    let entries = [...base];
    let round = 0;
    let mac = { host: "", attacker: "" };
    const refNs = `${TAG}-ref`;

    beforeAll(async () => {
      await sweepStaleLabs(TAG.slice(0, TAG.lastIndexOf("-") + 1));
      lab = await createLab({ tag: TAG });
      // Marked as this run's (createNs), so another run's sweep of stale labs leaves it alone.
      await createNs(refNs);
      ({ mac, listener } = await frameProbe(lab, PORT));
      configDir = makeConfigDir(join(REPO, "rules"));
      unlinkSync(join(configDir, "20-dos-deny-list.yaml")); // denies 203.0.113.0/24, which the edits use
      writeConfig(configDir, FILE, fileText(entries));
      agent = startAgent(lab.host, { configDir, extraArgs: backend === "spawn" ? ["--nft", NFT] : [] });
      await waitFor("the first apply (/readyz 200)", async () => (await agent.get("/readyz"))?.status === 200, 30_000).catch((e: Error) => {
        throw new Error(`${e.message}; agent log:\n${agent.log()}`);
      });
    }, 60_000);

    afterAll(async () => {
      await lab?.destroy();
      await deleteNs(refNs).catch(() => undefined);
    });

    /** The hostwall tables of a namespace, as IR, normalised (a delta's stamp counter is not part of it). */
    const listing = hostwallListing;
    /** What the kernel holds after a full replace of the config dir: the compiled script loaded into refNs. */
    const reference = () => fullReplaceListing(configDir, refNs);

    /** Frames from every source, then a sentinel from the attacker's own addresses: which sources arrived. */
    async function arrivals(sources: string[]): Promise<Set<string>> {
      round++;
      const frame = (src: string) => {
        const v6 = src.includes(":");
        return udpFrame({ dstMac: mac.host, srcMac: mac.attacker, src, dst: v6 ? lab.addr.host.v6 : lab.addr.host.v4, srcPort: 40000 + round, dstPort: PORT, payload: `${round} ${src}` });
      };
      const sentinels = [lab.addr.attacker.v4, lab.addr.attacker.v6];
      await sendFrames(lab.attacker, "eth0", [...sources, ...sentinels].map(frame));
      for (const s of sentinels) await listener.waitFor(`${round} ${s}`, 5000);
      await Bun.sleep(50);
      return new Set(listener.received.filter((d) => d.data.startsWith(`${round} `)).map((d) => d.data.slice(`${round} `.length)));
    }

    async function expectVerdicts(what: string, dropped: string[], passed: string[]): Promise<void> {
      const got = await arrivals([...dropped, ...passed]);
      const wrong = [...dropped.filter((s) => got.has(s)).map((s) => `${s} arrived (should be dropped)`), ...passed.filter((s) => !got.has(s)).map((s) => `${s} was dropped (should arrive)`)];
      expect({ what, wrong }).toEqual({ what, wrong: [] });
    }

    test("the set takes the per-length layout in both families, from a file the fast path reads; verdicts of the base list", async () => {
      expect(statSync(join(configDir, FILE)).size).toBeGreaterThanOrEqual(FAST_PATH_BYTES);
      const sets = (await listing(lab.host.name)).tables.flatMap((t) => t.sets.map((s) => s.name));
      expect(sets.filter((n) => /^sel-[a-z2-7]+-4l32$/.test(n))).toHaveLength(1);
      expect(sets.filter((n) => /^sel-[a-z2-7]+-6l128$/.test(n))).toHaveLength(1);
      expect(sets.filter((n) => /^sel-[a-z2-7]+-[46]r$/.test(n))).toHaveLength(2);
      expect(sets.filter((n) => /^sel-[a-z2-7]+-6f32$/.test(n))).toHaveLength(1); // /128 /64 /48 behind the IPv6 prefilter
      expect((await agent.status()).nft).toMatchObject({ backend, fullApplies: 1, deltasRejected: 0 });
      // The first load: with netlink (libnftables; `--nft PATH` names the binary to use, so the
      // spawn run sends the whole script) the 40,000-host set goes in staged (agent/apply.ts
      // stagedLoad); either way the kernel holds exactly what a full replace gives.
      expect(/elements of \d+ big set\(s\) loaded over netlink first/.test(agent.log())).toBe(backend === "libnftables");
      expect(firstDifference(await reference(), await listing(lab.host.name))).toBeUndefined();
      await expectVerdicts("base", ["203.0.113.18", "203.0.113.24", "203.0.113.40", "203.0.113.60", "2001:db8:5::60"], ["203.0.113.5", "2001:db8:5::5"]);
    });

    for (const step of STEPS) {
      test(`${step.what}: a delta, the kernel equals a full replace, packets agree`, async () => {
        const before = (await agent.status()).nft;
        entries = step.edit(entries);
        writeConfig(configDir, FILE, fileText(entries));
        const t0 = performance.now();
        const expectedP = reference(); // of the files alone: built while the agent applies
        expectedP.catch(() => undefined); // awaited below; not unhandled if the reload throws first
        await agent.reload(); // returns once the edit (and anything the watcher started) is applied
        const applied = performance.now() - t0;
        const after = (await agent.status()).nft;
        expect({ what: step.what, full: after.fullApplies, rejected: after.deltasRejected }).toEqual({ what: step.what, full: before.fullApplies, rejected: before.deltasRejected });
        if (!step.noop) expect(after.deltas).toBeGreaterThan(before.deltas);
        const [actual, expected] = await Promise.all([listing(lab.host.name), expectedP]);
        expect({ what: step.what, difference: firstDifference(expected, actual) }).toEqual({ what: step.what, difference: undefined });
        const checked = performance.now() - t0;
        await expectVerdicts(step.what, step.dropped, step.passed);
        console.log(`${step.what}: applied ${applied.toFixed(0)} ms, listings compared ${(checked - applied).toFixed(0)} ms, packets ${(performance.now() - t0 - checked).toFixed(0)} ms`);
      }, 30_000);
    }
  });
}
