/**
 * Per-file memo of parsing (issue #13 item 6): the agent re-reads the whole config dir on
 * every change, and a million-entry network set costs ~0.8 s to parse (Bun's parser and the
 * key scan) although that file did not change. A file whose path and text are the same as
 * last time gets last time's result.
 *
 * Keyed by path (one entry per path, the latest text: an edited file replaces its entry, so an
 * old version of a big file is never held beside the new one) and checked by comparing the
 * content itself with the one kept: no hash, so no collision can apply a stale config. A big
 * ASCII file read as bytes (source-file.ts BytesFile) keeps its text as bytes (fast-yaml.ts: the
 * buffer it was first read into and each edit's lines), and the next version's bytes are
 * compared with them run by run (a memcmp, ~2 ms at 19 MB; one decoder, so equal bytes ⇔ equal
 * text); its text is never decoded unless something asks. A file's buffer goes back to the
 * reader once loaded, unless its text is that buffer (Parsed.holdsBytes: then never, since an
 * earlier version's file may still read its text from it), so a million-entry file is held
 * once as its text and once as the reader's spare. An edited file is parsed again, unless its last parse
 * offered a cheaper reader of the next version (`edited`: a one-line edit of a million-entry
 * network set is a splice of its list, list-splice.ts), which the cache tries first.
 * Bounded: entries are evicted least recently used first once they hold more than
 * MAX_CACHED_BYTES of source text or MAX_CACHED_FILES files, so a dir whose files keep changing
 * names cannot grow it. Callers get fresh arrays and fresh diagnostic objects (the loader
 * folds notes into diagnostics in place); the resources themselves are shared and must be
 * treated as read-only, which every stage after the parser already does.
 */
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import { BytesFile, joinPieces, recycleBytes, type SourceFile, type TextPiece, type TextSource } from "../source/source-file.ts";
import { hollowOut } from "./list-splice.ts";
import type { RawResource } from "./resource.ts";

export interface Parsed {
  resources: RawResource[];
  diagnostics: Diagnostic[];
  /**
   * Reads a later version of the same file from this parse, exactly as a full parse would read
   * it, when the edit between the two is one it can follow; undefined: parse it all. (An ASCII
   * version read as bytes keeps its text as bytes: the edit is then read from the new
   * version's bytes without decoding them.)
   */
  edited?: (file: SourceFile) => Parsed | undefined;
  /** An edit's text, when read from bytes: pieces of earlier versions' texts (bytes or strings), joined on demand. */
  source?: TextSource;
  /** The parse's text holds the file's own buffer (fast-yaml.ts): it is never given back to the reader. */
  holdsBytes?: boolean;
}

/** A 1M-entry network set is ~20 MB of text; a few of those fit. */
export const MAX_CACHED_BYTES = 128 * 1024 * 1024;
export const MAX_CACHED_FILES = 10_000;

/**
 * One path's latest version: its text in pieces (strings, or an ASCII file's bytes: fast-yaml.ts
 * keeps the text of a big file read as bytes as runs of buffers that text alone holds, never
 * recycled), compared with the next version's bytes run by run (natively) or with its text.
 */
interface Entry {
  /** The text in pieces. */
  source: TextSource;
  size: number;
  parsed: Parsed;
  /** The file read as bytes whose text this is, to drop its decoded copy once loaded (forgetTexts). */
  file?: BytesFile;
}

const entries = new Map<string, Entry>();
let cachedBytes = 0;
const stats = { hits: 0, misses: 0, spliced: 0 };

/** `parse(file)`, or the result it gave for the same path and text before (or its edit of it). */
export function parseCached(file: SourceFile, parse: (file: SourceFile) => Parsed): Parsed {
  const old = entries.get(file.path);
  const bytesFile = file instanceof BytesFile ? file : undefined;
  let parsed: Parsed;
  if (old && sameContent(old, file)) {
    stats.hits++;
    parsed = old.parsed;
    entries.delete(file.path); // re-inserted below: most recently used last
    // The file's text is the kept version's; its buffer goes back to the reader.
    if (bytesFile) recycleBytes(bytesFile.handOver(old.source));
    entries.set(file.path, bytesFile ? { ...old, file: bytesFile } : old);
  } else {
    const edited = readEdit(old, file);
    if (edited) stats.spliced++;
    else stats.misses++;
    parsed = edited ?? parse(file);
    // A file read as bytes: its text is the one the edit assembled, or its own bytes where the
    // parse's text holds them (never given back to the reader then), or the one decoded.
    const own = parsed.holdsBytes ? file.bytes : undefined;
    const source = edited?.source ?? (own && bytesSource(own));
    if (bytesFile) {
      const bytes = bytesFile.handOver(source);
      if (!own) recycleBytes(bytes);
    }
    const entry: Entry = source ? { source, size: sizeOf(source()), parsed, file: bytesFile } : textEntry(file, parsed);
    if (old) drop(file.path, old);
    if (entry.size <= MAX_CACHED_BYTES) {
      entries.set(file.path, entry);
      cachedBytes += entry.size;
      evict();
    }
  }
  return { resources: [...parsed.resources], diagnostics: parsed.diagnostics.map((d) => ({ ...d })) };
}

