/**
 * Code point order, the one string order hostwall shows users: the same on every machine (no
 * locale) and the order Go sorts strings in (UTF-8 bytes), which Calico's canonical forms use.
 */

/**
 * Compares by code point. `<` on JS strings compares UTF-16 units, which differs only when a
 * surrogate (a character above U+FFFF) meets a unit in U+E000-U+FFFF: the surrogate's
 * character is the larger one.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
