/**
 * Per-file memo of parsing (issue #13 item 6): the agent re-reads the whole config dir on
 * every change, and a million-entry network set costs ~0.8 s to parse (Bun's parser and the
 * key scan) although that file did not change. A file whose path and text are the same as
 * last time gets last time's result.
 *
 * Keyed by path (one entry per path, the latest text: an edited file replaces its entry, so an
 * old version of a big file is never held beside the new one) and checked by comparing the
 * content itself with the one kept: no hash, so no collision can apply a stale config. A big
 * file read as bytes (source-file.ts BytesFile) is compared as bytes with the bytes the cache
 * keeps of its last version (a memcmp, ~2 ms at 19 MB; one decoder, so equal bytes ⇔ equal
 * text), and its text is never decoded unless something asks: the file hands its buffer over
 * to the cache, and the cache gives the previous version's back to the reader. An edited file is parsed again, unless its last parse
 * offered a cheaper reader of the next version (`edited`: a one-line edit of a million-entry
 * network set is a splice of its list, list-splice.ts), which the cache tries first.
 * Bounded: entries are evicted least recently used first once they hold more than
 * MAX_CACHED_BYTES of source text or MAX_CACHED_FILES files, so a dir whose files keep changing
 * names cannot grow it. Callers get fresh arrays and fresh diagnostic objects (the loader
 * folds notes into diagnostics in place); the resources themselves are shared and must be
 * treated as read-only, which every stage after the parser already does.
 */
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import { BytesFile, recycleBytes, type SourceFile, type TextSource } from "../source/source-file.ts";
import { hollowOut } from "./list-splice.ts";
import type { RawResource } from "./resource.ts";

export interface Parsed {
  resources: RawResource[];
  diagnostics: Diagnostic[];
  /**
   * Reads a later version of the same file from this parse, exactly as a full parse would read
   * it, when the edit between the two is one it can follow; undefined: parse it all. `before`:
   * this version's bytes, when the cache keeps them (then the edit may be read from the new
   * version's bytes without decoding them).
   */
  edited?: (file: SourceFile, before?: Uint8Array) => Parsed | undefined;
  /** An edit's text, when read from bytes: pieces of the earlier text, joined on demand (the file's bytes then go to the cache). */
  source?: TextSource;
}

/** A 1M-entry network set is ~20 MB of text; a few of those fit. */
export const MAX_CACHED_BYTES = 128 * 1024 * 1024;
export const MAX_CACHED_FILES = 10_000;

/**
 * One path's latest version: its text, or for a big file read as bytes (BytesFile) the bytes
 * themselves, owned by the cache alone (handed over by the file; no one else holds them), and
 * compared natively with the next version's (equal bytes ⇔ equal text: one decoder).
 */
interface Entry {
  text?: string;
  bytes?: Uint8Array;
  /** The text in pieces (decoded, or assembled on demand when only the bytes are kept). */
  source: TextSource;
  size: number;
  parsed: Parsed;
}

const entries = new Map<string, Entry>();
let cachedBytes = 0;
const stats = { hits: 0, misses: 0, spliced: 0 };

/** `parse(file)`, or the result it gave for the same path and text before (or its edit of it). */
export function parseCached(file: SourceFile, parse: (file: SourceFile) => Parsed): Parsed {
  const old = entries.get(file.path);
  const bytes = file instanceof BytesFile ? file.bytes : undefined;
  let parsed: Parsed;
  if (old && sameContent(old, file, bytes)) {
    stats.hits++;
    parsed = old.parsed;
    entries.delete(file.path); // re-inserted below: most recently used last
    if (bytes && old.bytes) {
      // The file's text is the kept version's; its buffer goes back to the reader.
      recycleBytes((file as BytesFile).handOver(old.source));
      entries.set(file.path, old);
    } else {
      // Kept as text until now (its bytes were decoded before the cache saw them): keep the bytes from now on.
      const kept = bytes && (file as BytesFile).handOver(old.source);
      entries.set(file.path, kept ? { bytes: kept, source: old.source, size: kept.length, parsed } : old);
      if (kept) cachedBytes += kept.length - old.size;
    }
  } else {
    const edited = readEdit(old, file);
    if (edited) stats.spliced++;
    else stats.misses++;
    parsed = edited ?? parse(file);
    // A file read as bytes gives them to the cache (for the next version's comparison), its
    // text the one the edit assembles, or the one decoded (for the full parse, or by whoever asked).
    const kept = bytes && (file as BytesFile).handOver(edited?.source);
    const entry: Entry = kept ? { bytes: kept, source: edited?.source ?? (() => [file.text]), size: kept.length, parsed } : textEntry(file, parsed);
    if (old) drop(file.path, old);
    if (entry.size <= MAX_CACHED_BYTES) {
      entries.set(file.path, entry);
      cachedBytes += entry.size;
      evict();
    } else if (entry.bytes) recycleBytes(entry.bytes);
  }
  return { resources: [...parsed.resources], diagnostics: parsed.diagnostics.map((d) => ({ ...d })) };
}

function textEntry(file: SourceFile, parsed: Parsed): Entry {
  const text = file.text;
  return { text, source: () => [text], size: text.length, parsed };
}

/** Equal bytes when both are kept as bytes, else equal text (decoding only then). */
function sameContent(old: Entry, file: SourceFile, bytes: Uint8Array | undefined): boolean {
  if (bytes && old.bytes) return bytes.length === old.bytes.length && Buffer.compare(bytes, old.bytes) === 0;
  return (old.text ?? old.source().join("")) === file.text;
}

/** The cheaper reading of an edited file its last parse offers, if any; a failure of it only costs the full parse. */
function readEdit(old: Entry | undefined, file: SourceFile): Parsed | undefined {
  try {
    return old?.parsed.edited?.(file, old.bytes);
  } catch {
    return undefined;
  }
}

/** Removes an entry; its bytes, which only the cache held, go back to the reader. */
function drop(path: string, e: Entry): void {
  entries.delete(path);
  cachedBytes -= e.size;
  if (e.bytes) recycleBytes(e.bytes);
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

/** The bytes the cache keeps (tests: never a buffer someone else holds). */
export function keptBytes(): Uint8Array[] {
  return [...entries.values()].flatMap((e) => (e.bytes ? [e.bytes] : []));
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
