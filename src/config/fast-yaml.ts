/**
 * A fast path for large files (a GlobalNetworkSet of a million prefixes is ~20 MB of YAML):
 * Bun's native YAML parser reads it in ~0.6 s where eemeli/yaml with positions needs ~6.5 s
 * and ~1 GB (measured, bench/RESULTS.md). Positions are only needed when a diagnostic is
 * reported, so the positioned parse runs lazily, on the first `locate` call, and maps the
 * n-th resource of one parse to the n-th of the other (both flatten the same way).
 *
 * Trade-offs, documented in the README: Bun's parser lets a duplicate mapping key win
 * silently where the positioned parser reports it, and its syntax errors carry no position,
 * so any syntax error falls back to the positioned parser for the whole file.
 */
import type { Diagnostic } from "./diagnostics.ts";
import { parseFile, type RawResource, type SourceFile } from "./parse.ts";

/** Files at least this large take the fast path. */
export const FAST_PATH_BYTES = 1 << 20;

export function parseLargeFile(file: SourceFile): { resources: RawResource[]; diagnostics: Diagnostic[] } | undefined {
  if (file.text.length < FAST_PATH_BYTES) return undefined;
  let value: unknown;
  try {
    value = Bun.YAML.parse(file.text);
  } catch {
    return undefined; // let the positioned parser report the error where it is
  }
  let positioned: RawResource[] | undefined;
  const items = flatten(value);
  const resources = items.map((item, i): RawResource => ({
    value: item,
    file: file.path,
    locate(path, opts) {
      positioned ??= parseFile(file).resources;
      return positioned[i]?.locate(path, opts) ?? { line: 1, column: 1 };
    },
  }));
  return { resources, diagnostics: [] };
}

/** Documents, top-level sequences, typed `<Kind>List`s and `kind: List` → resources, as parse.ts does. */
function flatten(value: unknown): unknown[] {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap(flatten);
  if (typeof value === "object") {
    const v = value as Record<string, unknown>;
    if (typeof v.kind === "string" && /List$/.test(v.kind) && Array.isArray(v.items)) return v.items.flatMap(flatten);
  }
  return [value];
}
