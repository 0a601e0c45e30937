/**
 * An edit of a big network set's `nets:` list, read from the text alone (issue #13: "add the
 * attackers' CIDRs to the global network set" must not parse 20 MB again).
 *
 * At the full parse, `findItemBlock` checks once that the list is written as a run of lines
 * `<indent>- <token>`, one item per line, each token reading as the parsed item (nothing else
 * inside the run: no comment or blank lines, no multi-line scalars). On the next version of
 * the file, `editItems` finds the changed lines (the common prefix and suffix of the two
 * texts, widened to whole lines); when they lie inside that run and every new line is such an
 * item line whose token reads the same to every YAML parser (a CIDR-alphabet token that cannot
 * be a number, or a simply quoted one), the edit is a splice of the list and nothing else in
 * the file changed. Anything else answers undefined and the caller parses the whole file: the
 * result must be exactly what the full parse gives, so this refuses whatever it cannot prove.
 * `editBytes` does the same on the bytes of an ASCII file (the old version as runs of bytes,
 * the new one's buffer), decoding only the changed lines.
 */
import { maybeYaml11 } from "./key-scan-cursor.ts";
import { isAscii } from "node:buffer";
import { joinPieces } from "../source/source-file.ts";
import { LineStarts } from "./line-starts.ts";
import { plainYaml11Note } from "./yaml11.ts";

/** Where a block sequence of one-line items is written. */
export interface ItemBlock {
  /** Offset of the start of each item's line, item k at starts.at(k) (strictly increasing). */
  readonly starts: LineStarts;
  /** Offset just after the last item's line (after its newline, or the end of the text). */
  readonly end: number;
  /** Spaces before each item's `-`. */
  readonly indent: number;
  /** 1-based line of the first item (the lines before the list never change in an edit). */
  readonly firstLine: number;
}

/** The list's change between two texts: `removed` items at `index` replaced by `inserted`, and where the list is in the new text. */
export interface ItemEdit {
  readonly index: number;
  readonly removed: number;
  readonly inserted: string[];
  readonly block: ItemBlock;
}

const LF = 10;
const SP = 32;
const HASH = 35;
const DQ = 34;
const SQ = 39;
const DASH = 45;
const DOT = 46;
const SLASH = 47;
const COLON = 58;

/** [0-9A-Fa-f.:/]: what CIDRs and addresses are written with (a table: this runs a million times at the full parse). */
const CIDR_CHAR = new Uint8Array(128);
for (const c of "0123456789ABCDEFabcdef.:/") CIDR_CHAR[c.charCodeAt(0)] = 1;
const cidrChar = (c: number): boolean => c < 128 && CIDR_CHAR[c] === 1;

/**
 * The token of the item line `itemLine` read last: start and end of its value (inside the
 * quotes when quoted), and whether it was plain. Module state, not an object per line: the
 * full parse checks a million lines.
 */
let tokenFrom = 0;
let tokenTo = 0;
let tokenPlain = false;
/** Dots in a plain token (two or more: no YAML 1.1 form either, yaml11.ts). */
let tokenDots = 0;

/**
 * `<indent spaces>- <token>[ spaces][ #comment]` up to a newline or the end: the offset after
 * the line's newline (or the end of the text), or -1. A plain token must read as a string in
 * YAML 1.2 (it holds `/` or `:` or two dots, so it is no number) and must not end with `:`
 * (that would make it a mapping key); a quoted one holds CIDR characters only, so there is
 * nothing to unescape. Tabs, carriage returns and anything else: -1.
 */
function itemLine(text: string, at: number, indent: number): number {
  const n = text.length;
  let i = at;
  for (const stop = at + indent; i < stop; i++) if (text.charCodeAt(i) !== SP) return -1;
  if (text.charCodeAt(i) !== DASH || text.charCodeAt(i + 1) !== SP) return -1;
  i += 2;
  const q = text.charCodeAt(i);
  if (q === DQ || q === SQ) {
    tokenFrom = ++i;
    while (i < n && cidrChar(text.charCodeAt(i))) i++;
    if (i === tokenFrom || text.charCodeAt(i) !== q) return -1;
    tokenTo = i++;
    tokenPlain = false;
  } else {
    tokenFrom = i;
    let dots = 0;
    let sure = false; // a `/` or `:`: never a number
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (!cidrChar(c)) break;
      if (c === DOT) dots++;
      else if (c === SLASH || c === COLON) sure = true;
    }
    tokenTo = i;
    if (i === tokenFrom || !(sure || dots >= 2) || text.charCodeAt(i - 1) === COLON) return -1;
    tokenPlain = true;
    tokenDots = dots;
  }
  // After the token: the newline or the end, or spaces then one of those or a comment.
  if (i === n) return n;
  let c = text.charCodeAt(i);
  if (c === SP) {
    while (c === SP) c = text.charCodeAt(++i);
    if (i === n) return n;
    if (c === HASH) {
      const lf = text.indexOf("\n", i);
      return lf < 0 ? n : lf + 1;
    }
  }
  return c === LF ? i + 1 : -1;
}

