/**
 * Issue #14 item 5: what a drop summary costs per dropped packet, against a plain drop, under
 * a UDP flood (bench/blast.ts, sendmmsg). Side by side in one receiver namespace, one veth per
 * layout, rounds interleaved (the machine is shared: ratios inside one run are what to read):
 *
 *   nd-plain   netdev ingress (an untracked Deny):  meta l4proto udp counter drop
 *   nd-sum     netdev ingress, drop summary:        meta l4proto udp counter goto nd-drop
 *   in-plain   inet filter input (a normal Deny):   ct state established,related accept; iifname … udp counter drop
 *   in-sum     inet filter input, drop summary:     … counter goto in-drop
 *
 * The drop chains are what the compiler writes (table-builder.ts summarisedDeny): per family
 * `meta nfproto|protocol <f> update @<set> { ip saddr } drop`, then a plain `drop` (reached
 * when the set is full and the address is not in it: the kernel's update fails, NFT_BREAK).
 * The sets are the compiler's: size 256, flags dynamic,timeout, timeout 600s, counter.
 *
 * Then the bound: 300 more source addresses flood both summary layouts; each set must hold
 * exactly 256 elements, the rule's counter must equal the elements' counters plus the plain
 * drop's, and no datagram may reach the receiver's UDP layer. Last, rounds from an address that
 * is not in the full set (the attack case: a new source every packet lands here).
 *
 * Usage: bun bench/drops.bench.ts [--rounds=R] [--ms=MS] [--smoke]   (root; namespaces hw-h8d-*)
 * Inside a sender (used by the bench): bun bench/drops.bench.ts --many <dst> <ms-each> <src>...
 */
import { $ } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blast } from "./blast.ts";
import { blastOnce, makeLab, median, type Lab } from "./sets-lab.ts";

const flag = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const smoke = process.argv.includes("--smoke");
const rounds = flag("rounds", smoke ? 1 : 11);
const blastMs = flag("ms", smoke ? 100 : 400);
const SIZE = 256;
const EXTRA_SOURCES = 300;

/**
 * The bound's extra sources: test addresses only, none a round's source (.1), a new source
 * (.129) or a receiver's (.2): .10-.109 of each test /24.
 */
const EXTRA: string[] = ["192.0.2", "198.51.100", "203.0.113"].flatMap((net) => Array.from({ length: EXTRA_SOURCES / 3 }, (_, i) => `${net}.${10 + i}`));

if (process.argv[2] === "--many") {
  // In a sender's namespace: one short blast from each address.
  const [dst, ms, ...sources] = process.argv.slice(3);
  let sent = 0;
  for (const src of sources) sent += blast(src, dst!, Number(ms)).sent;
  console.log(sent);
  process.exit(0);
}

const dynSet = (name: string, type: string) => `\tset ${name} {\n\t\ttype ${type}\n\t\tsize ${SIZE}\n\t\tflags dynamic,timeout\n\t\ttimeout 600s\n\t\tcounter\n\t}\n`;
/** The compiler's drop chain: update the family's set and drop; a plain drop when the update fails. */
const dropChain = (name: string, pin: "meta protocol" | "meta nfproto", sets: string) =>
  `\tchain ${name} {\n\t\t${pin} ${pin === "meta protocol" ? "ip" : "ipv4"} update @${sets}-4 { ip saddr } drop\n\t\t${pin} ${pin === "meta protocol" ? "ip6" : "ipv6"} update @${sets}-6 { ip6 saddr } drop\n\t\tcounter drop\n\t}\n`;

const RULESET = [
  "table netdev hw-bench {",
  dynSet("nd-4", "ipv4_addr"),
  dynSet("nd-6", "ipv6_addr"),
  `\tchain plain {\n\t\ttype filter hook ingress device "d0" priority -500; policy accept;\n\t\tmeta l4proto udp counter drop\n\t}`,
  `\tchain sum {\n\t\ttype filter hook ingress device "d1" priority -500; policy accept;\n\t\tmeta l4proto udp counter goto nd-drop\n\t}`,
  dropChain("nd-drop", "meta protocol", "nd"),
  "}",
  "table inet hw-bench {",
  dynSet("in-4", "ipv4_addr"),
  dynSet("in-6", "ipv6_addr"),
  "\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tct state established,related accept",
  '\t\tiifname "d2" meta l4proto udp counter drop',
  '\t\tiifname "d3" meta l4proto udp counter goto in-drop\n\t}',
  dropChain("in-drop", "meta nfproto", "in"),
  "}",
].join("\n");

