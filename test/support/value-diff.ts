/**
 * Reading two parses side by side (the parse fuzzes, test/unit/cut-list-fuzz.test.ts and
 * splice-fuzz.test.ts): the first place two values differ, and a short text of a value for the
 * failure message.
 */

/** A value as JSON (or its String), cut at 300 characters. */
export const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
};

/** The first deep difference of two values: its path and both sides. */
export function firstValueDiff(a: unknown, b: unknown, path: (string | number)[] = []): { path: (string | number)[]; a: unknown; b: unknown } | undefined {
  if (Bun.deepEquals(a, b, true)) return undefined;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = firstValueDiff(a[i], b[i], [...path, i]);
      if (d) return d;
    }
  } else if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys) {
      const d = firstValueDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], [...path, k]);
      if (d) return d;
    }
  }
  return { path, a, b };
}
