/**
 * Felix's canonical form of a selector (reference §5.4; parser/ast.go String()): one text per
 * meaning, so identical selectors share one nft set, and parsing the text gives back the AST.
 */
import { compareCodePoints } from "../order.ts";
import type { Selector } from "./selector.ts";

/** Felix's canonical string form (reference §5.4): used to dedupe identical selectors into one nft set. */
export function canonicalSelector(selector: Selector): string {
  const s = selector;
  switch (s.kind) {
    case "all": return "all()";
    case "global": return "global()";
    case "has": return `has(${s.label})`;
    case "eq": return `${s.label} == ${quote(s.value)}`;
    case "ne": return `${s.label} != ${quote(s.value)}`;
    case "contains": return `${s.label} contains ${quote(s.value)}`;
    case "startsWith": return `${s.label} starts with ${quote(s.value)}`;
    case "endsWith": return `${s.label} ends with ${quote(s.value)}`;
    case "in": return `${s.label} in {${sortedUnique(s.values).map(quote).join(", ")}}`;
    case "notIn": return `${s.label} not in {${sortedUnique(s.values).map(quote).join(", ")}}`;
    case "not": {
      // Only a negation prints with a leading '!'; `!!x` would parse back as plain x.
      const operand = canonicalSelector(s.operand);
      return operand.startsWith("!") ? `!(${operand})` : `!${operand}`;
    }
    case "and": case "or": {
      // The parser never builds these with fewer than two operands; hand-built ASTs may.
      if (s.operands.length === 0) return s.kind === "and" ? "all()" : "!all()";
      if (s.operands.length === 1) return canonicalSelector(s.operands[0]!);
      return `(${s.operands.map(canonicalSelector).join(s.kind === "and" ? " && " : " || ")})`;
    }
  }
}

function quote(value: string): string {
  return value.includes('"') ? `'${value}'` : `"${value}"`;
}

/** Sorted as Go sorts strings (by UTF-8 bytes, i.e. code points), duplicates removed: set members at parse time and in the canonical form. */
export function sortedUnique(values: readonly string[]): string[] {
  const sorted = [...values].sort(compareCodePoints);
  return sorted.filter((v, i) => i === 0 || v !== sorted[i - 1]);
}
