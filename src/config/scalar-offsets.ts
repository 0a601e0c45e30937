/**
 * Where a character of a scalar's value sits in the YAML source.
 *
 * A diagnostic about a character inside a string (the `=` of a selector, a line break) should
 * point at that character in the file, not at the start of the scalar. The value and the
 * source differ by the scalar's syntax: quotes, `''` and `\` escapes, indentation, and line
 * folding (a line break between two lines of a plain or quoted scalar becomes one space, an
 * empty line becomes `\n`). Strategy: turn the source into a stream of (character, offset)
 * with the syntax removed, then walk the value and the stream together; a value character
 * matches an equal stream character, a value space or line break may also match a source
 * line break (folding), and source whitespace the value does not have is skipped (trimmed
 * indentation and trailing blanks). Anything else means the scalar is written in a way this
 * walk does not model, and the caller falls back to the scalar's start.
 */
import { Scalar } from "yaml";

type Unit = { char: string; offset: number };

/** Offset in `text` of `value[index]` for the scalar node, or undefined when it cannot be mapped. */
export function scalarCharOffset(node: Scalar, text: string, index: number): number | undefined {
  const value = node.value;
  const range = node.range;
  if (typeof value !== "string" || !range || index < 0 || index > value.length) return undefined;
  const stream = contentStream(node.type, text, range[0], range[1]);
  if (!stream) return undefined;
  // Everywhere but in a literal block, a break followed by an empty line folds into the empty line's break.
  const folding = node.type !== Scalar.BLOCK_LITERAL;
  let j = 0;
  for (let k = 0; k <= index; k++) {
    // The end of the value (an "unexpected end" error) maps to just after the last character.
    if (k === value.length) return k === 0 ? range[0] : (stream[j - 1]?.offset ?? range[0]) + 1;
    const c = value[k]!;
    while (j < stream.length) {
      const s = stream[j]!.char;
      if (s === c || ((c === " " || c === "\n") && s === "\n")) break;
      if (s !== " " && s !== "\t" && s !== "\n" && s !== "\r") return undefined;
      j++;
    }
    if (j >= stream.length) return undefined;
    if (folding && c === "\n" && stream[j]!.char === "\n") {
      let q = j + 1;
      while (stream[q]?.char === " " || stream[q]?.char === "\t") q++;
      if (stream[q]?.char === "\n") j = q;
    }
    if (k === index) return stream[j]!.offset;
    j++;
  }
  return undefined;
}

function contentStream(type: Scalar.Type | undefined, text: string, start: number, end: number): Unit[] | undefined {
  switch (type) {
    case Scalar.PLAIN:
      return raw(text, start, end);
    case Scalar.QUOTE_SINGLE:
      return singleQuoted(text, start + 1, end - 1);
    case Scalar.QUOTE_DOUBLE:
      return doubleQuoted(text, start + 1, end - 1);
    case Scalar.BLOCK_LITERAL:
    case Scalar.BLOCK_FOLDED:
      return block(text, start, end);
    default:
      return undefined;
  }
}

function raw(text: string, start: number, end: number): Unit[] {
  const out: Unit[] = [];
  for (let i = start; i < end; i++) out.push({ char: text[i]!, offset: i });
  return out;
}

function singleQuoted(text: string, start: number, end: number): Unit[] {
  const out: Unit[] = [];
  for (let i = start; i < end; i++) {
    out.push({ char: text[i]!, offset: i });
    if (text[i] === "'" && text[i + 1] === "'") i++;
  }
  return out;
}

const ESCAPES: Record<string, string> = {
  "0": "\0", a: "\x07", b: "\b", t: "\t", "\t": "\t", n: "\n", v: "\v", f: "\f", r: "\r", e: "\x1b",
  " ": " ", '"': '"', "/": "/", "\\": "\\", N: "\u0085", _: "\u00a0", L: "\u2028", P: "\u2029",
};
const HEX_LENGTH: Record<string, number> = { x: 2, u: 4, U: 8 };

function doubleQuoted(text: string, start: number, end: number): Unit[] | undefined {
  const out: Unit[] = [];
  for (let i = start; i < end; i++) {
    const c = text[i]!;
    if (c !== "\\") {
      out.push({ char: c, offset: i });
      continue;
    }
    const e = text[i + 1];
    if (e === "\n" || e === "\r") {
      // An escaped line break joins the lines without a space; the next line's indentation is skipped by the walk.
      i += e === "\r" && text[i + 2] === "\n" ? 2 : 1;
      continue;
    }
    if (e !== undefined && e in HEX_LENGTH) {
      const n = HEX_LENGTH[e]!;
      const code = Number.parseInt(text.slice(i + 2, i + 2 + n), 16);
      if (!Number.isFinite(code)) return undefined;
      const s = String.fromCodePoint(code);
      for (const ch of s.split("")) out.push({ char: ch, offset: i });
      i += 1 + n;
      continue;
    }
    if (e === undefined || !(e in ESCAPES)) return undefined;
    out.push({ char: ESCAPES[e]!, offset: i });
    i++;
  }
  return out;
}

/** Block scalars: content starts after the header line; each line loses exactly the block's indentation. */
function block(text: string, start: number, end: number): Unit[] | undefined {
  const headerEnd = text.indexOf("\n", start);
  if (headerEnd < 0 || headerEnd >= end) return [];
  const lines: { from: number; to: number }[] = [];
  for (let from = headerEnd + 1; from < end; ) {
    const nl = text.indexOf("\n", from);
    const to = nl < 0 || nl >= end ? end : nl;
    lines.push({ from, to });
    from = to + 1;
  }
  // The indentation of the first non-empty line. With an explicit indentation indicator and a
  // more-indented first line the walk finds spaces the stream lacks and gives up, which is safe.
  const first = lines.find((l) => text.slice(l.from, l.to).trim() !== "");
  const indent = first ? /^ */.exec(text.slice(first.from, first.to))![0].length : 0;
  const out: Unit[] = [];
  for (const { from, to } of lines) {
    for (let i = Math.min(from + indent, to); i < to; i++) out.push({ char: text[i]!, offset: i });
    if (to < end || text[to] === "\n") out.push({ char: "\n", offset: to });
  }
  return out;
}
