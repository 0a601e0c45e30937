/**
 * Per-file memo of parsing (issue #13 item 6): the agent re-reads the whole config dir on
 * every change, and a million-entry network set costs ~0.8 s to parse (Bun's parser and the
 * key scan) although that file did not change. A file whose path and text are the same as
 * last time gets last time's result.
 *
 * Keyed by path (one entry per path, the latest text: an edited file replaces its entry, so an
 * old version of a big file is never held beside the new one) and checked by the SHA-256 of the
 * text, not a fast non-cryptographic hash: a collision would apply a stale config silently.
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
}

/** A 1M-entry network set is ~20 MB of text; a few of those fit. */
export const MAX_CACHED_BYTES = 128 * 1024 * 1024;
export const MAX_CACHED_FILES = 10_000;

interface Entry {
  digest: string;
  bytes: number;
  parsed: Parsed;
}

const entries = new Map<string, Entry>();
let cachedBytes = 0;
const stats = { hits: 0, misses: 0 };

function digestOf(text: string): string {
  return new Bun.CryptoHasher("sha256").update(text).digest("hex");
}

/** `parse(file)`, or the result it gave for the same path and text before. */
export function parseCached(file: SourceFile, parse: (file: SourceFile) => Parsed): Parsed {
  const digest = digestOf(file.text);
  const old = entries.get(file.path);
  let parsed: Parsed;
  if (old && old.digest === digest) {
    stats.hits++;
    parsed = old.parsed;
    entries.delete(file.path); // re-inserted below: most recently used last
    entries.set(file.path, old);
  } else {
    stats.misses++;
    parsed = parse(file);
    if (old) {
      entries.delete(file.path);
      cachedBytes -= old.bytes;
    }
    const bytes = file.text.length;
    if (bytes <= MAX_CACHED_BYTES) {
      entries.set(file.path, { digest, bytes, parsed });
      cachedBytes += bytes;
      evict();
    }
  }
  return { resources: [...parsed.resources], diagnostics: parsed.diagnostics.map((d) => ({ ...d })) };
}

function evict(): void {
  for (const [path, e] of entries) {
    if (cachedBytes <= MAX_CACHED_BYTES && entries.size <= MAX_CACHED_FILES) return;
    entries.delete(path);
    cachedBytes -= e.bytes;
  }
}

/** Hits, misses and what is held (for tests and the bench). */
export function parseCacheStats(): { hits: number; misses: number; files: number; bytes: number } {
  return { ...stats, files: entries.size, bytes: cachedBytes };
}

/** Empties the cache (tests; a process that is done with a config). */
export function clearParseCache(): void {
  entries.clear();
  cachedBytes = 0;
  stats.hits = 0;
  stats.misses = 0;
}