/** Longer than any address or CIDR (an IPv4-mapped IPv6 prefix is 49): the full parse reads those. */
const MAX_TOKEN = 64;

/**
 * text[from..to) as a string of its own. A substring shares its parent's characters, so an
 * entry read that way would keep its whole version of the file (20 MB at 1M entries) alive for
 * as long as the entry stays in the list: one more file per edit.
 */
function ownString(text: string, from: number, to: number): string {
  const codes = new Array<number>(to - from);
  for (let i = from; i < to; i++) codes[i - from] = text.charCodeAt(i);
  return String.fromCharCode(...codes);
}

/** A run of item lines read without a YAML parser (fast-yaml.ts cuts a big `nets:` list out of the text it parses). */
export interface ScannedItems {
  /** Offset of the first item line, and just after the last one (after its newline, or the end). */
  readonly start: number;
  readonly end: number;
  /** Spaces before each `-`. */
  readonly indent: number;
  /** Each item's value (what the YAML parser would give: itemLine proves it), a string of its own. */
  readonly items: string[];
  /** Offset of each item's line. */
  readonly starts: Int32Array;
  /** The plain items a YAML 1.1 reader might read differently (key-scan-cursor.ts maybeYaml11), as the key scan notes them. */
  readonly plains: { offset: number; source: string }[];
}

/**
 * The item lines from the line at `at` on, as itemLine reads them (the first line's indent for
 * all); undefined when there are fewer than `min` of them. `slice` copies text[from, to) into a
 * string of its own (ownString does, ~0.7 µs an item; a Buffer of the same characters ~0.1 µs).
 */
export function scanItemLines(text: string, at: number, min: number, slice: (from: number, to: number) => string = (from, to) => ownString(text, from, to)): ScannedItems | undefined {
  let indent = 0;
  while (text.charCodeAt(at + indent) === SP) indent++;
  const items: string[] = [];
  const plains: { offset: number; source: string }[] = [];
  let starts = new Int32Array(4096);
  let i = at;
  for (;;) {
    const next = i < text.length ? itemLine(text, i, indent) : -1;
    if (next < 0) break;
    if (items.length === starts.length) {
      const grown = new Int32Array(starts.length * 2);
      grown.set(starts);
      starts = grown;
    }
    starts[items.length] = i;
    const token = slice(tokenFrom, tokenTo);
    items.push(token);
    if (tokenPlain && tokenDots < 2 && maybeYaml11(text, tokenFrom, tokenTo)) plains.push({ offset: tokenFrom, source: token });
    i = next;
  }
  return items.length >= min ? { start: at, end: i, indent, items, starts: starts.slice(0, items.length), plains } : undefined;
}

/**
 * The values of a block's items read again from its text: each item's token, which is its
 * value (scanItemLines and findItemBlock prove that of every line they accept); undefined when
 * a line no longer reads as an item (not the block's text). Substrings: the result is read
 * once and dropped (the caller keeps what it makes of it).
 */
export function blockValues(text: string, block: ItemBlock): string[] | undefined {
  return block.starts.length === 0 ? [] : tokensFrom(text, block.starts.at(0), block.indent, block.starts.length, (from, to) => text.substring(from, to));
}

/** The tokens of `count` item lines one after the other from offset `at` (a block's lines are); undefined where a line is not one. */
function tokensFrom(text: string, at: number, indent: number, count: number, slice: (from: number, to: number) => string): string[] | undefined {
  const out = new Array<string>(count);
  for (let k = 0; k < count; k++) {
    const next = itemLine(text, at, indent);
    if (next < 0) return undefined;
    out[k] = slice(tokenFrom, tokenTo);
    at = next;
  }
  return out;
}

