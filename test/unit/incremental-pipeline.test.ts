/**
 * The whole pipeline, built incrementally, equals the pipeline built from nothing (issue #13:
 * a one-line edit of a million-entry network set file must cost what the edit costs). The
 * stages patch their cached results through src/derive.ts records: the parse of the edited big
 * file (config/parse-cache.ts), its CIDRs (validate/validate.ts), the normalised member sets
 * (resolve/sets.ts) and the per-length element lists (nft/). A patched result that differs
 * from a fresh one in any way would enforce something the files do not say, so every step of a
 * seeded random edit sequence is built twice, once through the caches and once with every cache
 * emptied, and the rulesets (every table, chain, rule and element), the scripts and the
 * diagnostics must be identical; the patched path must also have been taken.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { clearParseCache, parseCached, parseCacheStats } from "../../src/config/parse-cache.ts";
import { FAST_PATH_BYTES } from "../../src/config/fast-yaml.ts";
import { droppedValueCount, hollowedCount, readAgainCount } from "../../src/config/list-splice.ts";
import { clearSetMemo, setMemoStats } from "../../src/resolve/set-memo.ts";
import { clearSpares, refillSpare, spareStats } from "../../src/spares.ts";
import { formatDiagnostic } from "../../src/diagnostics/diagnostic.ts";
import { buildRuleset, dropCollections, releaseAfterApply, type BuildResult } from "../../src/pipeline.ts";
import type { SourceFile } from "../../src/source/source-file.ts";
import { mulberry32Unit as prng } from "../support/prng.ts";

const REPO = join(import.meta.dir, "../..");
const RULES: SourceFile[] = readdirSync(join(REPO, "rules"))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => ({ path: `/etc/hostwall/${f}`, text: readFileSync(join(REPO, "rules", f), "utf8") }));
const BIG = "/etc/hostwall/25-big.yaml";


/**
 * An entry near others, so edits touch, cover, duplicate and split what is there: IPv4 hosts in
 * a few /16s (neighbours merge into /31s and wider), prefixes /20-/30 over the same space, IPv6
 * hosts and prefixes under 2001:db8::/32, and now and then a quoted entry.
 */
function entry(rnd: () => number): string {
  const r = rnd();
  const q = (s: string) => (rnd() < 0.05 ? `"${s}"` : s);
  if (r < 0.8) {
    const a = (((11 << 24) | (Math.floor(rnd() * 4) << 16) | Math.floor(rnd() * 65536)) >>> 0) as number;
    const dotted = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
    if (r < 0.7) return q(dotted);
    const len = 20 + Math.floor(rnd() * 11);
    const net = (a & ~((1 << (32 - len)) - 1)) >>> 0;
    return q(`${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}`);
  }
  const g = Math.floor(rnd() * 16).toString(16);
  const h = Math.floor(rnd() * 4096).toString(16);
  return q(r < 0.95 ? `2001:db8:${g}::${h}` : `2001:db8:${g}:${h}::/64`);
}

function bigFile(lines: string[]): SourceFile {
  return { path: BIG, text: `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n${lines.map((l) => `    - ${l}\n`).join("")}` };
}

const build = (big: SourceFile, dropValues = false): BuildResult => buildRuleset({ files: [...RULES, big], node: "jasper", dropValues });

/** What a build says and enforces, as text: any difference fails the comparison. */
function outcome(r: BuildResult): { diagnostics: string[]; ruleset: string; script: string | undefined } {
  return { diagnostics: r.diagnostics.map(formatDiagnostic), ruleset: JSON.stringify(r.ruleset), script: r.script?.text };
}

function cold(big: SourceFile): ReturnType<typeof outcome> {
  clearParseCache();
  clearSetMemo();
  return outcome(build(big));
}

