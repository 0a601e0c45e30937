/**
 * A fast path for large files (a GlobalNetworkSet of a million prefixes is ~20 MB of YAML):
 * Bun's native YAML parser reads it in ~0.6 s where eemeli/yaml with positions needs ~6.5 s
 * and ~1 GB (measured, bench/RESULTS.md). Positions are only needed when a diagnostic is
 * reported, so the positioned parse runs lazily, on the first `locate` call, and maps the
 * n-th resource of one parse to the n-th of the other (both flatten the same way).
 *
 * Bun's parser lets a duplicate mapping key win silently and has no YAML 1.1 lint, so one
 * pass of key-scan.ts over the text finds both (DUPLICATE_KEY at the key, naming its first
 * place; AMBIGUOUS_SCALAR notes), as the positioned parser would (bench/key-scan.bench.ts
 * measures its cost). The resources are still read, with the last value of a repeated key,
 * as parse.ts does. A file the scanner cannot model, a tag (Bun ignores an unknown one, the
 * positioned parser reports it), and any syntax error (Bun's carry no position) fall back to
 * the positioned parser for the whole file. Diagnostics, positions and "quote it" hints are
 * exactly the positioned parser's (test/unit/fast-path-parity.test.ts compares both).
 *
 * A file holding one network set whose `nets:` list is written one item per line also gets an
 * `edited` reader (list-splice.ts): the parse cache hands it the file's next version, and an
 * edit of item lines only becomes a splice of the list instead of a parse of the whole file.
 */
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import { applySplice, markSplice } from "../derive.ts";
import { findPath, scanKeys } from "./key-scan.ts";
import { editBytes, editItems, findItemBlock, hollowList, isHollow, itemBlockOf, itemsIn, readableAgain, recordRemoved, scanItemLines, type ByteRun, type ItemBlock, type ItemEdit, type ScannedItems } from "./list-splice.ts";
import { parseFile } from "./parse.ts";
import type { Parsed } from "./parse-cache.ts";
import { joinPieces, type SourceFile, type TextPiece } from "../source/source-file.ts";
import type { FieldPath, RawResource } from "./resource.ts";
import { duplicateKeyMessage } from "./yaml-errors.ts";
import { plainYaml11Note } from "./yaml11.ts";

/**
 * Files at least this large take the fast path. Cold loadConfig of a network set, positioned
 * vs fast (median ms, 2-core machine): 1k entries (20 KB) 18 vs 2, 5k (100 KB) 42 vs 4, 20k
 * (400 KB) 149 vs 16, 100k (2.1 MB) 793 vs 74. The fast path wins at every size, but below this
 * it saves under ~25 ms a file, and hand-written files (where tags, anchors and mistakes are
 * common, and each diagnostic may cost a second parse for its position) keep the one parser.
 */
export const FAST_PATH_BYTES = 64 << 10;
/** A syntax error in a file up to this size is located by the positioned parser (~4 s at the limit). */
export const POSITIONED_FALLBACK_BYTES = 8 << 20;

export function parseLargeFile(file: SourceFile): Parsed | undefined {
  return file.text.length < FAST_PATH_BYTES ? undefined : parseFast(file);
}

/**
 * The fast path for a file of any size (parseLargeFile without the size check; tests compare
 * it with parse.ts): undefined where the positioned parser must read the file.
 */
export function parseFast(file: SourceFile): Parsed | undefined {
  if (positionedOnly(file.text)) return undefined;
  // An ASCII text's byte offsets are its character offsets: its edits can be read from bytes.
  const ascii = Buffer.byteLength(file.text, "utf8") === file.text.length;
  const cut = ascii ? cutList(file) : undefined;
  if (cut) {
    const parsed = parseText(file, ascii, cut);
    if (parsed !== "uncut") {
      cutCounts.cut++;
      return parsed;
    }
    cutCounts.uncut++;
  }
  const parsed = parseText(file, ascii, undefined);
  return parsed === "uncut" ? undefined : parsed;
}