/**
 * A big list of item lines need not hold its values once they were read (issue #13 item 7:
 * a million strings are ~40 MB, kept only so that the next edit's splice has them to copy):
 * the values are in the file's text, at the lines of the list's block. The parser registers
 * such a list (readableAgain); once the validated read of it is kept (the agent, once it is
 * validated), hollowOut empties it to holes with no storage (the 8 MB array of a million slots
 * goes too); whoever must read the items again (a full read after an edit whose splice could
 * not be followed) asks valuesOf, which reads them from the text. A list spliced from a hollow
 * one is hollow too (hollowList: its values are read from its own text when asked; the splice
 * record holds what it inserted).
 */
const readers = new WeakMap<readonly unknown[], () => string[] | undefined>();
/** Lists whose values are not (all) in the array: read them with valuesOf. */
const hollow = new WeakSet<readonly unknown[]>();
/** Lists hollowOut has emptied already (a hollowList is empty too, but is registered here only once hollowOut has seen it). */
const emptied = new WeakSet<readonly unknown[]>();

/** `items` can be read again as the block's values in `file`'s text (the version they were parsed from). */
export function readableAgain(items: readonly unknown[], file: { readonly text: string }, block: ItemBlock): void {
  readers.set(items, () => blockValues(file.text, block));
}

/** Drops the values of `items` (every slot a hole, no storage) when they can be read again and are not dropped yet; whether it did. */
export function hollowOut(items: unknown[]): boolean {
  if (!readers.has(items) || emptied.has(items)) return false;
  if (!hollow.has(items)) for (const v of items) if (v !== undefined) dropped++;
  const n = items.length;
  items.length = 0;
  items.length = n; // holes, read as undefined: a sparse array, no 8 MB of slots at a million
  hollow.add(items);
  emptied.add(items);
  hollowed++;
  return true;
}

/** Whether some of `items`' values were dropped (hollowOut, or spliced from a list they were dropped from). */
export function isHollow(items: readonly unknown[]): boolean {
  return hollow.has(items);
}

/** A splice of a hollow list, `n` long: holes only and no storage (its values are read from its text when asked, valuesOf). */
export function hollowList(n: number): unknown[] {
  const items: unknown[] = [];
  items.length = n;
  hollow.add(items);
  return items;
}

/**
 * The values of the `count` items from item `index` of a block, read from that version's text
 * or (ASCII) bytes: an edit's removed entries, which a list without values no longer holds.
 */
export function itemsIn(old: string | readonly ByteRun[], block: ItemBlock, index: number, count: number): string[] | undefined {
  if (count === 0) return [];
  const from = block.starts.at(index);
  const to = index + count < block.starts.length ? block.starts.at(index + count) : block.end;
  const text = typeof old === "string" ? old.slice(from, to) : runsText(old, from, to);
  // Own strings: kept with the list, not pieces of the old text.
  return tokensFrom(text, 0, block.indent, count, (a, b) => ownString(text, a, b));
}

/** The values an edit removed from the list it made `items` of (the splicer records them: readSplicedNets counts their host bits). */
const removedValues = new WeakMap<readonly unknown[], readonly string[]>();

/** Records the values an edit removed in making `items`. */
export function recordRemoved(items: readonly unknown[], values: readonly string[]): void {
  removedValues.set(items, values);
}

/** The values the edit that made `items` removed, when recorded. */
export function removedOf(items: readonly unknown[]): readonly string[] | undefined {
  return removedValues.get(items);
}

let readAgain = 0;
let hollowed = 0;
let dropped = 0;
/** How many lists were read again from their file (valuesOf of a hollow list; tests). */
export function readAgainCount(): number {
  return readAgain;
}

/** How many lists had their values dropped (hollowOut; tests). */
export function hollowedCount(): number {
  return hollowed;
}

/** How many values hollowOut has dropped (a list spliced from a hollow one holds none: it drops nothing). */
export function droppedValueCount(): number {
  return dropped;
}

/** The values of `items`: itself, or when it is hollow (isHollow) its values read again from its text, as a new array. */
export function valuesOf(items: readonly unknown[]): readonly unknown[] {
  if (!hollow.has(items)) return items;
  readAgain++;
  const values = readers.get(items)?.();
  if (!values || values.length !== items.length) throw new Error("internal error: a network set's entries could not be read again from its file");
  return values;
}

