/**
 * The difference between the ruleset in force and a new one, as ONE nft transaction (issue 13
 * item 2), the way Felix applies through knftables: set elements deleted then added, chains
 * whose rules changed flushed and refilled in the same transaction (no moment without them),
 * sets and chains created or deleted. All or nothing: the kernel takes the whole script or
 * nothing of it, so a refused delta leaves the ruleset in force as it was.
 *
 * Rules are compared by their rendered text (render.ts renderRule), never by their
 * statements' internals. What a delta cannot express in place is a full replace instead
 * (`full`, with the reason): a table added or removed, a set whose type, flags or comment
 * changed, a base chain whose hook, device or priority changed (the kernel does not update
 * those on an existing object).
 *
 * The tables' stamp comment (render.ts stampScript) cannot be updated in place either (the
 * kernel keeps a table's comment; tested on 6.18), so a delta writes the new stamp on a named
 * counter object, `hostwall-stamp`, re-created in the same transaction (`add`, `delete`, `add`
 * with the comment: works whether or not it exists), which a restarted agent reads in
 * preference to the table's comment (runner.ts parseTableComments). A full replace drops it.
 *
 * Order inside the transaction, so that every reference resolves when the kernel commits:
 *   1. new sets with their elements, new chains (a new rule may jump to them or look them up)
 *   2. `flush chain` of every changed or removed chain (drops their jumps and set references)
 *   3. `delete chain` of removed chains, then element deletes before adds in kept sets
 *   4. `delete set` of removed sets
 *   5. `add rule` of every changed or new chain, in order
 */
import { setChangeOf } from "../derive.ts";
import { elementsEqualAt } from "./address-list.ts";
import type { Elements, NftChain, NftRuleset, NftSet, NftTable, RuleOrigin } from "./ir.ts";
import { STAMP_OBJECT } from "./names.ts";
import { elementLines, MAX_COMMENT_BYTES, renderRule, safeIdentifier, safeText, type RenderedScript, type TableStamp } from "./render.ts";


/** What a delta changes, for the log and /status. */
export interface DeltaSummary {
  setsAdded: number;
  setsRemoved: number;
  elementsAdded: number;
  elementsRemoved: number;
  chainsAdded: number;
  chainsRemoved: number;
  /** Existing chains flushed and refilled. */
  chainsRewritten: number;
  /** Rules added (in new and rewritten chains). */
  rules: number;
}

export type DeltaPlan =
  /** The two rulesets render the same: nothing to send. */
  | { kind: "none" }
  /** The transaction, with the line → rule origin map for nft's errors. */
  | { kind: "delta"; script: RenderedScript; summary: DeltaSummary }
  /** Only a full replace can do it. */
  | { kind: "full"; why: string };

/**
 * An interval set that has more elements than this is emptied and refilled (`flush set` + its
 * elements) rather than edited: nft 1.0.6 downloads a whole interval set before an element
 * edit to check overlaps (70–80 s at 1M), but not after a flush in the same batch
 * (reference/nftables.md §5).
 */
export const INTERVAL_EDIT_MAX = 4096;

/**
 * A new set's elements array → the old one found to hold the same elements by a delta: what
 * was derived from the old array (delta-adopt.ts's element hash, ~0.5 s at 1M) carries over.
 */
export const sameElements = new WeakMap<Elements, Elements>();
const DEVICE = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * What the caller does not know of `from` (an agent that adopted the kernel's tables at start,
 * nft/delta-adopt.ts): sets whose elements are unknown are emptied and refilled, chains whose
 * rules are unknown are flushed and refilled. Keys are `family table/name`.
 */
export interface DeltaUnknowns {
  refill?: ReadonlySet<string>;
  rewrite?: ReadonlySet<string>;
}

