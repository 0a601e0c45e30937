/**
 * The text side of key-scan.ts: a cursor over the file with the pieces both contexts share
 * (line ends, comments, quoted and plain scalars), the bookkeeping of keys per mapping, and
 * how keys compare. Anything the scanner does not model is thrown as Unsupported.
 */
import { parse } from "yaml";
import type { FieldPath } from "./resource.ts";
import type { DuplicateKey } from "./yaml-errors.ts";

/**
 * YAML 1.2 ends an implicit key at most 1024 characters after its start (the positioned
 * parser reports KEY_OVER_1024_CHARS, Bun reads the key): a key a little shorter than that
 * leaves the file to the positioned parser.
 */
export const MAX_KEY = 1000;

export class Unsupported extends Error {
  constructor(
    readonly why: string,
    readonly offset: number,
  ) {
    super(why);
  }
}

/** What findPath looks for: the node at `path` (keys and indexes from the root of document `doc`), or its key. */
export interface Target {
  /** 0-based document index, counted as Bun's parser and the positioned parser count them. */
  doc: number;
  /** Path from the document's root. */
  path: FieldPath;
  /** The key's offset instead of the value's. */
  key: boolean;
}

/** Thrown to stop a findPath scan: the target's offset, or -1 when it cannot be in the rest of the text. */
export class Found {
  constructor(readonly offset: number) {}
}

/** A block or flow collection being scanned: a mapping (keys seen) or a sequence (entry index). */
export interface Frame {
  /** A mapping (else a sequence). */
  map: boolean;
  /** Column of a block collection's keys or `-`; -1 for flow collections. */
  col: number;
  /** Key id → offset of its first occurrence (mappings). */
  keys: Map<string, number>;
  /** The key whose value is being scanned (mappings), for paths. */
  last?: string;
  /** Entry index (sequences). */
  index: number;
}

export const LF = 10;
export const CR = 13;
export const SP = 32;
export const TAB = 9;

export class Cursor {
  readonly duplicates: DuplicateKey[] = [];
  /** Plain scalars that may read differently in YAML 1.1 (yaml11.ts decides). */
  readonly plains: { offset: number; source: string }[] = [];
  pos = 0;
  lineStart = 0;
  /** Set by findPath: the node to find; absent when scanning for duplicates. */
  target?: Target;
  /**
   * A tag (`!t`, `!!str`) was seen. Bun's parser drops an unknown one without a word where the
   * positioned parser reports it, and a known one changes the value and its YAML 1.1 note.
   */
  tagged = false;
  /** Index of the document being scanned (-1 before the first). */
  doc = -1;
  /**
   * The target's value is on the lines after its key or `-`, if the next node is nested there
   * (deeper than `col`, or a `- ` at `col` after a key); else it is empty, at `offset`.
   */
  answerNext?: { offset: number; col: number; sameColumnSequence: boolean };

  constructor(readonly text: string) {
    if (text.charCodeAt(0) === 0xfeff) this.pos = 1;
  }

  fail(why: string): never {
    throw new Unsupported(why, this.pos);
  }

  at(i = this.pos): number {
    return this.text.charCodeAt(i);
  }

  /** End of line (or of text): LF, CR, or NaN. */
  eol(c: number): boolean {
    return c === LF || c === CR || c !== c;
  }

  blank(c: number): boolean {
    return c === SP || c === TAB || this.eol(c);
  }

  skipSpaces(): void {
    let c = this.at();
    while (c === SP || c === TAB) c = this.at(++this.pos);
  }

  /** Spaces, an optional comment, the line break. Anything else is content this scanner does not expect. */
  endLine(): void {
    this.skipSpaces();
    const c = this.at();
    if (c === 35 /* # */) this.skipToEol();
    else if (!this.eol(c)) this.fail("unexpected content after a node");
    this.newline();
  }

  skipToEol(): void {
    const nl = this.text.indexOf("\n", this.pos);
    this.pos = nl < 0 ? this.text.length : nl;
  }

  newline(): void {
    if (this.at() === CR) this.pos++;
    if (this.at() === LF) this.pos++;
    this.lineStart = this.pos;
  }