/** The block of a list read by scanItemLines (what findItemBlock gives for the same lines, without reading them again). */
export function itemBlockOf(text: string, list: ScannedItems): ItemBlock | undefined {
  return blockOf(text, list.starts, list.end, list.indent);
}

/** The token's value equals `s`, compared in place (no substring per item at a million items). */
function sameText(text: string, from: number, to: number, s: unknown): boolean {
  if (typeof s !== "string" || s.length !== to - from) return false;
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) !== text.charCodeAt(from + k)) return false;
  return true;
}

/**
 * The run of item lines holding `items`, the first item's value at `firstOffset`, when every
 * item is written on its own line as `itemLine` accepts and reads as the item; undefined
 * otherwise. Anchors and aliases outside the run (the list or the resource could be shared
 * with another node) and an item line right after the run also answer undefined.
 */
export function findItemBlock(text: string, firstOffset: number, items: readonly unknown[]): ItemBlock | undefined {
  if (items.length === 0) return undefined;
  const lineStart = text.lastIndexOf("\n", firstOffset - 1) + 1;
  const indent = firstOffset - 2 - lineStart;
  if (indent < 0) return undefined;
  const starts = new Int32Array(items.length);
  let at = lineStart;
  for (let k = 0; k < items.length; k++) {
    const next = itemLine(text, at, indent);
    if (next < 0 || !sameText(text, tokenFrom, tokenTo, items[k])) return undefined;
    starts[k] = at;
    at = next;
  }
  if (at < text.length && itemLine(text, at, indent) >= 0) return undefined;
  return blockOf(text, starts, at, indent);
}

/** The block of item lines at `starts` up to `end`, unless an anchor or alias outside them could share the list with another node. */
function blockOf(text: string, starts: Int32Array, end: number, indent: number): ItemBlock | undefined {
  const lineStart = starts[0]!;
  for (const ch of ["&", "*"]) if (text.lastIndexOf(ch, lineStart - 1) >= 0 || text.indexOf(ch, end) >= 0) return undefined;
  let firstLine = 1;
  for (let i = text.indexOf("\n"); i >= 0 && i < lineStart; i = text.indexOf("\n", i + 1)) firstLine++;
  return { starts: LineStarts.of(starts), end, indent, firstLine };
}

/**
 * Length of the common prefix: 4096-character chunks compared as strings (a memcmp; ~1 ms for
 * 20 MB where a charCodeAt loop takes ~17 ms), then characters in the first chunk that differs.
 */
