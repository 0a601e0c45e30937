/**
 * Duplicate mapping keys (and YAML 1.1 lint candidates) in a file the fast path reads.
 *
 * Bun's native parser lets the second of two equal keys win without a word; the positioned
 * parser costs ~10x as much on a big file. This scanner walks the text once, without building
 * nodes, and knows just enough YAML to find every key of every mapping: block mappings by the
 * column of their keys (a `- ` entry or a key at a shallower column closes the deeper ones),
 * flow mappings by brackets, quoted scalars and block scalars skipped as wholes. Keys compare
 * as the positioned parser compares them (its core-schema value: `010` equals `10`, `"1"` is
 * not `1`). It also hands back every plain scalar that might read differently in YAML 1.1.
 *
 * It is conservative: on anything it does not model (explicit `?` keys, anchors or tags
 * before a key, aliases or collections as keys, directives, tabs as indentation, content after
 * `---`) it answers `unsupported`, and the caller reads the file with the positioned parser.
 * Everything it accepts, Bun has already parsed, so it never needs to diagnose bad syntax.
 */
import type { DuplicateKey } from "./yaml-errors.ts";
import type { FieldPath } from "./resource.ts";
import { Cursor, CR, Found, type Frame, LF, MAX_KEY, plainId, SP, TAB, Unsupported } from "./key-scan-cursor.ts";
import { scanFlow } from "./key-scan-flow.ts";

export type KeyScan =
  | { ok: true; duplicates: DuplicateKey[]; plains: { offset: number; source: string }[]; docs: number; docStarts: number[]; tagged: boolean }
  | { ok: false; why: string; offset: number };

export function scanKeys(text: string): KeyScan {
  const s = new Scanner(text);
  try {
    s.run();
    return { ok: true, duplicates: s.duplicates, plains: s.plains, docs: s.doc + 1, docStarts: s.docStarts, tagged: s.tagged };
  } catch (e) {
    if (e instanceof Unsupported) return { ok: false, why: e.why, offset: e.offset };
    throw e;
  }
}

/**
 * Offset of the node at `path` in document `doc` (or of its key), found by the same scan,
 * stopping there: positions for diagnostics in a big file without the positioned parser.
 * Undefined when the path is not there as written (keys compare as written: `010`, not 10)
 * or the text is one the scanner does not model; the caller then asks the positioned parser.
 * Sequence entries and mapping values, block or flow; keys in block mappings.
 */