/**
 * What Bun's parser reads otherwise than the positioned parser (each found by
 * test/unit/cut-list-fuzz.test.ts): a carriage return (a line break to Bun, part of a comment
 * or a scalar to YAML 1.2; a quoted scalar over CRLF folded to a line feed, not a space), a
 * byte order mark before a top-level sequence (an error in YAML 1.2), `<<` (Bun merges the
 * mapping in, YAML 1.2 keeps `<<` as a key: the field is then unknown, not applied), and a
 * document end marker `...` (Bun's documents and the key scan's no longer line up). A file
 * with any of them is read by the positioned parser, whatever its size (~2-5 ms to check at
 * 19 MB; an edit of a list's item lines never brings one in: list-splice.ts itemLine).
 */
function positionedOnly(text: string): boolean {
  return text.charCodeAt(0) === 0xfeff || text.includes("\r") || text.includes("<<") || text.startsWith("...") || text.includes("\n...");
}

/**
 * A big `nets:` list read by a line scan instead of the YAML parser (cold start at 1M entries:
 * Bun's parser ~0.65 s and the key scan with its YAML 1.1 lint ~0.55 s, against ~0.1-0.2 s for
 * the scan): the first `nets:` key alone on its line, followed by at least CUT_MIN_ITEMS item
 * lines that list-splice.ts itemLine reads (so each value is provably what the parser gives);
 * the YAML parser and the key scan then read the text with those lines replaced by one item,
 * STUB, and parseText puts the items in its place (and the plain items a YAML 1.1 reader might
 * read otherwise among the key scan's, as it would have noted them). Where the stub does not
 * land as a network set's whole `spec.nets`, the file is read uncut.
 */
interface Cut {
  /** The text the parser reads. */
  readonly text: string;
  readonly list: ScannedItems;
  /** An offset in `text` → the same place in the file. */
  readonly shift: (offset: number) => number;
}

/** Item lines at least this many are cut out (fewer: the parser is as fast). */
export const CUT_MIN_ITEMS = 1024;
/** The one item the cut list is replaced by: plain, and in no file (checked). */
const STUB = "hostwall-cut-list-0d3b7e";

const cutCounts = { cut: 0, uncut: 0 };
/** How often a list was cut out of the parse, and how often a cut was found not to hold (tests). */
export function cutStats(): { cut: number; uncut: number } {
  return { ...cutCounts };
}

function cutList(file: SourceFile): Cut | undefined {
  const text = file.text;
  const key = /^ *nets: *$/m.exec(text);
  if (!key || text.charCodeAt(key.index + key[0].length) !== 10) return undefined;
  const at = key.index + key[0].length + 1;
  // Items as strings of their own, from the bytes (ASCII: offsets agree), not substrings of the 20 MB text.
  const bytes = file.bytes && file.bytes.length === text.length ? Buffer.from(file.bytes.buffer, file.bytes.byteOffset, file.bytes.length) : Buffer.from(text, "latin1");
  const list = scanItemLines(text, at, CUT_MIN_ITEMS, (from, to) => bytes.toString("latin1", from, to));
  if (!list || text.includes(STUB)) return undefined;
  const stub = `${" ".repeat(list.indent)}- ${STUB}${text.charCodeAt(list.end - 1) === 10 ? "\n" : ""}`;
  const delta = list.end - list.start - stub.length;
  const after = list.start + stub.length;
  return { text: text.slice(0, list.start) + stub + text.slice(list.end), list, shift: (o) => (o >= after ? o + delta : o) };
}