export function commonPrefix(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  const CHUNK = 4096;
  let i = 0;
  while (i < n) {
    const e = Math.min(i + CHUNK, n);
    if (a.substring(i, e) !== b.substring(i, e)) break;
    i = e;
  }
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** Length of the common suffix, at most `limit`, the same way. */
export function commonSuffix(a: string, b: string, limit: number): number {
  const CHUNK = 4096;
  let s = 0;
  while (s < limit) {
    const e = Math.min(s + CHUNK, limit);
    if (a.substring(a.length - e, a.length - s) !== b.substring(b.length - e, b.length - s)) break;
    s = e;
  }
  while (s < limit && a.charCodeAt(a.length - 1 - s) === b.charCodeAt(b.length - 1 - s)) s++;
  return s;
}

/**
 * The splice of the list that turns `before` (whose list is at `block`) into `after`, when the
 * texts differ only in whole item lines of that list and every new line is a plain item line;
 * undefined for anything else (including an edit that empties the list: `nets:` alone is null).
 */
export function editItems(before: string, after: string, block: ItemBlock): ItemEdit | undefined {
  const p = commonPrefix(before, after);
  if (p === before.length && p === after.length) return undefined; // the same text: not an edit
  const s = commonSuffix(before, after, Math.min(before.length, after.length) - p);
  // Widen to whole lines: back to the start of p's line, forward until both texts are at a line start.
  const ls = p === 0 ? 0 : before.lastIndexOf("\n", p - 1) + 1;
  let oldEnd = before.length - s;
  let newEnd = after.length - s;
  const atLineStart = (t: string, i: number) => i === 0 || i === t.length || t.charCodeAt(i - 1) === LF;
  if (!(atLineStart(before, oldEnd) && atLineStart(after, newEnd))) {
    const lf = before.indexOf("\n", oldEnd);
    const d = (lf < 0 ? before.length : lf + 1) - oldEnd;
    oldEnd += d;
    newEnd += d;
  }
  return spliceLines(after, 0, ls, oldEnd, newEnd, block);
}

/** What editBytes found: the edit, and the new lines as text (after[ls..newEnd), ASCII). */
export interface BytesEdit extends ItemEdit {
  /** Where the changed lines start (the same offset in both versions). */
  readonly ls: number;
  /** Where they end in the old version and in the new one. */
  readonly oldEnd: number;
  readonly newEnd: number;
  /** The new version's bytes ls..newEnd, decoded (ASCII: one character per byte). */
  readonly lines: string;
}

/** A run of an ASCII text's bytes: `s[from..to)` (fast-yaml.ts keeps a version's text as such runs of earlier versions' bytes). */
export interface ByteRun {
  readonly s: Uint8Array;
  readonly from: number;
  readonly to: number;
}

/**
 * editItems on the bytes of two versions of an ASCII file (byte offsets are character
 * offsets there), decoding only the changed lines: the common prefix and suffix are compared
 * natively (a memcmp, ~2 ms for 19 MB). The old version is given as runs of bytes (its text
 * as fast-yaml.ts keeps it: pieces of earlier versions' buffers and inserted lines), compared
 * run by run. Undefined also when the changed lines are not ASCII:
 * then the new version's text is not known from its bytes piecewise, and the caller decodes
 * it all. (The lines before and after the change are the old version's, known ASCII, and an
 * ASCII byte always ends what a UTF-8 decoder was reading, so the new text is the old text's
 * prefix, these lines and its suffix, exactly.)
 */
export function editBytes(before: readonly ByteRun[], after: Uint8Array, block: ItemBlock): BytesEdit | undefined {
  const runs = before.map((r) => r.s.subarray(r.from, r.to));
  const total = runs.reduce((n, r) => n + r.length, 0);
  let p = 0;
  for (const r of runs) {
    const k = commonPrefixBytes(r, after.subarray(p, p + r.length));
    p += k;
    if (k < r.length) break;
  }
  if (p === total && p === after.length) return undefined;
  const limit = Math.min(total, after.length) - p;
  let s = 0;
  for (let j = runs.length - 1; j >= 0 && s < limit; j--) {
    const r = runs[j]!;
    const want = Math.min(r.length, limit - s);
    const k = commonSuffixBytes(r.subarray(r.length - want), after.subarray(0, after.length - s), want);
    s += k;
    if (k < want) break;
  }
  const ls = p === 0 ? 0 : lastLineFeed(runs, p - 1) + 1;
  let oldEnd = total - s;
  let newEnd = after.length - s;
  const oldLineStart = oldEnd === 0 || oldEnd === total || byteAt(runs, oldEnd - 1) === LF;
  if (!(oldLineStart && (newEnd === 0 || newEnd === after.length || after[newEnd - 1] === LF))) {
    const lf = nextLineFeed(runs, oldEnd);
    const d = (lf < 0 ? total : lf + 1) - oldEnd;
    oldEnd += d;
    newEnd += d;
  }
  if (newEnd - ls > MAX_EDIT_BYTES) return undefined; // a big edit: the full parse is as fast
  const changed = after.subarray(ls, newEnd);
  if (!isAscii(changed)) return undefined;
  const lines = Buffer.from(changed.buffer, changed.byteOffset, changed.length).toString("latin1");
  const edit = spliceLines(lines, ls, ls, oldEnd, newEnd, block);
  return edit && { ...edit, ls, oldEnd, newEnd, lines };
}

/** The byte at offset `at` of the runs' concatenation. */
function byteAt(runs: readonly Uint8Array[], at: number): number | undefined {
  for (const r of runs) {
    if (at < r.length) return r[at];
    at -= r.length;
  }
  return undefined;
}

/** The offset of the last line feed at or before `at` in the runs' concatenation, or -1. */
function lastLineFeed(runs: readonly Uint8Array[], at: number): number {
  let base = runs.reduce((n, r) => n + r.length, 0);
  for (let j = runs.length - 1; j >= 0; j--) {
    const r = runs[j]!;
    base -= r.length;
    if (at < base) continue;
    const i = r.lastIndexOf(LF, at - base);
    if (i >= 0) return base + i;
    at = base - 1;
  }
  return -1;
}

/** The offset of the first line feed at or after `at` in the runs' concatenation, or -1. */
function nextLineFeed(runs: readonly Uint8Array[], at: number): number {
  let base = 0;
  for (const r of runs) {
    if (at < base + r.length) {
      const i = r.indexOf(LF, Math.max(0, at - base));
      if (i >= 0) return base + i;
    }
    base += r.length;
  }
  return -1;
}

/** The text of the runs' concatenation from `from` to `to` (ASCII: latin1), read run by run. */
export function runsText(runs: readonly ByteRun[], from: number, to: number): string {
  const out: Uint8Array[] = [];
  let base = 0;
  for (const r of runs) {
    const n = r.to - r.from;
    const a = Math.max(from, base);
    const b = Math.min(to, base + n);
    if (a < b) out.push(r.s.subarray(r.from + a - base, r.from + b - base));
    base += n;
  }
  return joinPieces(out);
}

/** Changed lines read from bytes at most: beyond, decoding them costs about what a full parse's decode does. */
const MAX_EDIT_BYTES = 4 << 20;

/**
 * The splice for the changed lines ls..oldEnd of the old version, now ls..newEnd of the new,
 * whose text `after` holds from offset `base` on (the whole new text, base 0, or just the
 * changed lines, base ls).
 */
function spliceLines(after: string, base: number, ls: number, oldEnd: number, newEnd: number, block: ItemBlock): ItemEdit | undefined {
  const { starts, end, indent, firstLine } = block;
  const count = starts.length;
  if (ls < starts.at(0) || oldEnd > end) return undefined;
  const index = starts.lowerBound(ls);
  if (index < count ? starts.at(index) !== ls : ls !== end) return undefined;
  const stop = starts.lowerBound(oldEnd);
  if (stop < count ? starts.at(stop) !== oldEnd : oldEnd !== end) return undefined;
  const removed = stop - index;
  const inserted: string[] = [];
  const insertedStarts: number[] = [];
  for (let at = ls - base; at < newEnd - base; ) {
    const next = itemLine(after, at, indent);
    if (next < 0 || next > newEnd - base) return undefined;
    if (tokenTo - tokenFrom > MAX_TOKEN) return undefined;
    const token = ownString(after, tokenFrom, tokenTo);
    if (tokenPlain && plainYaml11Note(token, tokenFrom)) return undefined; // the full parse would warn
    inserted.push(token);
    insertedStarts.push(at + base);
    at = next;
  }
  if (count - removed + inserted.length === 0) return undefined;
  // The lines after the edit moved by the size change.
  const delta = newEnd - oldEnd;
  const next = starts.splice(index, removed, Int32Array.from(insertedStarts), delta);
  return { index, removed, inserted, block: { starts: next, end: end + delta, indent, firstLine } };
}

/** Chunk sizes the common prefix and suffix are narrowed with: few native calls, none allocating (a subarray per chunk cost ~10 ms per 19 MB). */
const CHUNKS = [1 << 20, 1 << 14, 1 << 8];
const asBuffer = (a: Uint8Array): Buffer => (Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.length));