export function computeDelta(from: NftRuleset, to: NftRuleset, unknown: DeltaUnknowns = {}, stamp?: TableStamp): DeltaPlan {
  const key = (t: NftTable) => `${t.family} ${t.name}`;
  if (from.tables.map(key).join(",") !== to.tables.map(key).join(",")) return { kind: "full", why: "the set of tables changed" };
  const out = new ScriptWriter();
  const summary: DeltaSummary = { setsAdded: 0, setsRemoved: 0, elementsAdded: 0, elementsRemoved: 0, chainsAdded: 0, chainsRemoved: 0, chainsRewritten: 0, rules: 0 };
  const plans: TablePlan[] = [];
  for (let i = 0; i < to.tables.length; i++) {
    const plan = planTable(from.tables[i]!, to.tables[i]!, unknown);
    if (typeof plan === "string") return { kind: "full", why: plan };
    plans.push(plan);
  }
  for (const p of plans) {
    for (const set of p.newSets) out.addSet(p.head, set);
    for (const chain of p.newChains) out.line(`add chain ${p.head} ${chainSpec(chain)}`);
  }
  for (const p of plans) for (const name of [...p.rewritten.map((c) => c.name), ...p.removedChains]) out.line(`flush chain ${p.head} ${safeIdentifier(name)}`);
  for (const p of plans) {
    for (const name of p.removedChains) out.line(`delete chain ${p.head} ${safeIdentifier(name)}`);
    for (const e of p.setEdits) {
      if (e.refill) {
        // Emptied and refilled: nft needs neither the old elements nor a download of them.
        out.line(`flush set ${p.head} ${safeIdentifier(e.name)}`);
        out.elements(`add element ${p.head} ${safeIdentifier(e.name)}`, e.refill);
        continue;
      }
      out.elements(`delete element ${p.head} ${safeIdentifier(e.name)}`, e.removed);
      out.elements(`add element ${p.head} ${safeIdentifier(e.name)}`, e.added);
    }
  }
  for (const p of plans) for (const name of p.removedSets) out.line(`delete set ${p.head} ${safeIdentifier(name)}`);
  for (const p of plans) {
    for (const chain of [...p.newChains, ...p.rewritten]) {
      for (const rule of chain.rules) out.rule(`add rule ${p.head} ${safeIdentifier(chain.name)} ${renderRule(rule)}`, rule.origin);
    }
    summary.setsAdded += p.newSets.length;
    summary.setsRemoved += p.removedSets.length;
    summary.chainsAdded += p.newChains.length;
    summary.chainsRemoved += p.removedChains.length;
    summary.chainsRewritten += p.rewritten.length;
    summary.rules += [...p.newChains, ...p.rewritten].reduce((n, c) => n + c.rules.length, 0);
    for (const e of p.setEdits) {
      summary.elementsAdded += e.added.length;
      summary.elementsRemoved += e.removed.length;
    }
  }
  if (out.empty) return { kind: "none" };
  if (stamp) {
    if (!Number.isSafeInteger(stamp.generation) || !/^[0-9a-f]{16}$/.test(stamp.hash)) throw new Error(`internal error: bad stamp ${JSON.stringify(stamp)}`);
    for (const p of plans) {
      const obj = `counter ${p.head} ${STAMP_OBJECT}`;
      out.line(`add ${obj}`);
      out.line(`delete ${obj}`);
      out.line(`add ${obj} { comment "hostwall generation ${stamp.generation} hash ${stamp.hash}"; }`);
    }
  }
  return { kind: "delta", script: out.finish(), summary };
}

interface SetEdit {
  name: string;
  added: Elements;
  removed: readonly string[];
  /** A big interval set (or one whose elements in the kernel are unknown): all its new elements after a `flush set`. */
  refill?: Elements;
}

interface TablePlan {
  head: string;
  newSets: NftSet[];
  removedSets: string[];
  setEdits: SetEdit[];
  newChains: NftChain[];
  removedChains: string[];
  /** Existing chains whose rules changed (flushed and refilled). */
  rewritten: NftChain[];
}

/** One table's changes, or why only a full replace can make them. */
function planTable(from: NftTable, to: NftTable, unknown: DeltaUnknowns): TablePlan | string {
  const head = `${to.family} ${safeIdentifier(to.name)}`;
  const known = (which: ReadonlySet<string> | undefined, name: string) => !which?.has(`${to.family} ${to.name}/${name}`);
  const plan: TablePlan = { head, newSets: [], removedSets: [], setEdits: [], newChains: [], removedChains: [], rewritten: [] };
  const oldSets = new Map(from.sets.map((s) => [s.name, s]));
  const newSetNames = new Set(to.sets.map((s) => s.name));
  for (const set of to.sets) {
    const old = oldSets.get(set.name);
    if (!old) {
      plan.newSets.push(set);
      continue;
    }
    if (old.type !== set.type || old.interval !== set.interval || JSON.stringify(old.dynamic) !== JSON.stringify(set.dynamic) || (old.comment ?? "") !== (set.comment ?? "")) return `set ${set.name} in table ${head} changed its type, flags or comment`;
    if (!known(unknown.refill, set.name)) {
      plan.setEdits.push({ name: set.name, added: set.elements, removed: [], refill: set.elements });
      continue;
    }
    const { identical, ...edit } = elementEdit(old.elements, set.elements);
    if (edit.added.length === 0 && edit.removed.length === 0) {
      // Same elements in the same order: what derives from the order (a hash) carries over too.
      if (identical) sameElements.set(set.elements, old.elements);
      continue;
    }
    const big = set.interval && old.elements.length > INTERVAL_EDIT_MAX;
    plan.setEdits.push(big ? { name: set.name, ...edit, refill: set.elements } : { name: set.name, ...edit });
  }
  for (const s of from.sets) if (!newSetNames.has(s.name)) plan.removedSets.push(s.name);
  const oldChains = new Map(from.chains.map((c) => [c.name, c]));
  const newChainNames = new Set(to.chains.map((c) => c.name));
  for (const chain of to.chains) {
    const old = oldChains.get(chain.name);
    if (!old) {
      plan.newChains.push(chain);
      continue;
    }
    if (baseKey(old) !== baseKey(chain)) return `chain ${chain.name} in table ${head} changed its hook, device or priority`;
    if (!known(unknown.rewrite, chain.name) || !sameRules(old, chain)) plan.rewritten.push(chain);
  }
  for (const c of from.chains) if (!newChainNames.has(c.name)) plan.removedChains.push(c.name);
  return plan;
}

