/**
 * The pure part of loading: files in, validated model and diagnostics out. Files are sorted by
 * path first so the result never depends on the order the directory listing returned.
 */
import { sortDiagnostics, type Diagnostic } from "./diagnostics.ts";
import { parseFile, type RawResource, type SourceFile } from "./parse.ts";
import { validateResources } from "../model/validate.ts";
import type { Model } from "../model/types.ts";

export interface LoadResult {
  model: Model;
  diagnostics: Diagnostic[];
}

export function loadConfig(files: readonly SourceFile[], opts: { node: string }): LoadResult {
  const diagnostics: Diagnostic[] = [];
  const raws: RawResource[] = [];
  for (const file of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    const parsed = parseFile(file);
    raws.push(...parsed.resources);
    diagnostics.push(...parsed.diagnostics);
  }
  const validated = validateResources(raws, opts);
  diagnostics.push(...validated.diagnostics);
  return { model: validated.model, diagnostics: sortDiagnostics(diagnostics) };
}
