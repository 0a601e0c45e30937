/**
 * An interpreter of the nft IR: the verdict the kernel gives one packet under a compiled
 * ruleset, with no root and no kernel. The unit suite runs the differential test's generator
 * through it (evaluator vs interpreter, test/unit/interpreter-differential.test.ts), so every
 * compile is checked against the reference evaluator at thousands of seeds.
 *
 * The walk follows the kernel's order (net/netfilter; docs/nft-layout.md draws hostwall's chains):
 *
 *   in on X, to this host      ingress(X) → prerouting → input
 *   in on X, forwarded to Y    ingress(X) → prerouting → forward
 *   sent by this host via Y    output
 *
 * Within a hook, base chains of every table run by priority (ties in table, then chain order,
 * as one transaction registers them). Between them sit the kernel's own steps: defragmentation
 * at -400 (netdev and earlier prerouting chains see the fragment, later ones the datagram),
 * conntrack at -200 (before it `ct state` reads `invalid`, as the kernel's nft_ct does for a
 * packet without an entry; `notrack` before it makes the state `untracked`, after it nothing),
 * DNAT at -100 (earlier chains see the packet's `dst`, later ones and input/forward `dnat`).
 * `accept` ends one base chain, `drop`/`reject` everything; a base chain that runs out (or
 * returns) applies its policy, always accept here. jump pushes (16 deep at most, as the kernel),
 * goto replaces, return pops. Marks carry from chain to chain and hook to hook.
 *
 * Modelled as pass-through: `limit` (rate limits never bite: a verdict cannot depend on how
 * many packets came before). Recorded: counters (per origin id), log lines, the trace of every
 * rule whose matches held, dynamic set updates (`update @set { ip saddr }`, drop summaries:
 * the element is added or refreshed and counted, a full set stops the rule as in the kernel;
 * no timeouts). Not modelled, and an InterpretError when a verdict would depend on
 * it: raw payload (link layer, VLAN tags), non-IP frames, TCP flags, IP options, SNAT and
 * postrouting, the DF bit. Anything else the interpreter does not know throws too: it never
 * silently matches or skips.
 */
import type { Hook, NftRuleset } from "./ir.ts";
import type { HookView } from "./interpret-match.ts";
import { InterpretError, parseIp } from "./interpret-values.ts";
import { ChainWalk, prepare, type DynamicSets, type InterpretResult } from "./interpret-walk.ts";
import type { Packet } from "../model/packet.ts";

export { InterpretError, type InterpretErrorCode } from "./interpret-values.ts";
export type { DynamicSets, InterpretResult, LogRecord, SetUpdate, TraceEntry } from "./interpret-walk.ts";


export interface InterpretOptions {
  /** The mark the packet arrives with (default 0). */
  mark?: number;
  /** The packet is an IP fragment on the wire (first: with the transport header; later: without). */
  fragment?: "first" | "later";
  /** Counter hits are added here too (by origin id), to sum over many packets. */
  counters?: Map<string, number>;
  /** Dynamic sets (drop summaries) to read and fill, carried over packets; a fresh one per call when absent. */
  dynamicSets?: DynamicSets;
}


/** The kernel's own steps in prerouting and output. */
const PRIORITY_DEFRAG = -400;
const PRIORITY_CONNTRACK = -200;
const PRIORITY_DNAT = -100;