export function findPath(text: string, doc: number, path: FieldPath, key = false): number | undefined {
  const s = new Scanner(text);
  s.target = { doc, path, key };
  try {
    s.run();
  } catch (e) {
    if (e instanceof Found) return e.offset >= 0 ? e.offset : undefined;
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
  return undefined;
}

class Scanner extends Cursor {
  private frames: Frame[] = [];
  /** The line ended with a plain scalar in block context: a more-indented next line continues it. */
  private openPlain = false;
  /** Index in `plains` of that scalar, if it was noted; dropped when a next line continues it. */
  private pendingPlain = -1;
  /** A document is open (content or `---` seen since the last `...`). */
  private docOpen = false;
  /** The next block node is the first of its document (findPath of a document's root). */
  private docFirst = false;
  /** The value after the key just read is findPath's target. */
  private valueTarget = false;
  /** Where each document starts (its `---` line or first content): the positioned parser reports per document. */
  readonly docStarts: number[] = [];

  run(): void {
    while (this.pos < this.text.length) this.line();
    if (this.target) this.documentEnd();
  }

  private line(): void {
    this.lineStart = this.pos;
    let c = this.at();
    while (c === SP) c = this.at(++this.pos);
    if (this.eol(c)) return this.newline();
    if (c === TAB) {
      const save = this.pos;
      this.skipSpaces();
      if (this.eol(this.at()) || this.at() === 35) return this.endLine();
      this.pos = save;
      this.fail("a tab in indentation");
    }
    if (c === 35) return this.endLine();
    const col = this.pos - this.lineStart;
    if (col === 0 && (this.marker("---") || this.marker("..."))) {
      if (this.target) this.documentEnd();
      if (this.at() === 45) this.openDocument();
      else this.docOpen = false;
      this.pos += 3;
      this.frames = [];
      this.openPlain = false;
      this.skipSpaces();
      if (!this.eol(this.at()) && this.at() !== 35) this.fail("content on a document marker line");
      return this.endLine();
    }
    if (col === 0 && c === 37 /* % */) this.fail("a directive");
    if (!this.docOpen) this.openDocument();
    this.blockNode(col);
  }

  private openDocument(): void {
    this.doc++;
    this.docStarts.push(this.lineStart);
    this.docOpen = true;
    this.docFirst = true;
    if (this.target && this.doc > this.target.doc) throw new Found(-1);
  }

  private marker(m: string): boolean {
    return this.text.startsWith(m, this.pos) && this.blank(this.at(this.pos + 3));
  }

  /** A line's content from column `col`: `- ` entries, then a key and its value, or a scalar. */
  private blockNode(col: number): void {
    if (this.openPlain && col > this.innermostCol()) {
      // A more-indented line after a plain scalar continues it (a multi-line plain scalar):
      // none of it is a key, and the scalar is no longer the one-line text that was noted.
      if (this.pendingPlain >= 0 && this.pendingPlain === this.plains.length - 1) this.plains.pop();
      this.pendingPlain = -1;
      this.skipToEol();
      return this.newline();
    }
    this.openPlain = false;
    this.pendingPlain = -1;
    if (this.target) {
      this.nodeStart(col, this.at() === 45 && this.blank(this.at(this.pos + 1)));
      if (this.docFirst && this.isTarget(() => [])) throw new Found(this.pos);
    }
    this.docFirst = false;
    let dashCol = -1;
    while (this.at() === 45 /* - */ && this.blank(this.at(this.pos + 1))) {
      this.sequenceEntry(col);
      dashCol = col;
      this.pos++;
      this.skipSpaces();
      col = this.pos - this.lineStart;
      if (this.target && this.isTarget(() => this.path(this.frames))) {
        // The entry's node starts after its anchor or tag, as the positioned parser places it.
        const entry = this.pos;
        this.skipProperties();
        this.foundAt(this.pos, dashCol, false);
        this.pos = entry;
      }
      const c = this.at();
      if (this.eol(c) || c === 35) return this.endLine();
    }
    const start = this.pos;
    const c = this.at();
    if (c === 63 /* ? */ && this.blank(this.at(start + 1))) this.fail("an explicit key");
    if (c === 58 /* : */ && this.blank(this.at(start + 1))) this.fail("an empty key");
    if (c === 38 /* & */ || c === 33 /* ! */) {
      this.skipProperties();
      if (this.eol(this.at()) || this.at() === 35) return this.endLine();
      this.fail("an anchor or tag before inline content");
    }
    if (c === 42 /* * */) {
      this.plainToken(false);
      this.skipSpaces();
      if (this.at() === 58) this.fail("an alias as a key");
      return this.endLine();
    }
    if (c === 34 || c === 39) {
      const q = this.quotedKey();
      const end = this.pos;
      this.skipSpaces();
      if (this.at() === 58 && this.blank(this.at(this.pos + 1))) {
        if (this.text.slice(start, end).includes("\n")) this.fail("a multi-line key");
        if (this.pos - start > MAX_KEY) this.fail("a key over 1024 characters");
        this.pos++;
        this.key(col, q.id, q.display, start);
        return this.blockValue(col);
      }
      return this.endLine();
    }
    if (c === 123 || c === 91 /* { [ */) {
      scanFlow(this, this.path(this.frames));
      this.skipSpaces();
      if (this.at() === 58) this.fail("a collection as a key");
      return this.endLine();
    }
    if (c === 124 || c === 62 /* | > */) {
      if (dashCol < 0) this.fail("a block scalar without a key or entry");
      return this.blockScalar(dashCol);
    }
    const keyEnd = this.plainToken(true);
    if (keyEnd - start > MAX_KEY) this.fail("a key over 1024 characters");
    if (keyEnd >= 0) {
      const source = this.text.slice(start, keyEnd).trimEnd();
      this.key(col, plainId(source, start), source, start);
      this.notePlain(start, start + source.length);
      return this.blockValue(col);
    }
    this.notePlainLine(start, this.trimmedEnd(start));
    this.endLine();
  }

  private innermostCol(): number {
    return this.frames.length > 0 ? this.frames[this.frames.length - 1]!.col : -1;
  }

  /** After `key:` in block context, at the first character after the colon. */
  private blockValue(keyCol: number): void {
    this.skipSpaces();
    let c = this.at();
    if (c === 38 || c === 33) {
      this.skipProperties();
      c = this.at();
    }
    if (this.valueTarget) {
      this.valueTarget = false;
      this.foundAt(this.pos, keyCol, true);
    }
    if (this.eol(c) || c === 35) return this.endLine();
    if (c === 34 || c === 39) {
      this.skipQuoted();
      return this.endLine();
    }
    if (c === 123 || c === 91) {
      scanFlow(this, this.path(this.frames));
      return this.endLine();
    }
    if (c === 124 || c === 62) return this.blockScalar(keyCol);
    if (c === 45 && this.blank(this.at(this.pos + 1))) this.fail("a sequence entry after a key on one line");
    const start = this.pos;
    if (this.plainToken(true) >= 0) this.fail("a second key on one line");
    this.notePlainLine(start, this.trimmedEnd(start));
    this.endLine();
  }

  /** Anchors (`&a`) and tags (`!t`, `!!str`), with the spaces after them. */
  private skipProperties(): void {
    let c = this.at();
    while (c === 38 || c === 33) {
      if (c === 33) this.tagged = true;
      while (!this.blank(c)) c = this.at(++this.pos);
      this.skipSpaces();
      c = this.at();
    }
  }

  /** Records a key of the block mapping whose keys sit at `col`. */
  private key(col: number, id: string, display: string, offset: number): void {
    const frames = this.frames;
    while (frames.length > 0) {
      const top = frames[frames.length - 1]!;
      if (top.col > col || (top.col === col && !top.map)) frames.pop();
      else break;
    }
    let top = frames[frames.length - 1];
    if (!top || !top.map || top.col !== col) {
      top = { map: true, col, keys: new Map(), index: 0 };
      frames.push(top);
    }
    this.addKey(top, id, display, offset, () => this.path(frames, frames.length - 1));
    if (this.target && this.isTarget(() => [...this.path(frames, frames.length - 1), display])) {
      if (this.target.key) throw new Found(offset);
      this.valueTarget = true;
    }
  }

  /** A `-` at `col`: the next entry of the sequence there, or the first of a new one. */
  private sequenceEntry(col: number): void {
    const frames = this.frames;
    while (frames.length > 0 && frames[frames.length - 1]!.col > col) frames.pop();
    const top = frames[frames.length - 1];
    if (top && !top.map && top.col === col) top.index++;
    else frames.push({ map: false, col, keys: new Map(), index: 0 });
  }

  /** `|` or `>` with its header; skips the content: blank lines and lines indented more than `parentCol`. */
  private blockScalar(parentCol: number): void {
    this.pos++;
    let c = this.at();
    while (c === 43 || c === 45 || (c >= 49 && c <= 57)) c = this.at(++this.pos);
    this.endLine();
    const t = this.text;
    while (this.pos < t.length) {
      let i = this.pos;
      while (t.charCodeAt(i) === SP) i++;
      const d = t.charCodeAt(i);
      if (!(d === LF || d === CR || d !== d) && i - this.pos <= parentCol) break;
      this.pos = i;
      this.skipToEol();
      this.newline();
    }
  }

  /** Notes a plain scalar that ends a block-context line: the next line may continue it. */
  private notePlainLine(offset: number, end: number): void {
    this.openPlain = true;
    this.pendingPlain = this.notePlain(offset, end);
  }
}
