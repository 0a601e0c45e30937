/**
 * Issue #13 item 3: which layout for a 1M-entry deny list of mixed prefixes (IPv4 and IPv6)?
 * Measured side by side in one run, in namespaces of its own:
 *
 *   iv    today's layout: hosts in hash sets, prefixes normalised into interval sets (h4 p4 h6 p6)
 *   plen  one hash set per prefix length present, matched as `ip saddr & mask @p4_<len>`
 *         (/32 and /128 as plain lookups); holds the entries as written, no normalisation
 *   am    the goal's baseline: one auto-merge interval set per family of the raw entries
 *
 * Loads: nft -f of each (spawned), and the iv/plen elements sent over netlink directly
 * (bench/netlink-setelem.ts: NEWSETELEM batches, no nft). Edits at full size: one /26 added
 * and removed, and 10k removed + 10k added in one transaction, each through nft (hash sets:
 * nft fetches nothing) or netlink (interval sets: nft would download the whole set first,
 * shown on a set of count/10 entries). Each edit is then proven by packets from 198.51.100.129.
 * Per-packet drop cost in a netdev ingress hook: a 1-entry hash set (d0), iv (d1), plen (d2),
 * plen pre (d3, what the agent writes: plen with the IPv6 lengths of /32 or longer behind one
 * lookup of the /32s they fall in, nft/names.ts PREFILTER, jumping to their chain on a hit),
 * blasted in interleaved rounds (bench/blast.ts), for a /32 hit, a /24 hit, an IPv4 and an
 * IPv6 miss (every set rule passed, then a plain compare drops).
 *
 * Usage: bun bench/sets.bench.ts [--count=N] [--rounds=R] [--ms=MS] [--smoke] [--quick]
 *   --smoke: 2,000 entries, 1 round of 100 ms: checks the bench still runs (CI), no figures to read
 *   --quick: without the auto-merge load and nft's edits (minutes at 1M: nft downloads every
 *            interval set in the namespace first, even to add to a hash set)
 */
import { $ } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatCidr, makeCidr, splitHosts, type Cidr } from "../src/model/cidr.ts";
import { normalizeCidrs } from "../src/model/cidr-normalize.ts";
import { encodeOps } from "./netlink-setelem.ts";
import { PREFILTER } from "../src/nft/names.ts";
import { addrText, blastOnce, chainBlock, cidrBytes, editEntries, generate, makeLab, maskText, median, MISS_RULES, plenMatch, plenSet, setBlock, type Lab } from "./sets-lab.ts";

const flag = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const smoke = process.argv.includes("--smoke");
/** Skips what takes minutes at 1M (the auto-merge load, nft's edits that download every interval set). */
const quick = process.argv.includes("--quick");
const count = flag("count", smoke ? 2000 : 1_000_000);
const rounds = flag("rounds", smoke ? 1 : 7);
const blastMs = flag("ms", smoke ? 100 : 400);
const editCount = Math.min(10_000, Math.floor(count / 10));
/** The edits' probe source: in the /26 they add and remove, a test address of every sender (sets-lab.ts). */
const PROBE = "198.51.100.129";
const BUN = process.execPath;
const NETLINK = join(import.meta.dir, "netlink-setelem.ts");
const dir = mkdtempSync(join(tmpdir(), "hw-sets-bench-"));
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const line = (label: string, value: string, extra = "") => console.log(`  ${label.padEnd(44)} ${value.padStart(10)}${extra ? "  " + extra : ""}`);