/** The fast path's parse of the file, the list cut out of it or not; "uncut" where the cut does not hold (see Cut). */
function parseText(file: SourceFile, ascii: boolean, cut: Cut | undefined): Parsed | undefined | "uncut" {
  let value: unknown;
  try {
    value = Bun.YAML.parse(cut ? cut.text : file.text);
  } catch (e) {
    if (cut) return "uncut";
    // Let the positioned parser report the error where it is, unless the file is so large that
    // finding the place would block the agent for many seconds (and a gigabyte).
    if (file.text.length <= POSITIONED_FALLBACK_BYTES) return undefined;
    const mb = (file.text.length / 1048576).toFixed(1);
    const message = `${String((e as Error).message).replace(/^YAML Parse error: /, "")}; the file is ${mb} MiB, too large to locate the error (that would take the positioned parser ~0.5 s and ~60 MB per MiB): check it with a YAML linter, or split it into files under ${POSITIONED_FALLBACK_BYTES / 1048576} MiB`;
    return { resources: [], diagnostics: [{ code: "YAML_SYNTAX", severity: "error", message, file: file.path, line: 1, column: 1 }] };
  }
  const scanned = scanKeys(cut ? cut.text : file.text);
  if (cut && !scanned.ok) return "uncut";
  const scan = cut && scanned.ok ? uncutScan(scanned, cut) : scanned;
  // A tag is read by the positioned parser, which resolves it or reports it as unknown.
  if (!scan.ok || scan.tagged) return undefined;
  const pos = linePositions(() => file.text);
  const diagnostics: Diagnostic[] = [];
  // In parse.ts's order: each document's duplicate keys, then its YAML 1.1 notes.
  let d = 0;
  let p = 0;
  for (let doc = 0; doc < scan.docStarts.length; doc++) {
    const end = scan.docStarts[doc + 1] ?? Infinity;
    for (; d < scan.duplicates.length && scan.duplicates[d]!.offset < end; d++) {
      const dup = scan.duplicates[d]!;
      diagnostics.push({ code: "DUPLICATE_KEY", severity: "error", message: duplicateKeyMessage(dup, pos(dup.firstOffset)), file: file.path, ...pos(dup.offset) });
    }
    for (; p < scan.plains.length && scan.plains[p]!.offset < end; p++) {
      const plain = scan.plains[p]!;
      const note = plainYaml11Note(plain.source, plain.offset);
      if (note) diagnostics.push({ code: "AMBIGUOUS_SCALAR", severity: "warning", message: note.message, file: file.path, ...pos(note.offset) });
    }
  }
  // Bun's parser gives one value for one document and an array for several.
  const docs = scan.docs >= 2 && Array.isArray(value) ? value : [value];
  const items = docs.flatMap((v, doc) => flatten(v, doc, []));
  if (cut) {
    const spec = items.length === 1 && isObj(items[0]!.value) && (items[0]!.value.kind === "GlobalNetworkSet" || items[0]!.value.kind === "NetworkSet") ? items[0]!.value.spec : undefined;
    if (!isObj(spec) || !Array.isArray(spec.nets) || spec.nets.length !== 1 || spec.nets[0] !== STUB) return "uncut";
    spec.nets = cut.list.items;
  }
  const shared: Shared = { pos, duplicates: scan.duplicates.map((dup) => dup.path) };
  const only = items.length === 1 && diagnostics.length === 0 ? items[0]! : undefined;
  // A cut list's lines were read by the scan already: its block is theirs.
  const block = only && (cut ? itemBlockOf(file.text, cut.list) : netsBlock(file.text, only.value, only.doc, only.prefix));
  const resources = items.map((item, i): RawResource => ({
    value: item.value,
    file: file.path,
    locate: locator(file, item.doc, item.prefix, i, shared, block),
    plainSource: plainSource(file, item.doc, item.prefix, item.value, i, shared),
  }));
  if (only && block) {
    // No spare is announced for it: the agent drops its values once validated, and the splice of a list without values copies nothing (list-splice.ts hollowList).
    readableAgain((only.value as NetworkSetValue).spec.nets, file, block);
  }
  if (!only || !block) return { resources, diagnostics };
  const whole = wholeText(file, ascii);
  return { resources, diagnostics, edited: splicer(whole.pieces, ascii, block, only.value as NetworkSetValue, only.doc, only.prefix), holdsBytes: whole.holdsBytes };
}

/** The key scan of a cut text as the scan of the file: offsets shifted back, the cut list's YAML 1.1 candidates in their place. */
function uncutScan(scan: Extract<ReturnType<typeof scanKeys>, { ok: true }>, cut: Cut): typeof scan {
  const { shift, list } = cut;
  const plains = scan.plains.map((p) => ({ ...p, offset: shift(p.offset) }));
  const before = plains.filter((p) => p.offset < list.start);
  return {
    ...scan,
    duplicates: scan.duplicates.map((d) => ({ ...d, offset: shift(d.offset), firstOffset: shift(d.firstOffset) })),
    plains: [...before, ...list.plains, ...plains.slice(before.length)],
    docStarts: scan.docStarts.map(shift),
  };
}