interface Layout {
  name: string;
  sender: number;
  src: string;
}
const LAYOUTS: Layout[] = [
  { name: "nd-plain", sender: 0, src: "192.0.2.1" },
  { name: "nd-sum", sender: 1, src: "192.0.2.1" },
  { name: "in-plain", sender: 2, src: "198.51.100.1" },
  { name: "in-sum", sender: 3, src: "203.0.113.1" },
];
/** After the sets are full: a source that is not in them. */
const FULL: Layout[] = [
  { name: "nd-sum, set full, new source", sender: 1, src: "192.0.2.129" },
  { name: "in-sum, set full, new source", sender: 3, src: "203.0.113.129" },
];

async function roundsOf(lab: Lab, layouts: Layout[]): Promise<Map<string, { cpu: number[]; wall: number[] }>> {
  const out = new Map(layouts.map((l) => [l.name, { cpu: [] as number[], wall: [] as number[] }]));
  for (let r = 0; r < rounds; r++) {
    // Rotated order, so no layout always runs first.
    for (let k = 0; k < layouts.length; k++) {
      const l = layouts[(r + k) % layouts.length]!;
      const b = await blastOnce(lab, l.sender, l.src, blastMs);
      out.get(l.name)!.cpu.push(b.cpuUsPerPacket);
      out.get(l.name)!.wall.push(b.usPerPacket);
    }
  }
  return out;
}

async function nftJson(lab: Lab, ...args: string[]): Promise<{ nftables: Record<string, any>[] }> {
  return JSON.parse(await $`ip netns exec ${lab.dut} nft -j ${args}`.text());
}
/** Elements and the sum of their packet counters. */
async function setState(lab: Lab, family: string, set: string): Promise<{ elements: number; packets: number }> {
  const doc = await nftJson(lab, "list", "set", family, "hw-bench", set);
  const elem = (doc.nftables.find((o) => o.set)!.set.elem ?? []) as { elem: { counter: { packets: number } } }[];
  return { elements: elem.length, packets: elem.reduce((n, e) => n + e.elem.counter.packets, 0) };
}
/** Counter packets of each rule of a chain, in order (rules without a counter: 0). */
async function chainCounters(lab: Lab, family: string, chain: string): Promise<number[]> {
  const doc = await nftJson(lab, "list", "chain", family, "hw-bench", chain);
  return doc.nftables.filter((o) => o.rule).map((o) => (o.rule.expr as Record<string, any>[]).find((e) => e.counter)?.counter.packets ?? 0);
}
async function udpNoPorts(lab: Lab): Promise<number> {
  const snmp = await $`ip netns exec ${lab.dut} cat /proc/net/snmp`.text();
  const udp = snmp.split("\n").filter((l) => l.startsWith("Udp:"));
  return Number(udp[1]!.split(" ")[udp[0]!.split(" ").indexOf("NoPorts")]);
}

const pad = (s: string, n: number) => s.padEnd(n);
function report(title: string, m: Map<string, { cpu: number[]; wall: number[] }>, base: Record<string, string>): void {
  console.log(`\n${title} (median of ${rounds} interleaved rounds of ${blastMs} ms)`);
  console.log(`  ${pad("layout", 32)} ${pad("sender CPU µs/pkt", 26)} wall µs/pkt (1/rate)`);
  for (const [name, v] of m) {
    const [cpu, wall] = [median(v.cpu), median(v.wall)];
    const b = base[name] ? { cpu: median(m.get(base[name]!)!.cpu), wall: median(m.get(base[name]!)!.wall) } : undefined;
    const ratio = (x: number, y?: number) => (y ? ` = ${(x / y).toFixed(2)} x (${x >= y ? "+" : ""}${(x - y).toFixed(3)})` : "");
    console.log(`  ${pad(name, 32)} ${pad(`${cpu.toFixed(3)}${ratio(cpu, b?.cpu)}`, 26)} ${wall.toFixed(3)}${ratio(wall, b?.wall)}`);
  }
}

