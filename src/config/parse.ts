/**
 * YAML → raw resources with positions.
 *
 * Every file may hold one resource, a `---` stream, a top-level sequence of resources, a typed
 * `<Kind>List` or a generic `kind: List` (DESIGN.md §2). Each resource keeps the YAML node it
 * came from, so the validator can turn a field path into file:line:column without the parser
 * knowing anything about Calico. YAML 1.2 core schema, duplicate keys are errors (DUPLICATE_KEY,
 * found in yaml-errors.ts, naming the key and its first place; the document is still checked,
 * with the last value, as Bun's parser on the fast path reads it), warnings are errors (strict
 * like calicoctl), syntax errors name the key path they are under, aliases are capped against
 * expansion bombs. Plain scalars a
 * YAML 1.1 reader (calicoctl's Go library) reads differently get a positioned note (yaml11.ts);
 * diagnostics about one character of a string can be placed on it (scalar-offsets.ts).
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, Scalar, visit, type Node } from "yaml";
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import type { SourceFile } from "../source/source-file.ts";
import type { FieldPath, LocateOptions, RawResource } from "./resource.ts";
import { scalarCharOffset } from "./scalar-offsets.ts";
import { lintYaml11 } from "./yaml11.ts";
import { duplicateKeyMessage, duplicateKeys, underPath } from "./yaml-errors.ts";

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
  const docs = parseAllDocuments(file.text, { lineCounter, prettyErrors: false, uniqueKeys: false, version: "1.2" });
  if (!Array.isArray(docs)) return { resources, diagnostics }; // an empty stream
  for (const doc of docs) {
    for (const problem of [...doc.errors, ...doc.warnings]) {
      const at = problem.pos[0];
      diagnostics.push({
        code: "YAML_SYNTAX",
        severity: "error",
        message: `${problem.message.split("\n")[0]} (${problem.code})${underPath(doc.contents, at)}${syntaxHint(file.text, problem.code, at)}`,
        file: file.path,
        ...pos(at),
      });
    }
    for (const dup of duplicateKeys(doc.contents)) {
      diagnostics.push({ code: "DUPLICATE_KEY", severity: "error", message: duplicateKeyMessage(dup, pos(dup.firstOffset)), file: file.path, ...pos(dup.offset) });
    }
    if (doc.errors.length > 0 || doc.contents === null) continue;
    for (const note of lintYaml11(doc, file.text)) {
      diagnostics.push({ code: "AMBIGUOUS_SCALAR", severity: "warning", message: note.message, file: file.path, ...pos(note.offset) });
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (e) {
      diagnostics.push({ code: "YAML_SYNTAX", severity: "error", message: String((e as Error).message), file: file.path, ...pos(aliasOffset(doc.contents as Node) ?? doc.contents.range?.[0] ?? 0) });
      continue;
    }
    if (value === null || value === undefined) continue; // an empty document, e.g. a trailing `---`
    for (const { node, value: item } of unwrap(doc.contents as Node, value)) {
      resources.push({
        value: item,
        file: file.path,
        locate: (path, opts) => pos(offsetOf(node, path, opts ?? {}, file.text)),
        plainSource: (path) => {
          const found = nodeAt(node, path);
          return isScalar(found) && found.type === Scalar.PLAIN && found.range ? file.text.slice(found.range[0], found.range[1]) : undefined;
        },
      });
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

/** Why a YAML error happened, where the cause is a common Calico mistake. */
function syntaxHint(text: string, code: string, offset: number): string {
  if (code !== "BLOCK_AS_IMPLICIT_KEY") return "";
  const lineStart = text.lastIndexOf("\n", offset - 1) + 1;
  const line = text.slice(lineStart, offset);
  if (/^\s*(?:-\s+)?(?:selector|notSelector|namespaceSelector|serviceAccountSelector)\s*:/.test(line)) {
    return "; a selector is one string that compares labels with ==, e.g. selector: role == 'web' (a label is written key: value only under labels)";
  }
  return "";
}

function mapKey(key: unknown): unknown {
  return isScalar(key) ? key.value : key;
}

/** The node at a path, or undefined when the path leaves the tree. */
function nodeAt(root: Node, path: FieldPath): unknown {
  let node: unknown = root;
  for (const seg of path) {
    if (isMap(node)) node = node.items.findLast((p) => keyMatches(mapKey(p.key), seg))?.value;
    else if (isSeq(node) && typeof seg === "number") node = node.items[seg];
    else return undefined;
  }
  return node;
}

/** toJS turns every key into a string, so a numeric or boolean YAML key matches its string form. */
function keyMatches(key: unknown, seg: string | number): boolean {
  return key === seg || (typeof seg === "string" && key !== null && typeof key !== "object" && String(key) === seg);
}

/** Walks a field path down the YAML node tree and returns the start offset of the deepest node found. */
function offsetOf(root: Node, path: FieldPath, opts: LocateOptions, text: string): number {
  let node: unknown = root;
  let offset = root.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      // The last of repeated keys: the one whose value toJS (and Bun's parser) kept.
      const pair = node.items.findLast((p) => keyMatches(mapKey(p.key), seg));
      if (!pair) return offset;
      const keyNode = pair.key as Node | null;
      if (last && opts.key && keyNode?.range) return keyNode.range[0];
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
  if (opts.at !== undefined && isScalar(node) && typeof node.value === "string") {
    const block = node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED;
    const char = node.value[opts.at];
    if (!block || char === "\n" || char === "\r") return scalarCharOffset(node, text, opts.at) ?? offset;
  }
  return offset;
}