/** What the resources of one file share: its line index and, once needed, the positioned parse. */
interface Shared {
  pos: (offset: number) => { line: number; column: number };
  /** Paths of the mappings that repeat a key (findPath stops at the first, the value is the last's). */
  duplicates?: readonly FieldPath[];
  positioned?: RawResource[];
}

/** The positioned parse of the file, once; its n-th resource is the fast path's n-th. */
function positioned(file: SourceFile, shared: Shared, n: number): RawResource | undefined {
  shared.positioned ??= parseFile(file).resources;
  return shared.positioned[n];
}

/** findPath's offset for a path, unless a repeated key on the way makes the first match the wrong one. */
function scanOffset(file: SourceFile, doc: number, full: FieldPath, shared: Shared, key?: boolean): number | undefined {
  if (shared.duplicates?.some((at) => at.length <= full.length && at.every((seg, i) => seg === full[i]))) return undefined;
  return findPath(file.text, doc, full, key);
}

/** A plain scalar's text ends at a space, a line break or a flow indicator (a number's or boolean's always does). */
const PLAIN_WORD = /[^\s,[\]{}]+/y;

/**
 * The n-th resource's `plainSource` (the "quote it: '010'" hint for a number where a string
 * belongs). A number or boolean read from a plain scalar is one word where findPath
 * puts its node; anything else asks the positioned parser.
 */
function plainSource(file: SourceFile, doc: number, prefix: FieldPath, value: unknown, n: number, shared: Shared): NonNullable<RawResource["plainSource"]> {
  return (path) => {
    let v = value;
    for (const seg of path) v = isObj(v) || Array.isArray(v) ? (v as Record<string | number, unknown>)[seg] : undefined;
    if (typeof v === "number" || typeof v === "boolean") {
      const offset = scanOffset(file, doc, [...prefix, ...path], shared);
      const c = offset === undefined ? undefined : file.text[offset];
      if (c !== undefined && !"\"'|>[{*&!#".includes(c)) {
        PLAIN_WORD.lastIndex = offset!;
        const m = PLAIN_WORD.exec(file.text);
        if (m) return m[0];
      }
    }
    return positioned(file, shared, n)?.plainSource?.(path);
  };
}

/**
 * The n-th resource's `locate`. It holds the text and the resource's place, never the parsed
 * value: the model keeps `locate` (each resource's origin) long after the value is dropped.
 * With the resource's `nets:` block (one entry per line), an entry's position is known without
 * a scan to it (to entry 900,000 of a million: ~0.5 s) or an index of the file's lines.
 */
function locator(file: SourceFile, doc: number, prefix: FieldPath, n: number, shared: Shared, block?: ItemBlock): RawResource["locate"] {
  return (path, opts) => {
    const k = path[2];
    // The list itself (the host-bit summary's place): its first "-", without a line index of the file.
    if (block && !opts?.key && opts?.at === undefined && path.length === 2 && path[0] === "spec" && path[1] === "nets") return { line: block.firstLine, column: block.indent + 1 };
    if (block && !opts?.key && opts?.at === undefined && path.length === 3 && path[0] === "spec" && path[1] === "nets" && typeof k === "number" && Number.isInteger(k) && k >= 0 && k < block.starts.length) {
      return { line: block.firstLine + k, column: block.indent + 3 }; // after "- ": the entry's node, as findPath gives it
    }
    // Most positions (a bad entry among a million, a resource's start) are found by one
    // scan that stops at them; anything else costs the positioned parse, once.
    if (opts?.at === undefined) {
      const offset = scanOffset(file, doc, [...prefix, ...path], shared, opts?.key);
      if (offset !== undefined) return shared.pos(offset);
    }
    return positioned(file, shared, n)?.locate(path, opts) ?? { line: 1, column: 1 };
  };
}

