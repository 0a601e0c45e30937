/**
 * Per-file memo of parsing (issue #13 item 6): the agent re-reads the whole config dir on
 * every change, and a million-entry network set costs ~0.8 s to parse (Bun's parser and the
 * key scan) although that file did not change. A file whose path and text are the same as
 * last time gets last time's result.
 *
 * Keyed by path (one entry per path, the latest text: an edited file replaces its entry, so an
 * old version of a big file is never held beside the new one) and checked by comparing the
 * text itself with the one kept (the parse keeps it anyway, for positions): no hash, so no
 * collision can apply a stale config. An edited file is parsed again, unless its last parse
 * offered a cheaper reader of the next version (`edited`: a one-line edit of a million-entry
 * network set is a splice of its list, list-splice.ts), which the cache tries first.
 * Bounded: entries are evicted least recently used first once they hold more than
 * MAX_CACHED_BYTES of source text or MAX_CACHED_FILES files, so a dir whose files keep changing
 * names cannot grow it. Callers get fresh arrays and fresh diagnostic objects (the loader
 * folds notes into diagnostics in place); the resources themselves are shared and must be
 * treated as read-only, which every stage after the parser already does.
 */
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import type { SourceFile } from "../source/source-file.ts";
import type { RawResource } from "./resource.ts";

export interface Parsed {
  resources: RawResource[];
  diagnostics: Diagnostic[];
  /**
   * Reads a later version of the same file from this parse, exactly as a full parse would read
   * it, when the edit between the two is one it can follow; undefined: parse it all.
   */
  edited?: (file: SourceFile) => Parsed | undefined;
}

/** A 1M-entry network set is ~20 MB of text; a few of those fit. */
export const MAX_CACHED_BYTES = 128 * 1024 * 1024;
export const MAX_CACHED_FILES = 10_000;

interface Entry {
  text: string;
  parsed: Parsed;
}

const entries = new Map<string, Entry>();
let cachedBytes = 0;
const stats = { hits: 0, misses: 0, spliced: 0 };

/** `parse(file)`, or the result it gave for the same path and text before (or its edit of it). */
export function parseCached(file: SourceFile, parse: (file: SourceFile) => Parsed): Parsed {
  const old = entries.get(file.path);
  let parsed: Parsed;
  if (old && old.text === file.text) {
    stats.hits++;
    parsed = old.parsed;
    entries.delete(file.path); // re-inserted below: most recently used last
    entries.set(file.path, old);
  } else {
    const edited = readEdit(old, file);
    if (edited) stats.spliced++;
    else stats.misses++;
    parsed = edited ?? parse(file);
    if (old) {
      entries.delete(file.path);
      cachedBytes -= old.text.length;
    }
    if (file.text.length <= MAX_CACHED_BYTES) {
      entries.set(file.path, { text: file.text, parsed });
      cachedBytes += file.text.length;
      evict();
    }
  }
  return { resources: [...parsed.resources], diagnostics: parsed.diagnostics.map((d) => ({ ...d })) };
}

/** The cheaper reading of an edited file its last parse offers, if any; a failure of it only costs the full parse. */
function readEdit(old: Entry | undefined, file: SourceFile): Parsed | undefined {
  try {
    return old?.parsed.edited?.(file);
  } catch {
    return undefined;
  }
}

function evict(): void {
  for (const [path, e] of entries) {
    if (cachedBytes <= MAX_CACHED_BYTES && entries.size <= MAX_CACHED_FILES) return;
    entries.delete(path);
    cachedBytes -= e.text.length;
  }
}

/** Hits, misses, edits read as splices (`spliced`) and what is held (for tests and the bench). */
export function parseCacheStats(): { hits: number; misses: number; spliced: number; files: number; bytes: number } {
  return { ...stats, files: entries.size, bytes: cachedBytes };
}

/** Drops one path's entry (tests: a load that must not be a splice of an earlier one). */
export function forgetParse(path: string): void {
  const e = entries.get(path);
  if (!e) return;
  entries.delete(path);
  cachedBytes -= e.text.length;
}

/** Empties the cache (tests; a process that is done with a config). */
export function clearParseCache(): void {
  entries.clear();
  cachedBytes = 0;
  stats.hits = 0;
  stats.misses = 0;
  stats.spliced = 0;
}