  /**
   * A plain scalar in block context, to the end of the line or a comment. With `asKey`, stops
   * at `: ` and returns the key's end offset; -1 when the scalar is no key.
   */
  plainToken(asKey: boolean): number {
    const t = this.text;
    let i = this.pos;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c > 58) {
        i++;
        continue;
      }
      if (c === LF || c === CR || c !== c) break;
      if (c === 58) {
        const d = t.charCodeAt(i + 1);
        if (d === SP || d === TAB || d === LF || d === CR || d !== d) {
          if (!asKey) break;
          this.pos = i + 1;
          return i;
        }
      } else if (c === 35) {
        const b = t.charCodeAt(i - 1);
        if (b === SP || b === TAB) break;
      }
      i++;
    }
    this.pos = i;
    return -1;
  }

  /** End of the plain scalar that ends at `pos`, without trailing blanks. */
  trimmedEnd(start: number): number {
    let end = this.pos;
    while (end > start && (this.at(end - 1) === SP || this.at(end - 1) === TAB)) end--;
    return end;
  }

  addKey(frame: Frame, id: string, display: string, offset: number, path: () => FieldPath): void {
    const first = frame.keys.get(id);
    if (first === undefined) frame.keys.set(id, offset);
    else this.duplicates.push({ key: display, offset, firstOffset: first, path: path() });
    frame.last = display;
  }

  /** Path of the collection at frame `upto` (exclusive of its own key): keys and indexes of the frames below. */
  path(frames: readonly Frame[], upto = frames.length): FieldPath {
    const out: (string | number)[] = [];
    for (let i = 0; i < upto; i++) {
      const f = frames[i]!;
      if (f.map) {
        if (f.last !== undefined) out.push(f.last);
      } else out.push(f.index);
    }
    return out;
  }

  /** Skips a quoted scalar from its opening quote (it may span lines). */
  skipQuoted(): void {
    const t = this.text;
    const q = t[this.pos]!;
    let i = this.pos + 1;
    for (;;) {
      const close = t.indexOf(q, i);
      if (close < 0) this.fail("an unclosed quote");
      i = close + 1;
      if (q === "'" && t.charCodeAt(i) === 39) {
        i++; // '' is a quote inside a single-quoted scalar
        continue;
      }
      if (q === '"') {
        let backslashes = 0;
        while (t.charCodeAt(close - 1 - backslashes) === 92) backslashes++;
        if (backslashes % 2 === 1) continue; // \" is a quote inside a double-quoted scalar
      }
      this.pos = i;
      return;
    }
  }

  /** A quoted scalar as a key (it may span lines; the caller decides whether that is allowed): its id and text. */
  quotedKey(): { id: string; display: string } {
    const start = this.pos;
    this.skipQuoted();
    const raw = this.text.slice(start + 1, this.pos - 1);
    const double = this.text[start] === '"';
    let display = double ? raw : raw.replaceAll("''", "'");
    if (double && raw.includes("\\")) {
      try {
        display = String(parse(this.text.slice(start, this.pos)));
      } catch {
        this.fail("a quoted scalar with an escape this scanner cannot read");
      }
    }
    return { id: `s:${display}`, display };
  }

  /** Whether the node at `path()` (in the current document) is the target; the path is built only then. */
  isTarget(path: () => FieldPath): boolean {
    const t = this.target;
    if (t === undefined || this.doc !== t.doc) return false;
    const p = path();
    return p.length === t.path.length && p.every((seg, i) => seg === t.path[i]);
  }

  /**
   * The target's node starts at `offset`; when nothing follows there, on the next line if that
   * is nested under `col` (see answerNext), else it is empty and placed at `offset`, as the
   * positioned parser places an empty value.
   */
  foundAt(offset: number, col: number, sameColumnSequence: boolean): void {
    const c = this.at(offset);
    if (this.eol(c) || c === 35) this.answerNext = { offset, col, sameColumnSequence };
    else throw new Found(offset);
  }

  /** Called where a block node starts at `col` (`dash`: with `- `): answers a pending target. */
  nodeStart(col: number, dash: boolean): void {
    const a = this.answerNext;
    if (!a) return;
    const nested = col > a.col || (a.sameColumnSequence && dash && col === a.col);
    throw new Found(nested ? this.pos : a.offset);
  }

  /** The end of a document or of the text: a pending target's value was empty. */
  documentEnd(): void {
    if (this.answerNext) throw new Found(this.answerNext.offset);
  }

  /** Notes a plain scalar text[offset, end) if a YAML 1.1 reader might read it differently; its index in `plains`, or -1. */
  notePlain(offset: number, end: number): number {
    if (!maybeYaml11(this.text, offset, end)) return -1;
    this.plains.push({ offset, source: this.text.slice(offset, end) });
    return this.plains.length - 1;
  }
}

export function isFlowIndicator(c: number): boolean {
  return c === 44 || c === 91 || c === 93 || c === 123 || c === 125;
}

/** Characters of every form yaml11.ts flags: digits, signs, `_`, `:`, `.`, `b`, and the boolean words' letters. */
const YAML11_CHARS = /[0-9+\-_:.bxoyYesESnNOfF]*/y;
/** Every form starts with a digit, a sign, or y, n, o (either case). */
const YAML11_START = new Set("0123456789+-yYnNoO".split("").map((c) => c.charCodeAt(0)));

/** A cheap filter on text[start, end) (no slicing): could it read differently in YAML 1.1? */
export function maybeYaml11(text: string, start: number, end: number): boolean {
  if (end <= start || !YAML11_START.has(text.charCodeAt(start))) return false;
  YAML11_CHARS.lastIndex = start;
  YAML11_CHARS.test(text);
  return YAML11_CHARS.lastIndex >= end;
}

const NULL = /^(?:~|null|Null|NULL)?$/;
const TRUE = /^(?:true|True|TRUE)$/;
const FALSE = /^(?:false|False|FALSE)$/;
const INT = /^[-+]?[0-9]+$/;
const OCT = /^0o[0-7]+$/;
const HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const INF = /^[-+]?\.(?:inf|Inf|INF)$/;
const NAN = /^\.(?:nan|NaN|NAN)$/;

/** A plain key's identity: its YAML 1.2 core-schema value, typed, as the positioned parser compares keys. */
export function plainId(source: string, offset: number): string {
  if (NULL.test(source)) return "z:";
  if (TRUE.test(source)) return "b:true";
  if (FALSE.test(source)) return "b:false";
  if (INT.test(source) || FLOAT.test(source)) return `n:${Number(source)}`;
  if (OCT.test(source)) return `n:${Number.parseInt(source.slice(2), 8)}`;
  if (HEX.test(source)) return `n:${Number.parseInt(source.slice(2), 16)}`;
  if (INF.test(source)) return `n:${source.startsWith("-") ? -Infinity : Infinity}`;
  if (NAN.test(source)) return `nan:${offset}`; // NaN equals nothing, itself included
  return `s:${source}`;
}
