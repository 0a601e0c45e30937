/**
 * YAML problems in terms a reader can act on: where in the document a syntax error sits (the
 * key path it is under), and which key a duplicate repeats and where that key was first.
 *
 * The yaml library reports a duplicate key at the end of the previous value when that value is
 * empty (`x:` then `x: 2` is reported on the first line), and names neither the key nor the
 * first occurrence; so duplicates are found here, on the node tree, and its own DUPLICATE_KEY
 * errors are dropped. Keys compare as the library compares them: scalar values (`010` equals
 * `10`, `"1"` is not `1`); collections as keys never equal anything.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Node } from "yaml";
import type { FieldPath } from "./resource.ts";

/** A key that repeats an earlier key of the same mapping. */
export interface DuplicateKey {
  /** The key as written (quotes and escapes resolved). */
  key: string;
  /** Offset of the repeated key. */
  offset: number;
  /** Offset of the first key it repeats. */
  firstOffset: number;
  /** Path of the mapping holding both, from the document root. */
  path: FieldPath;
}

/** Every repeated key below `root`, in document order. */
export function duplicateKeys(root: unknown): DuplicateKey[] {
  const out: DuplicateKey[] = [];
  const walk = (node: unknown, path: FieldPath): void => {
    if (isMap(node)) {
      const seen: { value: unknown; offset: number }[] = [];
      for (const pair of node.items) {
        const key = pair.key;
        if (isScalar(key) && key.range) {
          const first = seen.find((s) => s.value === key.value);
          if (first) out.push({ key: segment(key), offset: key.range[0], firstOffset: first.offset, path });
          else seen.push({ value: key.value, offset: key.range[0] });
        }
        walk(pair.value, [...path, segment(key)]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    }
  };
  walk(root, []);
  return out;
}

/**
 * The key path of the deepest collection entry that holds `offset` (a syntax error's start),
 * from the document root; [] when it is at the top or outside every node.
 */
function pathAt(root: unknown, offset: number): FieldPath {
  const path: (string | number)[] = [];
  let node: unknown = root;
  for (;;) {
    let child: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => holds(p.value, offset) || holds(p.key, offset));
      if (!pair) return path;
      path.push(segment(pair.key));
      child = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex((item) => holds(isPair(item) ? item.value : item, offset));
      if (i < 0) return path;
      path.push(i);
      child = node.items[i];
    } else return path;
    if (!(isMap(child) || isSeq(child))) return path;
    node = child;
  }
}

/**
 * Whether a node holds `offset`: a collection up to the end of what belongs to it, a scalar up
 * to the end of its value (an error at the end of an unclosed quote is still in it; the line
 * after a plain value is not).
 */
function holds(node: unknown, offset: number): boolean {
  const r = (node as Node | null)?.range;
  if (!r) return false;
  return r[0] <= offset && offset <= (isMap(node) || isSeq(node) ? r[2] : r[1]);
}

/** `spec.ingress[0]` for [spec, ingress, 0]. */
function formatKeyPath(path: FieldPath): string {
  let s = "";
  for (const seg of path) s += typeof seg === "number" ? `[${seg}]` : s ? `.${seg}` : seg;
  return s;
}

/** A key as written (`010`, not 10; quotes and escapes resolved). */
function segment(key: unknown): string {
  if (isScalar(key)) return typeof key.source === "string" ? key.source : String(key.value);
  if (isAlias(key)) return `*${key.source}`;
  return "?";
}


/** The DUPLICATE_KEY message: the key, where it was first, and the mapping it is in. */
export function duplicateKeyMessage(dup: DuplicateKey, first: { line: number; column: number }): string {
  const under = dup.path.length > 0 ? ` (under ${formatKeyPath(dup.path)})` : "";
  return `key ${JSON.stringify(dup.key)} is already defined at line ${first.line}, column ${first.column} of this mapping${under}; YAML keeps only the last one: remove or rename one of them`;
}

/** ` (under spec.ingress[0])` for a syntax error inside that entry; empty at the top. */
export function underPath(root: unknown, offset: number): string {
  const path = pathAt(root, offset);
  return path.length > 0 ? ` (under ${formatKeyPath(path)})` : "";
}