type Obj = Record<string, unknown>;
type NetworkSetValue = Obj & { spec: Obj & { nets: unknown[] } };
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Where the `nets:` list of a file's only resource, a network set, is written one item per line (list-splice.ts). */
function netsBlock(text: string, value: unknown, doc: number, prefix: FieldPath): ItemBlock | undefined {
  if (!isObj(value) || (value.kind !== "GlobalNetworkSet" && value.kind !== "NetworkSet") || !isObj(value.spec)) return undefined;
  const nets = value.spec.nets;
  if (!Array.isArray(nets) || nets.length === 0) return undefined;
  const first = findPath(text, doc, [...prefix, "spec", "nets", 0]);
  return first === undefined ? undefined : findItemBlock(text, first, nets);
}

/**
 * A version's text as runs of earlier versions' texts and the lines edits inserted (an edit read
 * from bytes never decodes the whole file). For an ASCII file read as bytes the runs are bytes:
 * the buffer the file was first read into (the parse cache never recycles one a text holds:
 * Parsed.holdsBytes) and each edit's own copy of its lines, so the text is never also held as
 * a decoded string (~19 MB at a million entries); a text read otherwise is strings.
 */
interface Piece {
  readonly s: string | Uint8Array;
  readonly from: number;
  readonly to: number;
}

/**
 * Byte pieces beyond this are one run again: the new version's own buffer, which its text then
 * holds (the reader makes another spare while idle, once every few dozen edits). A text read
 * from its string is always one piece, that string.
 */
const MAX_PIECES = 64;

/** Each piece's run: a substring, or a view of the bytes (source-file.ts TextPiece). */
const runsOf = (pieces: readonly Piece[]): TextPiece[] => pieces.map((q) => (typeof q.s === "string" ? q.s.substring(q.from, q.to) : q.s.subarray(q.from, q.to)));

const textOf = (pieces: readonly Piece[]): string => joinPieces(runsOf(pieces));

const allBytes = (pieces: readonly Piece[]): pieces is readonly ByteRun[] => pieces.every((q) => typeof q.s !== "string");

/**
 * The one piece of a whole text: the file's bytes when it was read as bytes and is ASCII (the
 * text then holds them: an ASCII text decoded from bytes has one byte per character), else its text.
 */
function wholeText(file: SourceFile, ascii: boolean): { pieces: Piece[]; holdsBytes: boolean } {
  const b = file.bytes;
  if (ascii && b) return { pieces: [{ s: b, from: 0, to: b.length }], holdsBytes: true };
  return { pieces: [{ s: file.text, from: 0, to: file.text.length }], holdsBytes: false };
}

/** `pieces` with the text from `at` to `end` replaced by `lines`. */
function replacePieces(pieces: readonly Piece[], at: number, end: number, lines: string | Uint8Array): Piece[] {
  const head: Piece[] = [];
  const tail: Piece[] = [];
  let a = 0;
  for (const p of pieces) {
    const b = a + p.to - p.from;
    if (a < at) head.push(b <= at ? p : { s: p.s, from: p.from, to: p.from + at - a });
    if (b > end) tail.push(a >= end ? p : { s: p.s, from: p.from + end - a, to: p.to });
    a = b;
  }
  return lines.length > 0 ? [...head, { s: lines, from: 0, to: lines.length }, ...tail] : [...head, ...tail];
}

/**
 * The edited version as the full parse would read it: the same value with `spec.nets` spliced
 * (a copy of the resource and its spec, everything else shared), no diagnostics (the old text
 * had none and the new lines are plain items), positions read from the new text. With this
 * version's text as bytes (an ASCII file read as bytes), the edit is read from the new bytes
 * against those (editBytes) and the new text is left to be assembled from pieces if anything asks.
 */
