/**
 * An interpreter of the nft IR: the verdict the kernel gives one packet under a compiled
 * ruleset, with no root and no kernel. The unit suite runs the differential test's generator
 * through it (evaluator vs interpreter, test/unit/interpreter-differential.test.ts), so every
 * compile is checked against the reference evaluator at thousands of seeds.
 *
 * The walk follows the kernel's order (reference/nftables.md; net/netfilter):
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
 * rule whose matches held. Not modelled, and an InterpretError when a verdict would depend on
 * it: raw payload (link layer, VLAN tags), non-IP frames, TCP flags, IP options, SNAT and
 * postrouting, the DF bit. Anything else the interpreter does not know throws too: it never
 * silently matches or skips.
 */
import type { BaseHook, Hook, NftChain, NftRuleset, NftSet, NftTable, Statement } from "./ir.ts";
import { matches, parseSet, vmapEntry, type HookView, type ParsedSet } from "./interpret-match.ts";
import { InterpretError, parseIp } from "./interpret-values.ts";

export { InterpretError, type InterpretErrorCode } from "./interpret-values.ts";

/**
 * One packet: the shape of the evaluator's `Packet` (src/explain/explanation.ts), restated
 * because nft/ sits upstream of explain/; the differential test passes the evaluator's packets.
 */
export interface NftPacket {
  /** ingress: to a host process via `inInterface`; egress: from one via `outInterface`; forward: in and out. */
  direction: "ingress" | "egress" | "forward";
  inInterface?: string;
  outInterface?: string;
  family: 4 | 6;
  /** Addresses (no prefix). */
  src: string;
  dst: string;
  /** IANA protocol number. */
  protocol: number;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
  /** Conntrack state once conntrack has seen the packet (default new). */
  conntrack?: "new" | "established" | "related" | "invalid";
  /** The destination after DNAT. */
  dnat?: { dst: string; dstPort?: number };
}

export interface InterpretOptions {
  /** The mark the packet arrives with (default 0). */
  mark?: number;
  /** The packet is an IP fragment on the wire (first: with the transport header; later: without). */
  fragment?: "first" | "later";
  /** Counter hits are added here too (by origin id), to sum over many packets. */
  counters?: Map<string, number>;
}

/** A rule whose matches held, or a base chain's policy (rule -1). */
export interface TraceEntry {
  hook: Hook;
  /** `inet hostwall`. */
  table: string;
  chain: string;
  /** Index of the rule in its chain; -1 for the base chain's policy. */
  rule: number;
  /** The rule's origin id. */
  origin?: string;
  /** What the rule did: `accept`, `drop`, `reject`, `return`, `jump x`, `goto x`, `policy accept`; undefined when the chain went on. */
  effect?: string;
}

export interface LogRecord {
  prefix: string;
  level: string;
  at: TraceEntry;
}

export interface InterpretResult {
  verdict: "accept" | "drop";
  /** A drop carried out as `reject`. */
  reject: boolean;
  /** The rule (or policy) that decided: the drop, or the accept of the last base chain. */
  decidedBy?: TraceEntry;
  trace: TraceEntry[];
  logs: LogRecord[];
  /** This packet's counter hits by origin id (rules without an origin: `table/chain#index`). */
  counters: Map<string, number>;
  /** The packet left conntrack alone (`notrack` before the conntrack hook). */
  notrack: boolean;
  /** The mark at the end. */
  mark: number;
}

/** The kernel's jump stack (NFT_JUMP_STACK_SIZE). */
const MAX_JUMP_DEPTH = 16;
/** Rules one base chain may evaluate before the walk is taken for a loop (nft refuses loops at load). */
const MAX_STEPS = 100_000;
/** The kernel's own steps in prerouting and output. */
const PRIORITY_DEFRAG = -400;
const PRIORITY_CONNTRACK = -200;
const PRIORITY_DNAT = -100;

interface Prepared {
  base: Array<{ table: NftTable; tableKey: string; chain: NftChain; base: BaseHook; order: number }>;
  chains: Map<NftTable, Map<string, NftChain>>;
  sets: Map<NftTable, Map<string, NftSet>>;
  parsed: Map<NftSet, ParsedSet>;
}

const prepared = new WeakMap<NftRuleset, Prepared>();