describe("incremental pipeline", () => {
  // As the agent: the big list's values are dropped once validated (BuildInput.dropValues) and,
  // after each build that applies, the records of what each list was made from are forgotten
  // (releaseAfterApply, which drops the values too where the build did not), so the next edit
  // splices from a list without values, and a full read (the step with a bad entry, the one
  // after it) reads them from the file again.
  for (const mode of ["kept", "dropped after each build that applies", "dropped once validated, as the agent does"] as const) test(`a seeded sequence of edits of a big network set file: every build equals a cold one, and was patched; values ${mode}`, () => {
    const rnd = prng(13);
    const release = mode !== "kept";
    const dropValues = mode.startsWith("dropped once");
    let released = 0;
    const hollowedAtStart = hollowedCount();
    const lines = Array.from({ length: 70_000 }, () => entry(rnd));
    let file = bigFile(lines);
    expect(file.text.length).toBeGreaterThan(FAST_PATH_BYTES);
    clearParseCache();
    clearSetMemo();
    // Every list of 1,000 items or more patched into a spare array, as the agent prepares them between edits (spares.ts).
    clearSpares(1000);
    build(file, dropValues);
    if (release) released += releaseAfterApply();
    // The chain of edits first, every build patched from the one before (the caches untouched
    // by cold builds), then each step again from nothing.
    const steps: { file: SourceFile; warm: ReturnType<typeof outcome> }[] = [];
    let spliced = 0;
    let patched = 0;
    let badAt = 0;
    for (let step = 0; step < 40; step++) {
      // One edit: insert, delete or replace 1-30 lines at one place (first, last or anywhere).
      const at = step % 7 === 0 ? 0 : step % 7 === 1 ? lines.length - (step % 3 === 1 ? 3 : 0) : Math.floor(rnd() * lines.length);
      // Every step changes the text (a removal-only step at the end removes the last lines).
      const removed = step % 3 === 0 ? 0 : Math.max(1, Math.min(lines.length - at, Math.floor(rnd() * 30)));
      const inserted = step % 3 === 1 ? [] : Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => entry(rnd));
      // Now and then a duplicate of an entry that stays (removing one copy must keep the other).
      if (inserted.length > 0 && step % 4 === 2) inserted[0] = lines[Math.floor(rnd() * lines.length)]!;
      if (step === 20) inserted.splice(0, inserted.length, "11.0.0.300"); // an error, at its line
      if (step === 21) inserted.length = 0;
      lines.splice(step === 21 ? badAt : at, step === 21 ? 1 : removed, ...inserted);
      if (step === 20) badAt = at;
      file = bigFile(lines);
      const before = { parse: parseCacheStats().spliced, sets: setMemoStats().patched };
      while (refillSpare());
      const warm = build(file, dropValues);
      if (release && warm.ruleset) released += releaseAfterApply();
      steps.push({ file, warm: outcome(warm) });
      spliced += parseCacheStats().spliced - before.parse;
      patched += setMemoStats().patched - before.sets;
    }
    const pool = spareStats();
    clearSpares();
    expect(pool.taken).toBeGreaterThan(100); // the raw list, the CIDRs, the cover, the elements: most patches wrote into spares
    for (const [step, { file, warm }] of steps.entries()) expect({ step, ...warm }).toEqual({ step, ...cold(file) });
    expect(spliced).toBe(40);
    // Patched at every step but two: the one with the bad entry stops before resolve, and the one
    // that removes it is read afresh (a list read with a problem is never patched: positions).
    expect(patched).toBe(38);
    // Every build that applied left its list to empty: the first and 39 of the 40 steps (not the
    // one with the bad entry); the build did it itself when it dropped values once validated.
    expect([released, hollowedCount() - hollowedAtStart]).toEqual(mode === "kept" ? [0, 0] : dropValues ? [0, 40] : [40, 40]);
  }, 120_000);
});