const dir = mkdtempSync(join(tmpdir(), "hw-drops-bench-"));
const lab = await makeLab("hw-h8d", 4);
try {
  // Local addresses for the input layouts (the netdev ones drop before the IP stack).
  for (const a of ["198.51.100.2/24"]) await $`ip -n ${lab.dut} addr add ${a} dev d2`.quiet();
  for (const a of ["203.0.113.2/24"]) await $`ip -n ${lab.dut} addr add ${a} dev d3`.quiet();
  const f = join(dir, "ruleset.nft");
  writeFileSync(f, RULESET + "\n");
  await $`ip netns exec ${lab.dut} nft -f ${f}`;
  // Warm-up: the first packets of a flow pay route and neighbour lookups.
  for (const l of LAYOUTS) await blastOnce(lab, l.sender, l.src, 50);

  const one = await roundsOf(lab, LAYOUTS);
  report("per dropped packet, one source (the summary refreshes its element)", one, { "nd-sum": "nd-plain", "in-sum": "in-plain" });

  // The bound: EXTRA_SOURCES new addresses on senders 1 and 3, each flooding briefly.
  for (const s of [1, 3]) {
    const batch = EXTRA.map((a) => `addr add ${a}/32 dev s0`).join("\n");
    writeFileSync(join(dir, `addrs${s}`), batch + "\n");
    await $`ip -n ${lab.senders[s]!} -batch ${join(dir, `addrs${s}`)}`.quiet();
  }
  const noPorts0 = await udpNoPorts(lab);
  const t0 = performance.now();
  const sentNd = Number((await $`timeout 120 ip netns exec ${lab.senders[1]!} taskset -c 1 ${process.execPath} ${import.meta.path} --many 192.0.2.2 3 ${EXTRA}`.text()).trim());
  const sentIn = Number((await $`timeout 120 ip netns exec ${lab.senders[3]!} taskset -c 1 ${process.execPath} ${import.meta.path} --many 203.0.113.2 3 ${EXTRA}`.text()).trim());
  const floodMs = performance.now() - t0;
  console.log(`\nbound: ${EXTRA_SOURCES} more sources per summary layout (${sentNd} + ${sentIn} datagrams in ${(floodMs / 1000).toFixed(1)} s)`);
  let ok = true;
  for (const [family, chain, set, rule] of [["netdev", "nd-drop", "nd-4", "sum"], ["inet", "in-drop", "in-4", "input"]] as const) {
    const st = await setState(lab, family, set);
    const ruleCounters = await chainCounters(lab, family, rule);
    const total = family === "netdev" ? ruleCounters[0]! : ruleCounters[2]!;
    const plainDrop = (await chainCounters(lab, family, chain))[2]!;
    const balanced = st.packets + plainDrop === total;
    ok &&= st.elements === SIZE && balanced && plainDrop > 0;
    console.log(`  ${family} ${set}: ${st.elements} elements (size ${SIZE}); rule counted ${total} = elements ${st.packets} + plain drop after a full set ${plainDrop}: ${balanced ? "balanced" : "NOT BALANCED"}`);
  }
  const delivered = (await udpNoPorts(lab)) - noPorts0;
  ok &&= delivered === 0;
  console.log(`  datagrams that reached the receiver's UDP layer: ${delivered}`);

  // The plain layouts again in the same rounds: the base of these ratios.
  const full = await roundsOf(lab, [LAYOUTS[0]!, FULL[0]!, LAYOUTS[2]!, FULL[1]!]);
  report("per dropped packet, a new source when the set is full (update fails, the plain drop decides)", full, { "nd-sum, set full, new source": "nd-plain", "in-sum, set full, new source": "in-plain" });
  if (!ok) {
    console.error("\nFAILED: a set outgrew its size, the counts do not balance, or a datagram got through");
    process.exitCode = 1;
  }
} finally {
  await lab.close();
  rmSync(dir, { recursive: true, force: true });
}