/**
 * Length of the common prefix of two byte arrays: chunks of 1 MiB, then 16 KiB, then 256 bytes
 * compared natively (Buffer#compare of ranges: a memcmp), then bytes in the first 256 that differ.
 */
export function commonPrefixBytes(a: Uint8Array, b: Uint8Array): number {
  const x = asBuffer(a);
  const y = asBuffer(b);
  const n = Math.min(x.length, y.length);
  let i = 0;
  for (const chunk of CHUNKS) {
    while (i < n) {
      const e = Math.min(i + chunk, n);
      if (x.compare(y, i, e, i, e) !== 0) break;
      i = e;
    }
  }
  while (i < n && x[i] === y[i]) i++;
  return i;
}

/** Length of the common suffix of two byte arrays, at most `limit`, the same way. */
export function commonSuffixBytes(a: Uint8Array, b: Uint8Array, limit: number): number {
  const x = asBuffer(a);
  const y = asBuffer(b);
  let s = 0;
  for (const chunk of CHUNKS) {
    while (s < limit) {
      const e = Math.min(s + chunk, limit);
      if (x.compare(y, y.length - e, y.length - s, x.length - e, x.length - s) !== 0) break;
      s = e;
    }
  }
  while (s < limit && x[x.length - 1 - s] === y[y.length - 1 - s]) s++;
  return s;
}
