/**
 * scalarCharOffset: every character of a scalar's value maps back to the character in the
 * file that produced it, in every scalar style. The check is a round trip: at the mapped
 * offset the file holds the same character (a folded line break holds a '\n', an escape its
 * backslash, a doubled '' its first quote).
 */
import { describe, expect, test } from "bun:test";
import { isScalar, parseDocument, type Scalar } from "yaml";
import { scalarCharOffset } from "../../src/config/scalar-offsets.ts";

function scalar(text: string): Scalar {
  const doc = parseDocument(text);
  expect(doc.errors).toEqual([]);
  const pair = (doc.contents as { items: { value: unknown }[] }).items[0]!;
  if (!isScalar(pair.value)) throw new Error("not a scalar");
  return pair.value;
}

/** What the file must hold at the offset of value[k]. */
function expected(value: string, k: number): string[] {
  const c = value[k]!;
  if (c === " ") return [" ", "\n"];
  if (c === "\n") return ["\n"];
  if (c === "\t") return ["\t", "\\"];
  return [c, "\\"];
}

const CASES: [string, string][] = [
  ["plain", "s: role == 'web' && env != \"x\"\n"],
  ["plain folded over lines", "s: role == 'web' &&\n  env == 'prod' ||\n   has(x)\n"],
  ["plain with an empty line", "s: a == 'b'\n\n  && c == 'd'\n"],
  ["single-quoted with ''", "s: 'it''s == ''x'''\n"],
  ["single-quoted folded", "s: 'a == \"b\"\n  && c == \"d\"'\n"],
  ["double-quoted with escapes", 's: "a == \\"x\\" && b\\tc \\u00e9 \\\\ d"\n'],
  ["double-quoted with an escaped line break", 's: "a == \'x\' \\\n   && b == \'y\'"\n'],
  ["literal block", "s: |\n  role == 'web'\n  env == 'x'\n"],
  ["folded block", "s: >\n  role == 'web' &&\n  env == 'x'\n\n  more\n"],
  ["folded block, strip", "s: >-\n    deep == 'indent'\n    next\n"],
];

describe("scalarCharOffset", () => {
  for (const [name, text] of CASES) {
    test(`${name}: every character maps to itself in the file`, () => {
      const node = scalar(text);
      const value = node.value as string;
      const got = [...value].map((_, k) => {
        const offset = scalarCharOffset(node, text, k);
        return offset === undefined ? "unmapped" : expected(value, k).includes(text[offset]!) ? "ok" : `value[${k}]=${JSON.stringify(value[k])} at ${offset}=${JSON.stringify(text[offset])}`;
      });
      expect(got).toEqual([...value].map(() => "ok"));
    });
  }

  test("offsets only move forward", () => {
    for (const [, text] of CASES) {
      const node = scalar(text);
      const offsets = [...(node.value as string)].map((_, k) => scalarCharOffset(node, text, k)!);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }
  });

  test("the end of the value is just after its last character", () => {
    const text = 's: "has(a"\n';
    const node = scalar(text);
    expect(scalarCharOffset(node, text, 5)).toBe(text.indexOf('"', 4));
  });

  test("a line break from an empty line maps to the empty line, not the line before", () => {
    const text = "s: a == 'b'\n\n  && c == 'd'\n";
    const node = scalar(text);
    const k = (node.value as string).indexOf("\n");
    expect(scalarCharOffset(node, text, k)).toBe(text.indexOf("\n\n") + 1);
  });

  test("an index outside the value is not mapped", () => {
    const text = "s: abc\n";
    expect(scalarCharOffset(scalar(text), text, 4)).toBeUndefined();
    expect(scalarCharOffset(scalar(text), text, -1)).toBeUndefined();
  });
});
