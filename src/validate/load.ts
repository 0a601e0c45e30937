/**
 * The pure part of loading: files in, validated model and diagnostics out. Files are sorted by
 * path first so the result never depends on the order the directory listing returned.
 */
import { sortDiagnostics, type Diagnostic } from "../diagnostics/diagnostic.ts";
import { parseFile } from "../config/parse.ts";
import type { SourceFile } from "../source/source-file.ts";
import type { RawResource } from "../config/resource.ts";
import { parseLargeFile } from "../config/fast-yaml.ts";
import { MAX_DEPTH, tooDeep } from "../config/depth.ts";
import { parseCached, type Parsed } from "../config/parse-cache.ts";
import { validateResources } from "./validate.ts";
import type { Model } from "../model/types.ts";

export interface LoadResult {
  model: Model;
  diagnostics: Diagnostic[];
}

export interface LoadOptions {
  /** This node's name. */
  node: string;
  /**
   * Files or directories the reader refused (see refusedFiles): their resources are unknown,
   * so references to them are not reported as undefined, one by one.
   */
  refused?: readonly string[];
}

/**
 * The files and directories that errors of reading the config dir (read-dir.ts) name: each
 * was not read, or not all of it (a cap stops the walk there).
 */
export function refusedFiles(readDiagnostics: readonly Diagnostic[]): string[] {
  return [...new Set(readDiagnostics.filter((d) => d.severity === "error" && d.file !== undefined).map((d) => d.file!))].sort();
}

export function loadConfig(files: readonly SourceFile[], opts: LoadOptions): LoadResult {
  const diagnostics: Diagnostic[] = [];
  const raws: RawResource[] = [];
  for (const file of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    // A file unchanged since the last load is not parsed again (parse-cache.ts).
    const parsed = parseCached(file, parseOne);
    raws.push(...parsed.resources);
    diagnostics.push(...parsed.diagnostics);
  }
  const validated = validateResources(raws, { node: opts.node, refused: opts.refused });
  diagnostics.push(...validated.diagnostics);
  return { model: validated.model, diagnostics: sortDiagnostics(foldYaml11Notes(diagnostics)) };
}

function parseOne(file: SourceFile): Parsed {
  const deep = tooDeep(file.text);
  if (deep !== undefined) {
    return { resources: [], diagnostics: [{ code: "YAML_TOO_DEEP", severity: "error", message: `nested more than ${MAX_DEPTH} levels deep here: no Calico resource nests that deep, and the YAML parsers would take minutes on it; the file is not read`, file: file.path, ...offsetPosition(file.text, deep) }] };
  }
  // Large files (million-entry network sets) take Bun's native parser; see fast-yaml.ts.
  return parseLargeFile(file) ?? parseFile(file);
}

/**
 * A YAML 1.1 note on a scalar that also failed validation (`applyOnForward: yes`, a label
 * value `010`) explains that failure: it becomes part of that diagnostic's message instead of
 * a second line. Notes on scalars that validated fine stay warnings.
 */
function foldYaml11Notes(diagnostics: Diagnostic[]): Diagnostic[] {
  const at = (d: Diagnostic) => `${d.file}\0${d.line}\0${d.column}`;
  const others = new Map<string, Diagnostic>();
  for (const d of diagnostics) {
    if (d.code === "AMBIGUOUS_SCALAR") continue;
    const prev = others.get(at(d));
    if (!prev || (prev.severity === "warning" && d.severity === "error")) others.set(at(d), d);
  }
  const out: Diagnostic[] = [];
  for (const d of diagnostics) {
    const target = d.code === "AMBIGUOUS_SCALAR" ? others.get(at(d)) : undefined;
    if (target) target.message += `; ${d.message}`;
    else out.push(d);
  }
  return out;
}

/** 1-based line and column of an offset (one pass; only for a diagnostic). */
function offsetPosition(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: offset - start + 1 };
}