describe("values dropped once validated (BuildInput.dropValues, the agent's builds)", () => {
  test("a list of 500,000 read from nothing is collected at once; an edit of it (a list without values, spliced) drops nothing and does not collect", () => {
    clearParseCache();
    clearSetMemo();
    const lines = Array.from({ length: 500_000 }, (_, i) => `11.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const collections = dropCollections();
    const dropped = droppedValueCount();
    expect(build(bigFile(lines), true).ruleset).toBeDefined();
    expect([dropCollections() - collections, droppedValueCount() - dropped]).toEqual([1, 500_000]);
    lines.splice(250_000, 1, "172.31.250.9", "172.31.250.10");
    const edited = build(bigFile(lines), true);
    expect(edited.ruleset).toBeDefined();
    expect([dropCollections() - collections, droppedValueCount() - dropped]).toEqual([1, 500_000]);
    expect(outcome(edited)).toEqual(cold(bigFile(lines)));
  }, 60_000);
});

describe("an edit of a list whose values were dropped", () => {
  // More than MAX_HOST_BITS_WARNINGS entries with host bits: an edit after the last one warned
  // counts the host bits of what it removed (nets-read.ts), which the list no longer holds.
  test("removing entries (one with host bits) after the warned ones: equal to a cold build, read from the old version's lines, not the whole list again", () => {
    clearParseCache();
    clearSetMemo();
    const lines = Array.from({ length: 5000 }, (_, i) => (i < 10 || i === 4001 ? `10.${i % 250}.7.1/16` : `11.${(i >> 8) & 255}.${i & 255}.7`));
    const first = build(bigFile(lines));
    expect(first.diagnostics.filter((d) => d.code === "NET_HOST_BITS")).toHaveLength(6); // five, then "and 6 more"
    expect(releaseAfterApply()).toBe(1);
    const edited = [...lines.slice(0, 4000), ...lines.slice(4003)];
    const spliced = parseCacheStats().spliced;
    const reads = readAgainCount();
    const warm = outcome(build(bigFile(edited)));
    expect([parseCacheStats().spliced - spliced, readAgainCount() - reads]).toEqual([1, 0]);
    expect(warm.diagnostics.filter((d) => d.includes("and 5 more entries with host bits set"))).toHaveLength(1); // 6 more before: one with host bits removed
    expect(warm).toEqual(cold(bigFile(edited)));
  });
});

/** How many of `refs` still point at something (in a frame of its own, which is gone when it returns). */
function countAlive(refs: readonly WeakRef<object>[]): number {
  return refs.filter((r) => r.deref() !== undefined).length;
}

describe("an edited big file keeps no earlier version alive", () => {
  // A closure made while reading version k must not keep version k-1's list (whose reader keeps
  // version k-2's, and so on: every edit's list stayed, ~8 MB each at 1M entries, found by
  // measuring the agent). WeakRefs to each version's list, collected after the edits.
  test("after eight edits, each released as the agent does, the lists of the first six versions are collected (one may stay: a stale pointer on the stack)", async () => {
    clearParseCache();
    clearSetMemo();
    const lines = Array.from({ length: 5000 }, (_, i) => `11.${(i >> 8) & 255}.${i & 255}.7`);
    const refs: WeakRef<object>[] = [];
    (() => {
      for (let k = 0; k < 8; k++) {
        const file = bigFile([...lines, `172.31.250.${k}`]);
        expect(file.text.length).toBeGreaterThan(FAST_PATH_BYTES);
        expect(build(file).ruleset).toBeDefined();
        const parsed = parseCached(file, () => {
          throw new Error("the build parsed it: the cache has it");
        });
        refs.push(new WeakRef((parsed.resources[0]!.value as { spec: { nets: object } }).spec.nets));
        releaseAfterApply();
      }
    })();
    expect(parseCacheStats().spliced).toBeGreaterThanOrEqual(7);
    // The collector scans the stack and registers conservatively, so a stale pointer may keep one
    // list (seen: the first, depending on the tests before); the leak kept every version. A few
    // collections, a little apart, before counting (a loaded machine kept two once).
    let alive = 6;
    for (let round = 0; round < 4 && alive > 1; round++) {
      await Bun.sleep(round * 20);
      Bun.gc(true);
      alive = countAlive(refs.slice(0, 6));
    }
    expect(alive).toBeLessThanOrEqual(1);
  });
});