/**
 * What `diffElements` says, in the time the change takes when the compiler recorded `to` as a
 * set change of exactly `from` (src/derive.ts; both sorted, duplicate-free, as it writes sets):
 * a one-address edit of a million-element set compares no million strings.
 */
export function elementEdit(from: Elements, to: Elements): { added: string[]; removed: string[]; identical?: true } {
  const change = from !== to ? setChangeOf<string, Elements>(to) : undefined;
  if (change?.from === from) return change.added.length + change.removed.length === 0 ? { added: [], removed: [], identical: true } : { added: change.added.slice(), removed: change.removed.slice() };
  return diffElements(from, to);
}

/**
 * Elements only in `to` (added) and only in `from` (removed), each in the order given. The
 * compiler writes a set's elements in a stable order, so an edit of a few elements leaves a
 * long common head and tail: those are skipped by comparing in place, and only the middle goes
 * through hash sets (a million-string Set costs seconds on a busy 2-core machine; measured).
 * Two address lists are compared by their words; only the middle's elements become text.
 */
export function diffElements(from: Elements, to: Elements): { added: string[]; removed: string[]; identical?: true } {
  if (from === to) return { added: [], removed: [], identical: true };
  const same = elementsEqualAt(from, to);
  let head = 0;
  const max = Math.min(from.length, to.length);
  while (head < max && same(head, head)) head++;
  // Same elements in the same order (the common case: the set did not change).
  if (head === from.length && head === to.length) return { added: [], removed: [], identical: true };
  let tail = 0;
  while (tail < max - head && same(from.length - 1 - tail, to.length - 1 - tail)) tail++;
  const a = from.slice(head, from.length - tail);
  const b = to.slice(head, to.length - tail);
  if (a.length === 0 || b.length === 0) return { added: b, removed: a };
  const before = new Set(a);
  const after = new Set(b);
  return { added: b.filter((e) => !before.has(e)), removed: a.filter((e) => !after.has(e)) };
}

const baseKey = (c: NftChain) => (c.base ? `${c.base.hook}/${c.base.device ?? ""}/${c.base.priority}` : "");

function sameRules(a: NftChain, b: NftChain): boolean {
  if (a.rules.length !== b.rules.length) return false;
  return a.rules.every((r, i) => renderRule(r) === renderRule(b.rules[i]!));
}

/** `name` or `name { type filter hook … priority …; policy accept; }`, as render.ts declares base chains. */
function chainSpec(chain: NftChain): string {
  const name = safeIdentifier(chain.name);
  if (!chain.base) return name;
  const { hook, priority, device } = chain.base;
  if (device !== undefined && !DEVICE.test(device)) throw new Error(`internal error: unsafe device name ${JSON.stringify(device)}`);
  const dev = device !== undefined ? ` device "${device}"` : "";
  return `${name} { type filter hook ${hook}${dev} priority ${priority}; policy accept; }`;
}

/** The script's lines, with the origin of each rule line (1-based, as nft reports them). */
class ScriptWriter {
  private readonly lines: string[] = [];
  private readonly origins = new Map<number, RuleOrigin>();

  get empty(): boolean {
    return this.lines.length === 0;
  }

  line(text: string): void {
    this.lines.push(text);
  }

  rule(text: string, origin: RuleOrigin | undefined): void {
    this.lines.push(text);
    if (origin) this.origins.set(this.lines.length, origin);
  }

  /** `prefix { a, b, … }` over several lines; nothing for no elements. Elements are canonical text from the compiler. */
  elements(prefix: string, elements: Elements): void {
    if (elements.length === 0) return;
    this.lines.push(`${prefix} {`);
    for (const line of elementLines(elements, "\t")) this.lines.push(line);
    this.lines.push("}");
  }

  addSet(head: string, set: NftSet): void {
    // A drop-summary set (ir.ts NftSet.dynamic) is declared as render.ts does.
    const flags = set.interval ? " flags interval;" : set.dynamic ? ` size ${set.dynamic.size}; flags dynamic,timeout; timeout ${set.dynamic.timeout}s; counter;` : "";
    const comment = set.comment ? ` comment "${safeText(set.comment, MAX_COMMENT_BYTES)}";` : "";
    this.lines.push(`add set ${head} ${safeIdentifier(set.name)} { type ${set.type};${flags}${comment} }`);
    this.elements(`add element ${head} ${safeIdentifier(set.name)}`, set.elements);
  }

  finish(): RenderedScript {
    return { text: this.lines.join("\n") + "\n", origins: this.origins };
  }
}