/** The verdict `ruleset` gives `packet`, with the trace of the rules it hit. */
export function interpret(ruleset: NftRuleset, packet: Packet, options: InterpretOptions = {}): InterpretResult {
  const p = prepare(ruleset);
  const state = { mark: (options.mark ?? 0) >>> 0, notrack: false };
  const out: InterpretResult = { verdict: "accept", reject: false, trace: [], logs: [], counters: new Map(), notrack: false, mark: 0, updates: [] };
  const dynamic = options.dynamicSets ?? new Map();
  const addr = (text: string, what: string) => {
    const ip = parseIp(text);
    if (!ip || ip.family !== packet.family) throw new InterpretError("bad-packet", `packet ${what} ${JSON.stringify(text)} is not an IPv${packet.family} address`);
    return ip.value;
  };
  const src = addr(packet.src, "src");
  const pre = { dst: addr(packet.dst, "dst"), dstPort: packet.dstPort };
  const post = packet.dnat ? { dst: addr(packet.dnat.dst, "dnat.dst"), dstPort: packet.dnat.dstPort ?? packet.dstPort } : pre;
  const need = (iface: string | undefined, what: string) => {
    if (!iface) throw new InterpretError("bad-packet", `a ${packet.direction} packet needs ${what}`);
    return iface;
  };
  const hooks: Hook[] = packet.direction === "egress" ? ["output"] : ["ingress", "prerouting", packet.direction === "ingress" ? "input" : "forward"];
  const inIf = packet.direction === "egress" ? "" : need(packet.inInterface, "inInterface");
  const outIf = packet.direction === "ingress" ? "" : need(packet.outInterface, "outInterface");

  for (const hook of hooks) {
    for (const b of p.base) {
      if (b.base.hook !== hook || (hook === "ingress" && b.base.device !== inIf)) continue;
      const prio = b.base.priority;
      /** Whether this chain runs before one of the kernel's steps in prerouting/output (ingress: before all, input/forward: after all). */
      const before = (boundary: number, what: string, matters: boolean) => {
        if (hook === "ingress") return true;
        if (hook === "input" || hook === "forward") return false;
        if (prio === boundary && matters) throw new InterpretError("ambiguous-order", `chain at priority ${prio}, exactly where the kernel's ${what} runs`, { table: b.tableKey, chain: b.chain.name });
        return prio < boundary;
      };
      const nat = before(PRIORITY_DNAT, "DNAT", packet.dnat !== undefined) ? pre : post;
      const whole = !before(PRIORITY_DEFRAG, "defragmentation", options.fragment !== undefined);
      const beforeConntrack = () => before(PRIORITY_CONNTRACK, "conntrack", true);
      const view: HookView = {
        table: b.table.family,
        family: packet.family,
        src,
        dst: nat.dst,
        protocol: packet.protocol,
        srcPort: packet.srcPort,
        dstPort: nat.dstPort,
        icmpType: packet.icmpType,
        icmpCode: packet.icmpCode,
        iifname: hook === "output" ? "" : inIf,
        oifname: hook === "output" || hook === "forward" ? outIf : "",
        fragment: whole ? undefined : options.fragment,
        mark: () => state.mark,
        ct: () => (state.notrack ? "untracked" : beforeConntrack() ? "invalid" : (packet.conntrack ?? "new")),
      };
      const walker = new ChainWalk({ p, table: b.table, tableKey: b.tableKey, hook, view, state, out, counters: options.counters, beforeConntrack, dynamic });
      const entry = walker.run(b.chain);
      if (entry.effect === "drop" || entry.effect === "reject") {
        out.verdict = "drop";
        out.reject = entry.effect === "reject";
        out.decidedBy = entry;
        return finish(out, state);
      }
      out.decidedBy = entry;
    }
  }
  return finish(out, state);
}

function finish(out: InterpretResult, state: { mark: number; notrack: boolean }): InterpretResult {
  out.mark = state.mark;
  out.notrack = state.notrack;
  return out;
}


/** The trace as lines, for a disagreement report. */
export function formatTrace(result: InterpretResult): string {
  const lines = result.trace.map((t) => `${t.hook} ${t.table} ${t.chain} #${t.rule < 0 ? "policy" : t.rule}${t.origin ? ` [${t.origin}]` : ""}${t.effect ? ` → ${t.effect}` : ""}`);
  lines.push(`verdict ${result.reject ? "reject" : result.verdict}, mark 0x${result.mark.toString(16).padStart(8, "0")}${result.notrack ? ", notrack" : ""}${result.logs.length ? `, logs ${result.logs.map((l) => JSON.stringify(l.prefix)).join(" ")}` : ""}`);
  return lines.join("\n");
}
