/**
 * Arrays for the big lists an edit patches, from memory that is already mapped (issue #13: a
 * one-address edit of a million-entry network set must cost what the edit costs).
 *
 * A patch of a million-item list (derive.ts applySplice, sorted-patch.ts applyPositions) copies
 * 8 MB of pointers into a new array. The copy itself takes ~1 ms; the fresh memory it lands in
 * costs ~23 ms in page faults on this machine class (MEASURED, bench/RESULTS.md "the goal
 * table", session 6: the same holds for typed arrays, and neither Bun's allocator nor malloc
 * settings keep freed pages mapped), and one edit makes four such lists. So the patches take their arrays from here:
 * a spare is a plain array of nulls made, and so faulted in, while the agent is idle
 * (refillSpare, called by the agent after an attempt has been enforced); taking one costs
 * nothing. A spare is a fresh object nobody else holds, so every stage stays a pure function.
 *
 * What to prepare is learnt from use: every big array asked for (or announced by a cold build
 * with expectArray, so the first edit after start finds its spares too) is a demand, and a
 * refill makes one spare per demand of the last attempt, at most MAX_SPARES of them. Small
 * lists (under SPARE_MIN_ITEMS) never touch the pool.
 */

/** Lists shorter than this are made with `new Array` (small configs hold no spares). */
export const SPARE_MIN_ITEMS = 65_536;
let minItems = SPARE_MIN_ITEMS;

/** At most this many spares are held (~8 MB each at a million items). */
const MAX_SPARES = 6;

/**
 * A refill of at least this many items after a build from nothing starts with a full garbage
 * collection: the cold build's garbage (the parse's, the sort's) is still mapped then, and the
 * spares would be faulted in on top of it (MEASURED at 1M entries: the agent's RSS peaked at
 * ~510 MB while the spares were made, ~70 MB over the build's own peak; the collection takes
 * ~80 ms, once per start, while idle). An edit's refill (it took spares) does not collect.
 */
const COLLECT_BEFORE_ITEMS = 1_000_000;
let takenAtLastRefill = 0;
let takenAtLastCollection = 0;

/** Room a spare leaves for growth: a list a little longer than the one demanded still fits. */
const headroom = (n: number) => Math.ceil(n * 1.02) + 4096;

/** What a spare is: a plain array (of nulls), or a typed array of one of these kinds (resolve/member-index.ts). */
type Typed = Float64Array | Uint32Array | Uint8Array;
type TypedKind = new (n: number) => Typed;
type Kind = "array" | TypedKind;
interface Spare {
  kind: Kind;
  store: unknown[] | Typed;
}

let spares: Spare[] = [];
/** What was asked for since the last refill began. */
let demand: { kind: Kind; n: number }[] = [];
/** What is still to prepare, largest first. */
let todo: { kind: Kind; n: number }[] = [];

const stats = { taken: 0, missed: 0, made: 0, collected: 0 };

/** The smallest spare of `kind` holding at least `n` items, taken out of the pool. */
function take(kind: Kind, n: number): Spare["store"] | undefined {
  demand.push({ kind, n });
  let best = -1;
  for (let i = 0; i < spares.length; i++) {
    const s = spares[i]!;
    if (s.kind === kind && s.store.length >= n && (best < 0 || s.store.length < spares[best]!.store.length)) best = i;
  }
  if (best < 0) {
    stats.missed++;
    return undefined;
  }
  stats.taken++;
  return spares.splice(best, 1)[0]!.store;
}

/**
 * A new array of `n` items to be written from index 0 up, every slot (the caller fills them
 * all). Big ones come from a spare when one is big enough.
 */
export function newArray<T>(n: number): T[] {
  if (n < minItems) return new Array<T>(n);
  const out = take("array", n) as T[] | undefined;
  if (!out) return new Array<T>(n);
  out.length = n; // shrinking keeps the mapped storage (MEASURED: the copy into it stays ~1 ms)
  return out;
}

/**
 * A typed array of at least `n` items (its contents are garbage: the caller writes what it
 * reads): a spare, else a new one of `capacity` items (room for the list to grow).
 */
export function newTyped<T extends Typed>(kind: new (n: number) => T, n: number, capacity = n): T {
  const out = n >= minItems ? take(kind, n) : undefined;
  return (out as T | undefined) ?? new kind(Math.max(n, capacity));
}

/** Says a cold build made a list of `n` items that later edits will patch: the next refill prepares for it. */
export function expectArray(n: number, kind: Kind = "array"): void {
  if (n >= minItems) demand.push({ kind, n });
}

/**
 * Makes one spare for what the last attempt asked for; true while more are to be made. The
 * agent calls it between events (each call ~23 ms at a million items), so an edit that
 * arrives meanwhile waits for one spare at most.
 */
export function refillSpare(): boolean {
  if (demand.length > 0) {
    // What the last attempt used is what the next one will: prepare for those, keeping the spares that fit one.
    const wanted = demand.sort((a, b) => b.n - a.n).slice(0, MAX_SPARES);
    demand = [];
    const left = spares.sort((a, b) => a.store.length - b.store.length);
    spares = [];
    todo = [];
    for (const w of wanted) {
      const fit = left.findIndex((s) => s.kind === w.kind && s.store.length >= w.n && s.store.length <= headroom(w.n) * 1.25);
      if (fit >= 0) spares.push(...left.splice(fit, 1));
      else todo.push(w);
    }
    const cold = stats.taken === takenAtLastRefill;
    takenAtLastRefill = stats.taken;
    if (cold && todo.reduce((n, w) => n + w.n, 0) >= COLLECT_BEFORE_ITEMS) {
      Bun.gc(true);
      stats.collected++;
    }
  }
  const w = todo.shift();
  if (w === undefined) return false;
  const n = headroom(w.n);
  spares.push({ kind: w.kind, store: w.kind === "array" ? new Array(n).fill(null) : new w.kind(n).fill(0) });
  stats.made++;
  return todo.length > 0;
}

/** Whether the next refill follows a build from nothing (demands, and no spare taken since the last refill): it collects first. */
export function coldRefillDue(): boolean {
  return demand.length > 0 && stats.taken === takenAtLastRefill;
}

/**
 * A full garbage collection when an attempt took spares since the last one (it patched big
 * lists, so the generation before it is garbage now); false, doing nothing, otherwise. The
 * agent calls it once edits have paused (agent.ts QUIET_COLLECT_MS): an idle agent allocates
 * nothing, so nothing else would collect that garbage (MEASURED at 1M entries: 6 one-address
 * edits left the agent at 463 MB, 10 s later still, against 291 MB before them; the collection
 * takes ~80-160 ms, which no edit waits for unless it arrives just then).
 */
export function collectAfterEdits(): boolean {
  if (stats.taken === takenAtLastCollection) return false;
  takenAtLastCollection = stats.taken;
  Bun.gc(true);
  stats.collected++;
  return true;
}

/** The pool now (tests, benches): spares held, their items, how often a big array was taken, missed or made, and how many refills began with a collection. */
export function spareStats(): { held: number; items: number; taken: number; missed: number; made: number; collected: number } {
  return { held: spares.length, items: spares.reduce((s, a) => s + a.store.length, 0), ...stats };
}

/** Drops every spare and every demand (tests); `min`: the size from which lists use the pool (tests put small lists through it). */
export function clearSpares(min = SPARE_MIN_ITEMS): void {
  minItems = min;
  spares = [];
  demand = [];
  todo = [];
  stats.taken = stats.missed = stats.made = stats.collected = 0;
  takenAtLastRefill = 0;
  takenAtLastCollection = 0;
}