async function timed(cmd: string[]): Promise<{ ms: number; rssMB: number; out: string }> {
  const t = performance.now();
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed (${code}): ${err.slice(0, 1500)}`);
  return { ms: performance.now() - t, rssMB: (p.resourceUsage()?.maxRSS ?? 0) / 1048576, out };
}

let fileNo = 0;
function file(text: string | Uint8Array): string {
  const f = join(dir, `f${fileNo++}`);
  writeFileSync(f, text);
  return f;
}
const nftFile = (lab: Lab, text: string) => timed(lab.inDut(["nft", "-f", file(text)]));
/** Sends element ops over netlink from a child in the receiver's namespace; its own timings too. */
async function netlink(lab: Lab, table: string, sets: string[], ops: Parameters<typeof encodeOps>[1]) {
  const r = await timed(lab.inDut([BUN, NETLINK, "netdev", table, file(encodeOps(sets, ops))]));
  return { ...r, child: JSON.parse(r.out) as { kernelMs: number; encodeMs: number; messages: number; bytes: number } };
}

/**
 * Packets that got past the ingress hooks into the receiver's IP stack (Ip InReceives +
 * Ip6InReceives of its namespace). Not nft: listing a chain that uses a 1M interval set makes
 * nft 1.0.6 download the set first (a minute), and so does any element edit through nft.
 */
async function passed(lab: Lab): Promise<{ v4: number; v6: number }> {
  const snmp = await $`ip netns exec ${lab.dut} cat /proc/net/snmp /proc/net/snmp6`.text();
  const ip = snmp.split("\n").filter((l) => l.startsWith("Ip:"));
  return { v4: Number(ip[1]!.split(" ")[ip[0]!.split(" ").indexOf("InReceives")]), v6: Number(snmp.match(/^Ip6InReceives\s+(\d+)/m)![1]) };
}
/** True when packets from 198.51.100.129 (in the edits' /26) on veth `dev` are all dropped in the ingress hook. */
async function enforced(lab: Lab, dev: number): Promise<boolean> {
  const before = (await passed(lab)).v4;
  const { sent } = await blastOnce(lab, dev, PROBE, 30);
  const through = (await passed(lab)).v4 - before;
  if (through > 0 && through < sent) throw new Error(`${through} of ${sent} packets got through: neither enforced nor not`);
  return through === 0;
}

const lab = await makeLab(`hw-h6-${process.pid.toString(36)}`, 4);
try {
  const t0 = performance.now();
  const raw = generate(count);
  const seen = new Set<string>();
  const entries = raw.filter((c) => !seen.has(formatCidr(c)) && seen.add(formatCidr(c)));
  const norm = normalizeCidrs(entries);
  const v4 = splitHosts(norm.filter((c) => c.family === 4));
  const v6 = splitHosts(norm.filter((c) => c.family === 6));
  const byLen = new Map<string, { family: 4 | 6; prefix: number; items: string[] }>();
  for (const c of entries) {
    const k = plenSet(c.family, c.prefix);
    if (!byLen.has(k)) byLen.set(k, { family: c.family, prefix: c.prefix, items: [] });
    byLen.get(k)!.items.push(addrText(c));
  }
  const lens = [...byLen.values()].sort((a, b) => a.family - b.family || b.prefix - a.prefix);
  console.log(`sets bench: ${entries.length} entries (${entries.filter((c) => c.family === 6).length} IPv6) → normalised ${v4.hosts.length + v6.hosts.length} hosts + ${v4.prefixes.length + v6.prefixes.length} prefixes; ${lens.length} prefix lengths present (${lens.map((l) => `${l.family === 4 ? "" : "v6 "}/${l.prefix}`).join(" ")}); generated in ${fmt(performance.now() - t0)}`);

  // The tables. The set rules carry counters; every layout ends with the miss rules.
  const ivRules = `ip saddr @h4 counter drop\nip saddr @p4 counter drop\nip6 saddr @h6 counter drop\nip6 saddr @p6 counter drop\n${MISS_RULES}`;
  const ivText = (name: string, dev: string | undefined, withElements: boolean) =>
    `table netdev ${name} {\n${setBlock("h4", 4, false, withElements ? v4.hosts.map(formatCidr) : [])}${setBlock("p4", 4, true, withElements ? v4.prefixes.map(formatCidr) : [])}${setBlock("h6", 6, false, withElements ? v6.hosts.map(formatCidr) : [])}${setBlock("p6", 6, true, withElements ? v6.prefixes.map(formatCidr) : [])}${chainBlock(dev, ivRules)}}\n`;
  const plenRules = lens.map((l) => `${plenMatch(l.family, l.prefix)} counter drop\n`).join("") + MISS_RULES;
  const plenText = (name: string, dev: string | undefined, withElements: boolean) =>
    `table netdev ${name} {\n${lens.map((l) => setBlock(plenSet(l.family, l.prefix), l.family, false, withElements ? l.items : [])).join("")}${chainBlock(dev, plenRules)}}\n`;
  // plen as the agent writes it: the IPv6 lengths of /32 or longer (three or more) behind one lookup of the /32s they fall in.
  const behind = lens.filter((l) => l.family === 6 && l.prefix >= PREFILTER.length);
  if (behind.length < PREFILTER.minLookups) throw new Error(`the list has ${behind.length} IPv6 lengths of /${PREFILTER.length} or longer: no prefilter to measure`);
  const pre6 = [...new Set(entries.filter((c) => c.family === 6 && c.prefix >= PREFILTER.length).map((c) => addrText(makeCidr(6, PREFILTER.length, c.a0))))];
  const preRules = lens.filter((l) => !behind.includes(l)).map((l) => `${plenMatch(l.family, l.prefix)} counter drop\n`).join("");
  const preText = (name: string, dev: string) =>
    `table netdev ${name} {\n${lens.map((l) => setBlock(plenSet(l.family, l.prefix), l.family, false, l.items)).join("")}${setBlock("pre6", 6, false, pre6)}chain v6 {\n${behind.map((l) => `${plenMatch(6, l.prefix)} counter drop\n`).join("")}}\n${chainBlock(dev, `${preRules}ip6 saddr & ${maskText(6, PREFILTER.length)} @pre6 jump v6\n${MISS_RULES}`)}}\n`;
  const amText = `table netdev am {\n${setBlock("a4", 4, true, entries.filter((c) => c.family === 4).map(formatCidr), " auto-merge;")}${setBlock("a6", 6, true, entries.filter((c) => c.family === 6).map(formatCidr), " auto-merge;")}${chainBlock(undefined, "ip saddr @a4 drop\nip6 saddr @a6 drop\n")}}\n`;
  const baseText = `table netdev base {\n${setBlock("b4", 4, false, ["192.0.2.1", "203.0.113.1"])}${setBlock("b6", 6, false, ["2001:db8:ffff::1"])}${chainBlock("d0", `ip saddr @b4 counter drop\nip6 saddr @b6 counter drop\n${MISS_RULES}`)}}\n`;
  await nftFile(lab, baseText);

  console.log(`\nload (${entries.length} entries; nft peak RSS; netlink: skeleton by nft -f, elements by one batch)`);
  const am = quick ? { ms: NaN, rssMB: NaN } : await nftFile(lab, amText);
  if (!quick) await $`ip netns exec ${lab.dut} nft delete table netdev am`.quiet();
  line("am   nft -f auto-merge interval (goal base)", fmt(am.ms), `peak ${am.rssMB.toFixed(0)} MB`);
  const ivLoad = await nftFile(lab, ivText("iv", "d1", true));
  line("iv   nft -f hash + interval (today)", fmt(ivLoad.ms), `${(ivLoad.ms / am.ms).toFixed(2)} x am, peak ${ivLoad.rssMB.toFixed(0)} MB`);
  const plLoad = await nftFile(lab, plenText("plen", "d2", true));
  line("plen nft -f per-length hash sets", fmt(plLoad.ms), `${(plLoad.ms / am.ms).toFixed(2)} x am, peak ${plLoad.rssMB.toFixed(0)} MB`);
  await nftFile(lab, preText("pre", "d3"));
  const sk1 = await nftFile(lab, ivText("ivnl", undefined, false));
  const ivNl = await netlink(lab, "ivnl", ["h4", "p4", "h6", "p6"], norm.map((c) => ({ del: false, set: (c.family === 4 ? 0 : 2) + (c.prefix === (c.family === 4 ? 32 : 128) ? 0 : 1), interval: c.prefix !== (c.family === 4 ? 32 : 128), prefix: c.prefix, addr: cidrBytes(c) })));
  line("iv   netlink (skeleton + elements)", fmt(sk1.ms + ivNl.ms), `${((sk1.ms + ivNl.ms) / am.ms).toFixed(2)} x am, kernel ${fmt(ivNl.child.kernelMs)}, ${ivNl.child.messages} msgs, child peak ${ivNl.rssMB.toFixed(0)} MB`);
  await $`ip netns exec ${lab.dut} nft delete table netdev ivnl`.quiet();
  const plNames = lens.map((l) => plenSet(l.family, l.prefix));
  const sk2 = await nftFile(lab, plenText("plnl", undefined, false));
  const plNl = await netlink(lab, "plnl", plNames, entries.map((c) => ({ del: false, set: plNames.indexOf(plenSet(c.family, c.prefix)), interval: false, prefix: c.prefix, addr: cidrBytes(c) })));
  line("plen netlink (skeleton + elements)", fmt(sk2.ms + plNl.ms), `${((sk2.ms + plNl.ms) / am.ms).toFixed(2)} x am, kernel ${fmt(plNl.child.kernelMs)}, ${plNl.child.messages} msgs`);
  await $`ip netns exec ${lab.dut} nft delete table netdev plnl`.quiet();

  // Edits at full size, each proven by packets from PROBE (in 198.51.100.128/26).
  console.log(`\nedits of the ${entries.length}-entry sets (spawned nft ≈ 16 ms of it is the process; netlink: child wall / kernel part)`);
  const one = makeCidr(4, 26, 0xc6336480);
  const ivOp = (c: Cidr, del: boolean) => ({ del, set: c.prefix === 32 ? 0 : 1, interval: c.prefix !== 32, prefix: c.prefix, addr: cidrBytes(c) });
  const report = async (label: string, ms: number, dev: number, _table: string, want: boolean, extra = "") => line(label, fmt(ms), `${extra}${(await enforced(lab, dev)) === want ? "" : "  NOT ENFORCED"}`);
  let r: { ms: number; rssMB: number };
  if (!quick) {
    r = await nftFile(lab, `add element netdev plen ${plenSet(4, 26)} { 198.51.100.128 }\n`);
    await report("plen nft -f add one /26", r.ms, 2, "plen", true, `peak ${r.rssMB.toFixed(0)} MB`);
    r = await nftFile(lab, `delete element netdev plen ${plenSet(4, 26)} { 198.51.100.128 }\n`);
    await report("plen nft -f delete it", r.ms, 2, "plen", false);
  }
  const p4sets = [24, 26, 28, 30, 32, 22].map((p) => plenSet(4, p));
  const plOp = (c: Cidr, del: boolean) => ({ del, set: p4sets.indexOf(plenSet(4, c.prefix)), interval: false, prefix: c.prefix, addr: cidrBytes(c) });
  let n = await netlink(lab, "plen", p4sets, [plOp(one, false)]);
  await report("plen netlink add one /26", n.ms, 2, "plen", true, `kernel ${fmt(n.child.kernelMs)}`);
  n = await netlink(lab, "plen", p4sets, [plOp(one, true)]);
  await report("plen netlink delete it", n.ms, 2, "plen", false, `kernel ${fmt(n.child.kernelMs)}`);
  n = await netlink(lab, "iv", ["h4", "p4"], [ivOp(one, false)]);
  await report("iv   netlink add one /26", n.ms, 1, "iv", true, `kernel ${fmt(n.child.kernelMs)}`);
  n = await netlink(lab, "iv", ["h4", "p4"], [ivOp(one, true)]);
  await report("iv   netlink delete it", n.ms, 1, "iv", false, `kernel ${fmt(n.child.kernelMs)}`);

  // 10k out, 10k in: out are normalised v4 entries that are also raw (same in both layouts), in are new.
  const rawText = new Set(entries.map(formatCidr));
  const out = [...v4.hosts, ...v4.prefixes].filter((c) => rawText.has(formatCidr(c)) && c.a0 >>> 8 !== 0xc00002 && c.a0 >>> 8 !== 0xcb0071 && p4sets.includes(plenSet(4, c.prefix))).filter((_, i) => i % 7 === 3).slice(0, editCount);
  const inn = [one, ...editEntries(editCount - 1, 2)];
  const plenEdit = (del: Cidr[], add: Cidr[]) => {
    const group = (cs: Cidr[], verb: string) => p4sets.map((s) => [s, cs.filter((c) => plenSet(4, c.prefix) === s).map(addrText)] as const).filter(([, xs]) => xs.length).map(([s, xs]) => `${verb} element netdev plen ${s} {\n${xs.join(",\n")}\n}\n`).join("");
    return group(del, "delete") + group(add, "add");
  };
  if (!quick) {
    r = await nftFile(lab, plenEdit(out, inn));
    await report(`plen nft -f ${out.length} out + ${inn.length} in`, r.ms, 2, "plen", true);
    r = await nftFile(lab, plenEdit(inn, out));
    await report("plen nft -f and back", r.ms, 2, "plen", false);
  }
  n = await netlink(lab, "plen", p4sets, [...out.map((c) => plOp(c, true)), ...inn.map((c) => plOp(c, false))]);
  await report(`plen netlink ${out.length} out + ${inn.length} in`, n.ms, 2, "plen", true, `kernel ${fmt(n.child.kernelMs)}`);
  n = await netlink(lab, "plen", p4sets, [...inn.map((c) => plOp(c, true)), ...out.map((c) => plOp(c, false))]);
  await report("plen netlink and back", n.ms, 2, "plen", false, `kernel ${fmt(n.child.kernelMs)}`);
  n = await netlink(lab, "iv", ["h4", "p4"], [...out.map((c) => ivOp(c, true)), ...inn.map((c) => ivOp(c, false))]);
  await report(`iv   netlink ${out.length} out + ${inn.length} in`, n.ms, 1, "iv", true, `kernel ${fmt(n.child.kernelMs)}`);
  n = await netlink(lab, "iv", ["h4", "p4"], [...inn.map((c) => ivOp(c, true)), ...out.map((c) => ivOp(c, false))]);
  await report("iv   netlink and back", n.ms, 1, "iv", false, `kernel ${fmt(n.child.kernelMs)}`);

  // What nft does with interval sets: every one in the namespace downloaded first, even for a hash set's edit.
  if (!quick) {
  const tenth = norm.filter((c) => c.family === 4 && c.prefix < 32).filter((_, i) => i % 10 === 0);
  await nftFile(lab, `table netdev dl {\n${setBlock("p", 4, true, tenth.map(formatCidr))}${setBlock("h", 4, false, v4.hosts.filter((_, i) => i % 10 === 0).map(formatCidr))}}\n`);
  const dlIv = await nftFile(lab, "add element netdev dl p { 10.0.4.0/24 }\n");
  const dlH = await nftFile(lab, "add element netdev dl h { 10.0.4.1 }\n");
  line(`nft add element, interval set of ${tenth.length}`, fmt(dlIv.ms), `into a hash set beside it: ${fmt(dlH.ms)} (nft downloads every interval set, iv's too; ${dlIv.rssMB.toFixed(0)} MB peak)`);
  await $`ip netns exec ${lab.dut} nft delete table netdev dl`.quiet();
  }

  // Per-packet cost, interleaved rounds.
  console.log(`\nper-packet drop cost in netdev ingress (whole path incl. the sender), median of ${rounds} interleaved rounds of ${blastMs} ms`);
  const sources = [
    ["/32 hit", "192.0.2.1"],
    ["/24 hit", "203.0.113.1"],
    ["IPv4 miss", "198.51.100.1"],
    ["IPv6 miss", "2001:db8::1"],
  ] as const;
  const layouts = [["1-entry hash", 0], ["iv", 1], ["plen", 2], ["plen pre", 3]] as const;
  const cost = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  const before = await passed(lab);
  for (let round = 0; round < rounds; round++) {
    for (const [label, src] of sources) {
      for (const [name, dev] of layouts) {
        const b = await blastOnce(lab, dev, src, blastMs);
        const k = `${label}|${name}`;
        cost.set(k, [...(cost.get(k) ?? []), b.usPerPacket]);
        cpu.set(k, [...(cpu.get(k) ?? []), b.cpuUsPerPacket]);
      }
    }
  }
  for (const [what, m] of [["wall µs/packet (1 / rate)", cost], ["sender CPU µs/packet (hook included: veth receives in the sender's context)", cpu]] as const) {
    console.log(` ${what}`);
    for (const [label] of sources) {
      const base = median(m.get(`${label}|1-entry hash`)!);
      console.log(`  ${label.padEnd(10)} 1-entry hash ${base.toFixed(3)}   ` + layouts.slice(1).map(([name]) => { const v = median(m.get(`${label}|${name}`)!); return `${name} ${v.toFixed(3)} = ${(v / base).toFixed(2)} x (${v >= base ? "+" : ""}${(v - base).toFixed(3)})`; }).join("   "));
    }
  }
  const after = await passed(lab);
  // IPv6: the senders' own neighbour discovery and MLD reach the receiver's stack (a few dozen).
  if (after.v4 > before.v4 || after.v6 - before.v6 > 200) console.log(`  WARNING: ${after.v4 - before.v4} IPv4 and ${after.v6 - before.v6} IPv6 packets got past the ingress hooks (all should have been dropped there)`);
} finally {
  await lab.close();
  rmSync(dir, { recursive: true, force: true });
}
