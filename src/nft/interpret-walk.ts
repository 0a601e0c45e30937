/**
 * The inside of the IR interpreter (interpret.ts): one base chain's run, rule by rule, with
 * jump/goto/return, verdict maps, counters, marks, logs and notrack; and the ruleset indexed
 * once (base chains by priority, chains and sets by name). interpret.ts walks the hooks and
 * hands each base chain here with the packet as that hook sees it.
 */
import type { BaseHook, Hook, NftChain, NftRuleset, NftSet, NftTable, Statement } from "./ir.ts";
import { matches, parseSet, readField, vmapEntry, type HookView, type ParsedSet } from "./interpret-match.ts";
import { formatIp, InterpretError } from "./interpret-values.ts";

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

/** What one `update @set { key }` did to the set (it never decides a verdict). */
export interface SetUpdate {
  /** `inet hostwall`. */
  table: string;
  set: string;
  /** The key as text (`192.0.2.1`). */
  element: string;
  /** added: a new element; refreshed: an element already there (counted, timeout renewed); full: no room, the rule stopped there. */
  outcome: "added" | "refreshed" | "full";
  at: TraceEntry;
}

/**
 * The contents of dynamic sets: `<table>/<set>` → element → packets counted on it. Pass one
 * map in InterpretOptions.dynamicSets to carry the sets over many packets, as the kernel
 * does. Time is not modelled: no element expires.
 */
export type DynamicSets = Map<string, Map<string, number>>;

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
  /** Every dynamic set update this packet made, in order. */
  updates: SetUpdate[];
}

/** The kernel's jump stack (NFT_JUMP_STACK_SIZE). */
const MAX_JUMP_DEPTH = 16;
/** Rules one base chain may evaluate before the walk is taken for a loop (nft refuses loops at load). */
const MAX_STEPS = 100_000;

/** The ruleset indexed: base chains in the order the kernel runs them within a hook, chains and sets by table and name, sets parsed on first use. */
export interface Prepared {
  base: Array<{ table: NftTable; tableKey: string; chain: NftChain; base: BaseHook; order: number }>;
  chains: Map<NftTable, Map<string, NftChain>>;
  sets: Map<NftTable, Map<string, NftSet>>;
  parsed: Map<NftSet, ParsedSet>;
}

const prepared = new WeakMap<NftRuleset, Prepared>();

/** The ruleset indexed for walks, once per ruleset object. */
export function prepare(ruleset: NftRuleset): Prepared {
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


/** How a rule ends its chain's run. */
type Effect = { kind: "accept" | "drop" | "reject" | "return" } | { kind: "jump" | "goto"; target: string };

/** What one base chain's run reads and writes. */
export interface WalkContext {
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
  /** The dynamic sets' contents, filled by `update` statements. */
  dynamic: DynamicSets;
}

/** One base chain's run: rules in order, jumps, gotos and returns. */
export class ChainWalk {
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
    // Its elements are what packets put there, not the IR's: a lookup would depend on the past.
    if (set.dynamic) throw new InterpretError("unsupported", `a lookup in the dynamic set ${name}`, { table: this.c.tableKey });
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
          case "set-update":
            // A key whose dependency fails (`ip saddr` of an IPv6 packet) or a full set ends the rule, as the kernel's break verdict does.
            if (!this.update(st, entry)) {
              if (this.c.out.updates.at(-1)?.at === entry) this.c.out.trace.push(entry);
              return undefined;
            }
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

  /**
   * `update @set { key }` (the kernel's nft_dynset): adds the key to the set, or finds it there;
   * either way the packet is counted on the element. A new key in a set that holds `size`
   * elements is not added and the rule stops (the kernel's break verdict): the next rule runs, so the verdict
   * after a full set is whatever follows (the compiler puts a plain deny there). False when the
   * rule stops.
   */
  private update(st: Extract<Statement, { kind: "set-update" }>, at: TraceEntry): boolean {
    const set = this.c.p.sets.get(this.c.table)!.get(st.set);
    if (!set) throw new InterpretError("unknown-set", `no set ${st.set}`);
    if (!set.dynamic) throw new InterpretError("invalid-ruleset", `update @${st.set}: the set is not dynamic (nft refuses it)`);
    const read = readField(st.key, this.c.view);
    if (!read) return false;
    if (read.types.join(" . ") !== set.type) throw new InterpretError("type-mismatch", `update @${st.set} with a key of type ${read.types.join(" . ")}, the set holds ${set.type}`);
    if (read.data.some((d) => d === null)) throw new InterpretError("unknown-packet-field", `the packet does not determine the key of update @${st.set}`);
    const element = read.data.map((d, i) => (read.types[i] === "ipv4_addr" ? formatIp(d as bigint, 4) : read.types[i] === "ipv6_addr" ? formatIp(d as bigint, 6) : String(d))).join(" . ");
    const key = `${this.c.tableKey}/${st.set}`;
    const elements = this.c.dynamic.get(key) ?? new Map<string, number>();
    this.c.dynamic.set(key, elements);
    const known = elements.has(element);
    const outcome = known ? "refreshed" : elements.size >= set.dynamic.size ? "full" : "added";
    this.c.out.updates.push({ table: this.c.tableKey, set: st.set, element, outcome, at });
    if (outcome === "full") return false;
    elements.set(element, (elements.get(element) ?? 0) + 1);
    return true;
  }

  /** `notrack` works in prerouting and output before conntrack has seen the packet; after it, it does nothing. */
  private notrack(): void {
    if (this.c.hook !== "prerouting" && this.c.hook !== "output") throw new InterpretError("invalid-ruleset", `notrack in a ${this.c.hook} chain (nft allows it in prerouting and output only)`);
    if (this.c.beforeConntrack()) this.c.state.notrack = true;
  }
}