function splicer(pieces: readonly Piece[], ascii: boolean, block: ItemBlock, value: NetworkSetValue, doc: number, prefix: FieldPath): NonNullable<Parsed["edited"]> {
  return (file) => {
    const after = ascii && allBytes(pieces) ? file.bytes : undefined;
    let edit: ItemEdit | undefined;
    let old: string | readonly ByteRun[];
    let next: Piece[];
    let nextAscii: boolean;
    let holdsBytes = false;
    // A file shrunk below the limit is parsed by the positioned parser: let it.
    if (after && after.length < FAST_PATH_BYTES) return undefined;
    const e = after && editBytes(pieces as readonly ByteRun[], after, block);
    if (e) {
      edit = e;
      old = pieces as readonly ByteRun[];
      // The new lines as bytes of their own (a copy: the file's buffer goes back to the reader; Buffer#slice would be a view).
      next = replacePieces(pieces, e.ls, e.oldEnd, new Uint8Array(after.subarray(e.ls, e.newEnd)));
      if (next.length > MAX_PIECES) ({ pieces: next, holdsBytes } = wholeText(file, true));
      nextAscii = true;
    } else {
      // No bytes, or an edit editBytes does not read (non-ASCII lines among them): from the text.
      if (file.text.length < FAST_PATH_BYTES) return undefined;
      old = textOf(pieces);
      edit = editItems(old, file.text, block);
      nextAscii = Buffer.byteLength(file.text, "utf8") === file.text.length;
      ({ pieces: next, holdsBytes } = wholeText(file, nextAscii));
    }
    if (!edit) return undefined;
    const from = value.spec.nets;
    // A splice of a list without values has none either (nothing copied: no million-slot array per edit).
    const nets = isHollow(from) ? hollowList(from.length - edit.removed + edit.inserted.length) : applySplice(from, edit.index, edit.removed, edit.inserted);
    markSplice(nets, { from, index: edit.index, removed: edit.removed, inserted: edit.inserted });
    readableAgain(nets, file, edit.block);
    // What the edit removed, read from the old version (few lines): the list it came from may hold no values.
    const gone = itemsIn(old, block, edit.index, edit.removed);
    if (gone) recordRemoved(nets, gone);
    const value2 = { ...value, spec: { ...value.spec, nets } };
    const shared: Shared = { pos: linePositions(textOfFile(file)) };
    const resource: RawResource = { value: value2, file: file.path, locate: locator(file, doc, prefix, 0, shared, edit.block), plainSource: plainSource(file, doc, prefix, value2, 0, shared) };
    const parsed: Parsed = { resources: [resource], diagnostics: [], edited: splicer(next, nextAscii, edit.block, value2, doc, prefix), holdsBytes };
    return e && !holdsBytes ? { ...parsed, source: sourceOf(next) } : parsed;
  };
}

// No closure is made inside a splicer's returned function: its scope's parent is the splicer's
// (the earlier version's value and pieces), which such a closure, kept by the new version's
// resource, would keep alive, and through it every version before (a chain).
const textOfFile = (file: SourceFile) => () => file.text;
const sourceOf = (next: readonly Piece[]) => () => runsOf(next);

/** Offset → 1-based line and column; the index of line starts is built on the first call. */
function linePositions(textOf: () => string): (offset: number) => { line: number; column: number } {
  let starts: number[] | undefined;
  return (offset) => {
    if (!starts) {
      const text = textOf();
      starts = [0];
      for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
    }
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - starts[lo]! + 1 };
  };
}

/**
 * A document's value → its resources, as parse.ts unwraps them (top-level sequences, typed
 * `<Kind>List`s and `kind: List`), each with its document and path from the document's root.
 */
function flatten(value: unknown, doc: number, prefix: (string | number)[]): { value: unknown; doc: number; prefix: (string | number)[] }[] {
  // An empty document is nothing; an empty entry of a top-level sequence or a List is a resource (a null one: parse.ts unwrap).
  if (value === undefined || (value === null && prefix.length === 0)) return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => flatten(v, doc, [...prefix, i]));
  if (typeof value === "object" && value !== null) {
    const v = value as Record<string, unknown>;
    if (typeof v.kind === "string" && /List$/.test(v.kind) && Array.isArray(v.items)) return v.items.flatMap((item, i) => flatten(item, doc, [...prefix, "items", i]));
  }
  return [{ value, doc, prefix }];
}