function prepare(ruleset: NftRuleset): Prepared {
  let p = prepared.get(ruleset);
  if (p) return p;
  p = { base: [], chains: new Map(), sets: new Map(), parsed: new Map() };
  let order = 0;
  for (const table of ruleset.tables) {
    const tableKey = `${table.family} ${table.name}`;
    p.chains.set(table, new Map(table.chains.map((c) => [c.name, c])));
    p.sets.set(table, new Map(table.sets.map((s) => [s.name, s])));
    for (const chain of table.chains) {
      order++;
      if (!chain.base) continue;
      const b = chain.base;
      if ((table.family === "netdev" || b.hook === "ingress") && (b.hook !== "ingress" || b.device === undefined)) {
        throw new InterpretError("invalid-ruleset", `base chain on hook ${b.hook}${b.device ? ` device ${b.device}` : ""} in a ${table.family} table`, { table: tableKey, chain: chain.name });
      }
      p.base.push({ table, tableKey, chain, base: b, order });
    }
  }
  p.base.sort((a, b) => a.base.priority - b.base.priority || a.order - b.order);
  prepared.set(ruleset, p);
  return p;
}

/** The verdict `ruleset` gives `packet`, with the trace of the rules it hit. */
export function interpret(ruleset: NftRuleset, packet: NftPacket, options: InterpretOptions = {}): InterpretResult {
  const p = prepare(ruleset);
  const state = { mark: (options.mark ?? 0) >>> 0, notrack: false };
  const out: InterpretResult = { verdict: "accept", reject: false, trace: [], logs: [], counters: new Map(), notrack: false, mark: 0 };
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
      const walker = new ChainWalk({ p, table: b.table, tableKey: b.tableKey, hook, view, state, out, counters: options.counters, beforeConntrack });
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

/** How a rule ends its chain's run. */
type Effect = { kind: "accept" | "drop" | "reject" | "return" } | { kind: "jump" | "goto"; target: string };

/** What one base chain's run reads and writes. */
interface WalkContext {
  p: Prepared;
  table: NftTable;
  /** `inet hostwall`, for traces and errors. */
  tableKey: string;
  hook: Hook;
  view: HookView;
  /** The packet's mark and whether it left conntrack alone: carried across chains and hooks. */
  state: { mark: number; notrack: boolean };
  out: InterpretResult;
  /** The caller's counters, summed over packets. */
  counters?: Map<string, number>;
  /** Whether this chain runs before the kernel's conntrack step (throws at exactly its priority). */
  beforeConntrack: () => boolean;
}

/** One base chain's run: rules in order, jumps, gotos and returns. */
class ChainWalk {
  /** Named sets of this chain's table, for match statements. */
  private readonly sets = (name: string) => this.set(name);

  constructor(private readonly c: WalkContext) {}

  /** Runs a base chain; answers the entry that ended it (a rule's accept/drop/reject, or the policy). */
  run(baseChain: NftChain): TraceEntry {
    const stack: Array<{ chain: NftChain; next: number }> = [];
    let chain = baseChain;
    let i = 0;
    for (let steps = 0; ; steps++) {
      if (steps > MAX_STEPS) throw new InterpretError("jump-depth", `more than ${MAX_STEPS} rules in one base chain: a goto loop?`, { table: this.c.tableKey, chain: chain.name });
      if (i >= chain.rules.length) {
        const top = stack.pop();
        if (!top) return this.policy(baseChain);
        [chain, i] = [top.chain, top.next];
        continue;
      }
      const effect = this.rule(chain, i);
      if (effect === undefined) {
        i++;
        continue;
      }
      const entry = this.c.out.trace[this.c.out.trace.length - 1]!;
      if (effect.kind === "accept" || effect.kind === "drop" || effect.kind === "reject") return entry;
      if (effect.kind === "return") {
        const top = stack.pop();
        if (!top) return this.policy(baseChain);
        [chain, i] = [top.chain, top.next];
        continue;
      }
      if (effect.kind !== "jump" && effect.kind !== "goto") throw new InterpretError("unsupported", `effect ${effect.kind}`);
      const target = this.chainNamed(effect.target, chain.name, i);
      if (effect.kind === "jump") {
        stack.push({ chain, next: i + 1 });
        if (stack.length > MAX_JUMP_DEPTH) throw new InterpretError("jump-depth", `more than ${MAX_JUMP_DEPTH} nested jumps`, { table: this.c.tableKey, chain: chain.name, rule: i });
      }
      [chain, i] = [target, 0];
    }
  }

  private policy(baseChain: NftChain): TraceEntry {
    const entry: TraceEntry = { hook: this.c.hook, table: this.c.tableKey, chain: baseChain.name, rule: -1, effect: "policy accept" };
    this.c.out.trace.push(entry);
    return entry;
  }

  private chainNamed(name: string, from: string, rule: number): NftChain {
    const c = this.c.p.chains.get(this.c.table)!.get(name);
    if (!c) throw new InterpretError("unknown-chain", `no chain ${name}`, { table: this.c.tableKey, chain: from, rule });
    if (c.base) throw new InterpretError("unknown-chain", `${name} is a base chain: nft refuses a jump to it`, { table: this.c.tableKey, chain: from, rule });
    return c;
  }

  private set(name: string): ParsedSet {
    const set = this.c.p.sets.get(this.c.table)!.get(name);
    if (!set) throw new InterpretError("unknown-set", `no set ${name}`, { table: this.c.tableKey });
    let parsed = this.c.p.parsed.get(set);
    if (!parsed) {
      parsed = parseSet(set);
      this.c.p.parsed.set(set, parsed);
    }
    return parsed;
  }

  /** Runs one rule: undefined when the chain goes on, else what ended it. Records the trace, counters and logs. */
  private rule(chain: NftChain, index: number): Effect | undefined {
    const rule = chain.rules[index]!;
    const where = { table: this.c.tableKey, chain: chain.name, rule: index };
    const entry: TraceEntry = { hook: this.c.hook, table: this.c.tableKey, chain: chain.name, rule: index, origin: rule.origin?.id };
    const statements: readonly Statement[] = rule.statements;
    try {
      for (let s = 0; s < statements.length; s++) {
        const st = statements[s]!;
        let end: Effect;
        switch (st.kind) {
          case "match":
            if (!matches(st, this.c.view, this.sets)) return undefined;
            continue;
          case "counter": {
            const key = rule.origin?.id ?? `${this.c.tableKey}/${chain.name}#${index}`;
            this.c.out.counters.set(key, (this.c.out.counters.get(key) ?? 0) + 1);
            this.c.counters?.set(key, (this.c.counters.get(key) ?? 0) + 1);
            continue;
          }
          case "mark":
            this.c.state.mark = (st.op === "or" ? this.c.state.mark | st.value : this.c.state.mark & st.value) >>> 0;
            continue;
          case "limit":
            continue; // pass-through: see the head comment
          case "log":
            this.c.out.logs.push({ prefix: st.prefix, level: st.level, at: entry });
            continue;
          case "notrack":
            this.notrack();
            continue;
          case "verdict":
            end = { kind: st.verdict };
            break;
          case "jump":
          case "goto":
            end = { kind: st.kind, target: st.target };
            break;
          case "vmap": {
            const hit = vmapEntry(st, this.c.view);
            if (!hit) return undefined;
            end = { kind: hit.verdict, target: hit.target };
            break;
          }
          default:
            throw new InterpretError("unsupported", `statement ${JSON.stringify(st)}`);
        }
        if (s !== statements.length - 1) throw new InterpretError("invalid-ruleset", `statement after the terminal ${st.kind} (nft refuses it)`);
        entry.effect = end.kind === "jump" || end.kind === "goto" ? `${end.kind} ${end.target}` : end.kind;
        this.c.out.trace.push(entry);
        return end;
      }
    } catch (e) {
      if (e instanceof InterpretError && e.where.chain === undefined) throw new InterpretError(e.code, e.message, where);
      throw e;
    }
    this.c.out.trace.push(entry);
    return undefined;
  }

  /** `notrack` works in prerouting and output before conntrack has seen the packet; after it, it does nothing. */
  private notrack(): void {
    if (this.c.hook !== "prerouting" && this.c.hook !== "output") throw new InterpretError("invalid-ruleset", `notrack in a ${this.c.hook} chain (nft allows it in prerouting and output only)`);
    if (this.c.beforeConntrack()) this.c.state.notrack = true;
  }
}

/** The trace as lines, for a disagreement report. */
export function formatTrace(result: InterpretResult): string {
  const lines = result.trace.map((t) => `${t.hook} ${t.table} ${t.chain} #${t.rule < 0 ? "policy" : t.rule}${t.origin ? ` [${t.origin}]` : ""}${t.effect ? ` → ${t.effect}` : ""}`);
  lines.push(`verdict ${result.reject ? "reject" : result.verdict}, mark 0x${result.mark.toString(16).padStart(8, "0")}${result.notrack ? ", notrack" : ""}${result.logs.length ? `, logs ${result.logs.map((l) => JSON.stringify(l.prefix)).join(" ")}` : ""}`);
  return lines.join("\n");
}
