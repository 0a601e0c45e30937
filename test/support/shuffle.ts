/**
 * Seeded shuffles for determinism tests: the same permutations on every run, so a failure
 * reproduces.
 */
import type { SourceFile } from "../../src/source/source-file.ts";

export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Splits every file into its documents and deals them into three new files in a shuffled order. */
export function redistribute(files: readonly SourceFile[], seed: number): SourceFile[] {
  const docs = files.flatMap((f) => f.text.split(/^---$/m)).filter((d) => d.trim() && /kind:/.test(d));
  const buckets: string[][] = [[], [], []];
  shuffled(docs, seed).forEach((d, i) => buckets[(i + seed) % 3]!.push(d));
  return buckets.map((b, i) => ({ path: `shuffled-${seed}-${i}.yaml`, text: b.join("\n---\n") }));
}