/** A text that is `bytes` (ASCII): no closure over anything else. */
const bytesSource = (bytes: Uint8Array): TextSource => () => [bytes];

const sizeOf = (pieces: readonly TextPiece[]) => pieces.reduce((n, p) => n + p.length, 0);

function textEntry(file: SourceFile, parsed: Parsed): Entry {
  const text = file.text;
  return { source: () => [text], size: text.length, parsed };
}

/** Equal content: a file read as bytes against a text kept as bytes run by run (natively), else as text (decoding only then). */
function sameContent(old: Entry, file: SourceFile): boolean {
  const pieces = old.source();
  const bytes = file instanceof BytesFile ? file.bytes : undefined;
  if (bytes && pieces.every((p) => typeof p !== "string")) {
    if (sizeOf(pieces) !== bytes.length) return false;
    const whole = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    let at = 0;
    for (const p of pieces as readonly Uint8Array[]) {
      if (whole.compare(p, 0, p.length, at, at + p.length) !== 0) return false;
      at += p.length;
    }
    return true;
  }
  return joinPieces(pieces) === file.text;
}

/** The cheaper reading of an edited file its last parse offers, if any; a failure of it only costs the full parse. */
function readEdit(old: Entry | undefined, file: SourceFile): Parsed | undefined {
  try {
    return old?.parsed.edited?.(file);
  } catch {
    return undefined;
  }
}

/** Removes an entry (a text's buffers are never given back: an earlier version's file may still read its text from them). */
function drop(path: string, e: Entry): void {
  entries.delete(path);
  cachedBytes -= e.size;
}

function evict(): void {
  for (const [path, e] of entries) {
    if (cachedBytes <= MAX_CACHED_BYTES && entries.size <= MAX_CACHED_FILES) return;
    drop(path, e);
  }
}

/**
 * Drops the values of the big lists the cached parses hold where `read` says their validated
 * read is kept (list-splice.ts hollowOut: the next edit splices the read, not the values);
 * how many lists it emptied.
 */
export function hollowOutCached(read: (items: readonly unknown[]) => boolean): number {
  let n = 0;
  for (const entry of entries.values()) {
    for (const r of entry.parsed.resources) {
      const spec = (r.value as { spec?: { nets?: unknown } } | null)?.spec;
      const nets = spec?.nets;
      if (Array.isArray(nets) && read(nets) && hollowOut(nets)) n++;
    }
  }
  return n;
}

/** Hits, misses, edits read as splices (`spliced`) and what is held (for tests and the bench). */
export function parseCacheStats(): { hits: number; misses: number; spliced: number; files: number; bytes: number } {
  return { ...stats, files: entries.size, bytes: cachedBytes };
}

/** The buffers the kept texts are made of (tests: never a spare the reader may write into). */
export function keptBytes(): Uint8Array[] {
  const buffers = new Map<ArrayBufferLike, Uint8Array>();
  for (const e of entries.values()) for (const p of e.source()) if (typeof p !== "string") buffers.set(p.buffer, p);
  return [...buffers.values()];
}

/**
 * Drops the decoded copy of each kept file's text where the text is kept otherwise (as bytes,
 * or pieces): a big file's load decodes it once (~19 MB at a million entries), and the file
 * object stays alive as long as the model it was loaded into. Asked again, the text is made
 * from its pieces. The agent calls it once an attempt has applied.
 */
export function forgetTexts(): void {
  for (const e of entries.values()) e.file?.forgetText();
}

/** Drops one path's entry (tests: a load that must not be a splice of an earlier one). */
export function forgetParse(path: string): void {
  const e = entries.get(path);
  if (e) drop(path, e);
}

/** Empties the cache (tests; a process that is done with a config). */
export function clearParseCache(): void {
  for (const [path, e] of [...entries]) drop(path, e);
  cachedBytes = 0;
  stats.hits = 0;
  stats.misses = 0;
  stats.spliced = 0;
}
