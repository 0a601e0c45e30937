/**
 * A lint for plain scalars that YAML 1.1 readers understand differently.
 *
 * hostwall reads YAML 1.2 (core schema): `on` is the string "on" and `010` is ten. The Go
 * YAML stack that calicoctl and Kubernetes tools use follows YAML 1.1 here: `on`, `yes`, `y`
 * are booleans, `010` is octal eight, `12:30` is the base-60 number 750 and `1_000` is a
 * thousand. A file that means one thing to hostwall and another to calicoctl is a trap, so
 * every such plain scalar (keys too: a 1.1 reader turns the label key `on` into "true") gets
 * a note positioned exactly on the scalar. The loader turns the note into a warning, or
 * appends it to the error when the same scalar also fails validation. Quoted and block
 * scalars are strings in both versions and are never flagged.
 */
import { parse, Scalar, visit, type Document } from "yaml";

/** A plain scalar whose YAML 1.1 reading differs from its YAML 1.2 reading. */
export interface Yaml11Note {
  /** Offset of the scalar in the file. */
  offset: number;
  /** The scalar as written. */
  source: string;
  /** What to tell the user: both readings and how to write it unambiguously. */
  message: string;
}

/** sigs.k8s.io/yaml (go-yaml v2) reads yes/on/y as booleans and 010 as octal. */
const GO_READERS = "YAML 1.1 readers (the Go YAML library of calicoctl and kubectl)";
const BOOLEAN = /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$/;
const LEADING_ZERO = /^[-+]?0[0-9_]+$/;
const SEXAGESIMAL = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;
const ONE_ONE_NUMBER = /^[-+]?(?:0b[01_]+|[0-9][0-9_]*_[0-9_]*(?:\.[0-9_]*)?)$/;

/** The notes for one parsed document. */
export function lintYaml11(doc: Document, text: string): Yaml11Note[] {
  const notes: Yaml11Note[] = [];
  visit(doc, {
    Scalar(_, node) {
      const note = noteFor(node, text);
      if (note) notes.push(note);
    },
  });
  return notes;
}

function noteFor(node: Scalar, text: string): Yaml11Note | undefined {
  if (node.type !== Scalar.PLAIN || !node.range) return undefined;
  return plainYaml11Note(text.slice(node.range[0], node.range[1]), node.range[0], () => node.value);
}

/**
 * The note for one plain scalar as written at `offset`, or undefined. `value12` gives its YAML
 * 1.2 value (the parsed node's; parsed here from the source when not given).
 */
export function plainYaml11Note(source: string, offset: number, value12: () => unknown = () => parse(source, { version: "1.2" })): Yaml11Note | undefined {
  const c = source.charCodeAt(0);
  // Cheap pre-check: every form starts with a digit, a sign, or one of the boolean letters.
  if (!((c >= 48 && c <= 57) || c === 43 || c === 45 || "yYnNoO".includes(source[0] ?? ""))) return undefined;
  if (BOOLEAN.test(source)) {
    const v11 = /^(?:y|yes|on)$/i.test(source);
    return { offset, source, message: `plain ${source} is the string "${source}" in YAML 1.2, which hostwall reads, but the boolean ${v11} for ${GO_READERS}: quote it ('${source}') if you mean the string, or write ${v11}` };
  }
  if (!LEADING_ZERO.test(source) && !SEXAGESIMAL.test(source) && !ONE_ONE_NUMBER.test(source)) return undefined;
  const v12 = value12();
  let v11: unknown;
  try {
    v11 = parse(source, { version: "1.1" });
  } catch {
    return undefined;
  }
  if (v11 === v12) return undefined;
  const reading12 = typeof v12 === "number" ? `the number ${v12}` : `the string "${String(v12)}"`;
  const reading11 = typeof v11 === "number" ? `${LEADING_ZERO.test(source) ? "the octal number" : SEXAGESIMAL.test(source) ? "the base-60 number" : "the number"} ${v11}` : `the string "${String(v11)}"`;
  const fix = typeof v12 === "number"
    ? `write ${v12} if you mean ${v12}, or quote it ('${source}') if you mean the string`
    : `quote it ('${source}') if you mean the string${typeof v11 === "number" ? `, or write ${v11} if you mean the number` : ""}`;
  // Go's YAML library never implemented base 60; PyYAML and other strict 1.1 readers do.
  const readers = SEXAGESIMAL.test(source) ? "strict YAML 1.1 readers such as PyYAML" : GO_READERS;
  return { offset, source, message: `plain ${source} is ${reading12} in YAML 1.2, which hostwall reads, but ${reading11} for ${readers}: ${fix}` };
}
