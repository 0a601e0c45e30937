/**
 * YAML → raw resources with positions.
 *
 * Every file may hold one resource, a `---` stream, a top-level sequence of resources, a typed
 * `<Kind>List` or a generic `kind: List` (DESIGN.md §2). Each resource keeps the YAML node it
 * came from, so the validator can turn a field path into file:line:column without the parser
 * knowing anything about Calico. YAML 1.2 core schema, duplicate keys are errors, warnings are
 * errors (strict like calicoctl), aliases are capped against expansion bombs.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, visit, type Node } from "yaml";
import type { Diagnostic } from "./diagnostics.ts";

/** A configuration file as read from disk. */
export interface SourceFile {
  /** Path as shown to users (absolute, or relative to the config dir's parent). */
  path: string;
  /** File content. */
  text: string;
}

/** A field path: map keys and sequence indexes from the resource root. */
export type FieldPath = readonly (string | number)[];

/** One resource document, not yet validated. */
export interface RawResource {
  /** The plain JS value of the resource (maps are objects, sequences arrays). */
  value: unknown;
  /** File the resource came from. */
  file: string;
  /** 1-based position of a field (the value, or its key with `key: true`); falls back to the deepest existing parent. */
  locate(path: FieldPath, opts?: { key?: boolean }): { line: number; column: number };
}

/** Aliases are legitimate in YAML but a policy file never needs many; this caps "billion laughs". */
const MAX_ALIASES = 50;

export function parseFile(file: SourceFile): { resources: RawResource[]; diagnostics: Diagnostic[] } {
  const lineCounter = new LineCounter();
  const diagnostics: Diagnostic[] = [];
  const resources: RawResource[] = [];
  const pos = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const docs = parseAllDocuments(file.text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: "1.2" });
  if (!Array.isArray(docs)) return { resources, diagnostics }; // an empty stream
  for (const doc of docs) {
    for (const problem of [...doc.errors, ...doc.warnings]) {
      diagnostics.push({
        code: "YAML_SYNTAX",
        severity: "error",
        message: `${problem.message.split("\n")[0]} (${problem.code})`,
        file: file.path,
        ...pos(problem.pos[0]),
      });
    }
    if (doc.errors.length > 0 || doc.contents === null) continue;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (e) {
      diagnostics.push({ code: "YAML_SYNTAX", severity: "error", message: String((e as Error).message), file: file.path, ...pos(aliasOffset(doc.contents as Node) ?? doc.contents.range?.[0] ?? 0) });
      continue;
    }
    if (value === null || value === undefined) continue; // an empty document, e.g. a trailing `---`
    for (const { node, value: item } of unwrap(doc.contents as Node, value)) {
      resources.push({ value: item, file: file.path, locate: (path, opts) => pos(offsetOf(node, path, opts?.key ?? false)) });
    }
  }
  return { resources, diagnostics };
}

/** The first alias whose anchor is not defined before it (toJS fails on it without a position). */
function aliasOffset(root: Node): number | undefined {
  let found: number | undefined;
  const anchors = new Set<string>();
  visit(root, (_, node) => {
    if (found !== undefined) return visit.BREAK;
    if (isAlias(node)) {
      if (!anchors.has(node.source) && node.range) found = node.range[0];
    } else if (node && typeof node === "object" && "anchor" in node && typeof node.anchor === "string") {
      anchors.add(node.anchor);
    }
    return undefined;
  });
  return found;
}

/** Flattens sequences, typed `<Kind>List`s and `kind: List` into their items. */
function unwrap(node: Node, value: unknown): { node: Node; value: unknown }[] {
  if (isSeq(node) && Array.isArray(value)) {
    return node.items.flatMap((child, i) => unwrap(child as Node, value[i]));
  }
  if (isMap(node) && isListDocument(value)) {
    const items = node.get("items", true);
    if (isSeq(items)) return items.items.flatMap((child, i) => unwrap(child as Node, (value.items as unknown[])[i]));
  }
  return [{ node, value }];
}

function isListDocument(value: unknown): value is { kind: string; items: unknown[] } {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.kind === "string" && /List$/.test(v.kind) && Array.isArray(v.items);
}

/** Walks a field path down the YAML node tree and returns the start offset of the deepest node found. */
function offsetOf(root: Node, path: FieldPath, key: boolean): number {
  let node: unknown = root;
  let offset = root.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
      if (!pair) return offset;
      const keyNode = pair.key as Node | null;
      if (last && key && keyNode?.range) return keyNode.range[0];
      node = pair.value;
      const r = (pair.value as Node | null)?.range ?? keyNode?.range;
      if (r) offset = r[0];
    } else if (isSeq(node) && typeof seg === "number") {
      const child = node.items[seg] as Node | undefined;
      if (!child?.range) return offset;
      node = child;
      offset = child.range[0];
    } else {
      return offset;
    }
  }
  return offset;
}
