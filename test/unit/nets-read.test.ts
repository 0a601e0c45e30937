/**
 * A spliced nets: list read from the read before it (src/validate/nets-read.ts, issue #13):
 * big sets of random prefixes carry host-bit warnings, and a one-prefix edit of such a set
 * must still be read as a splice (it was read in full: ~0.7 s at 1M, and no splice record
 * reached resolve and compile, ~1.2 s more). Whatever path is taken, the result must equal a
 * full read: nets, problems (paths, messages, the summary's count) and the host-bit count.
 */
import { describe, expect, test } from "bun:test";
import { FAST_PATH_BYTES, parseLargeFile } from "../../src/config/fast-yaml.ts";
import { parseFile } from "../../src/config/parse.ts";
import { clearParseCache, forgetParse, parseCacheStats } from "../../src/config/parse-cache.ts";
import { loadConfig } from "../../src/validate/load.ts";
import type { FieldPath } from "../../src/config/resource.ts";
import { markSplice, spliceOf } from "../../src/derive.ts";
import { formatCidr, type Cidr } from "../../src/model/cidr.ts";
import type { CidrList } from "../../src/model/cidr-column.ts";
import { MAX_HOST_BITS_WARNINGS, readNets, readNetsOnce } from "../../src/validate/nets-read.ts";
import { mulberry32Unit as prng } from "../support/prng.ts";


/** Hosts, clean prefixes and (with `hostBitsRate`) prefixes with host bits set. */
function entry(r: () => number, hostBitsRate: number): string {
  const b = (n: number) => Math.floor(r() * n);
  const x = r();
  if (x < hostBitsRate) return `${10 + b(100)}.${b(256)}.${b(256)}.${1 + b(255)}/${22 + b(8)}`;
  if (x < hostBitsRate + (1 - hostBitsRate) / 2) return `${10 + b(100)}.${b(256)}.${b(256)}.${b(256)}`;
  return `${10 + b(100)}.${b(256)}.${b(256)}.0/24`;
}

/** `next` spliced from `from` as the parse cache records it. */
function splice(from: string[], index: number, removed: number, inserted: string[]): string[] {
  const next = [...from.slice(0, index), ...inserted, ...from.slice(index + removed)];
  markSplice(next, { from, index, removed, inserted });
  return next;
}

const PATH = "/etc/hostwall/25-big.yaml";
const COLD = "/etc/hostwall/cold/25-big.yaml";
const view = (r: ReturnType<typeof readNets>) => ({ nets: r.nets.map(formatCidr), problems: r.problems, hostBits: r.hostBits });

describe("a spliced nets: list with host-bit warnings", () => {
  test("a one-prefix edit in the middle of a big random-prefix set is read as a splice, equal to a full read", () => {
    const r = prng(5);
    const items = Array.from({ length: 20_000 }, () => entry(r, 0.5));
    const first = readNetsOnce(items);
    expect(first.hostBits).toBeGreaterThan(MAX_HOST_BITS_WARNINGS);
    const added = splice(items, 10_000, 0, ["198.51.100.0/24"]);
    const second = readNetsOnce(added);
    const s = spliceOf<Cidr, CidrList>(second.nets);
    expect(s && { from: s.from === first.nets, index: s.index, removed: s.removed, inserted: s.inserted.map(formatCidr) }).toEqual({ from: true, index: 10_000, removed: 0, inserted: ["198.51.100.0/24"] });
    expect(view(second)).toEqual(view(readNets(added)));
    // And back out again, plus one with host bits in: still splices, the count follows.
    const back = splice(added, 10_000, 1, ["198.51.100.7/24"]);
    const third = readNetsOnce(back);
    expect(spliceOf(third.nets)?.from).toBe(second.nets);
    expect(third.hostBits).toBe(first.hostBits + 1);
    expect(view(third)).toEqual(view(readNets(back)));
  });

  test("300 random splices in a row, few and many host bits, edits among the warned entries: each equal to a full read", () => {
    const r = prng(11);
    const b = (n: number) => Math.floor(r() * n);
    const paths = { spliced: 0, full: 0 };
    for (const rate of [0.002, 0.05, 0.5]) {
      let items = Array.from({ length: 3_000 }, () => entry(r, rate));
      readNetsOnce(items);
      for (let step = 0; step < 100; step++) {
        const at = b(4) === 0 ? b(20) : b(items.length);
        const removed = Math.min(b(4), items.length - at);
        const inserted = Array.from({ length: b(4) }, () => entry(r, b(3) === 0 ? 1 : rate));
        if (removed + inserted.length === 0) continue;
        const prev = readNetsOnce(items);
        items = splice(items, at, removed, inserted);
        const read = readNetsOnce(items);
        if (spliceOf(read.nets)?.from === prev.nets) paths.spliced++;
        else paths.full++;
        expect({ rate, step, ...view(read) }).toEqual({ rate, step, ...view(readNets(items)) });
      }
    }
    // Both paths were taken: the proof covers the splice, not only the fallback.
    expect(paths.spliced).toBeGreaterThan(150);
    expect(paths.full).toBeGreaterThan(10);
  });

  test("an inserted entry that does not parse, or a list with an error, takes the full read", () => {
    const items = ["10.0.0.1/24", "10.0.0.2/24", "10.0.0.3", "10.0.0.4/24", "10.0.0.5/24", "10.0.0.6/24", "10.0.0.7/24", "10.0.0.8"];
    readNetsOnce(items);
    const bad = splice(items, 7, 0, ["10.0.0.999"]);
    const read = readNetsOnce(bad);
    expect(spliceOf(read.nets)).toBeUndefined();
    expect(view(read)).toEqual(view(readNets(bad)));
    expect(read.problems.some((p) => p.severity === "error")).toBe(true);
    const after = splice(bad, 8, 0, ["10.0.0.9"]);
    expect(spliceOf(readNetsOnce(after).nets)).toBeUndefined();
  });
});

describe("the host-bit summary's place in a big file", () => {
  // The summary warning is reported at spec.nets (the list's node). Finding that place must not
  // index the lines of the whole file: at 1M entries that cost ~150 ms of every one-prefix edit.
  const HEAD = `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\nspec:\n  nets:\n  # generated\n`;
  for (const indent of ["  ", "    ", "      "]) {
    test(`spec.nets located from the list's block, as the positioned parser places it (indent ${indent.length})`, () => {
      const r = prng(3);
      const lines = Array.from({ length: 70_000 }, () => `${indent}- ${entry(r, 0.5)}\n`);
      const file = { path: "/etc/hostwall/25-big.yaml", text: HEAD + lines.join("") };
      expect(file.text.length).toBeGreaterThan(FAST_PATH_BYTES);
      const fast = parseLargeFile(file)!.resources[0]!;
      const slow = parseFile(file).resources[0]!;
      const probes: [FieldPath, { key?: boolean }?][] = [[["spec", "nets"]], [["spec", "nets"], { key: true }], [["spec", "nets", 0]], [["spec", "nets", 69_999]], [["spec"]]];
      for (const [path, opts] of probes) expect({ path, opts, at: fast.locate(path, opts) }).toEqual({ path, opts, at: slow.locate(path, opts) });
      // The fast answer for spec.nets comes without a line index: a text whose newlines cannot be
      // searched (a getter that throws after the parse) still answers.
      let reads = 0;
      const counted = { path: file.path, get text() { reads++; return file.text; } };
      const loc = parseLargeFile(counted)!.resources[0]!.locate;
      const before = reads;
      expect(loc(["spec", "nets"])).toEqual(slow.locate(["spec", "nets"]));
      expect(reads).toBe(before);
    });
  }
});

describe("a big random-prefix file edited by one line, through the loader", () => {
  test("spliced at each stage, and every diagnostic (host-bit warnings, the summary, their places) as a cold load gives", () => {
    clearParseCache();
    const r = prng(9);
    const head = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n";
    const lines = Array.from({ length: 60_000 }, () => `    - ${entry(r, 0.5)}\n`);
    const load = (text: string, path: string) => loadConfig([{ path, text }], { node: "jasper" });
    const first = load(head + lines.join(""), PATH).model.networkSets[0]!.nets;
    for (const [step, edit] of [[0, () => lines.splice(30_000, 0, "    - 198.51.100.0/24\n")], [1, () => lines.splice(30_000, 1)], [2, () => lines.splice(40_000, 2, "    - 203.0.113.9/24\n")]] as const) {
      edit();
      const text = head + lines.join("");
      const before = parseCacheStats().spliced;
      const warm = load(text, PATH);
      expect({ step, spliced: parseCacheStats().spliced - before }).toEqual({ step, spliced: 1 });
      expect(spliceOf(warm.model.networkSets[0]!.nets)).toBeDefined();
      forgetParse(COLD);
      const cold = load(text, COLD);
      forgetParse(COLD);
      const strip = (ds: typeof warm.diagnostics) => ds.map((d) => ({ ...d, file: "<file>" }));
      expect({ step, d: strip(warm.diagnostics) }).toEqual({ step, d: strip(cold.diagnostics) });
      expect(warm.diagnostics.map((d) => d.code)).toEqual(Array(6).fill("NET_HOST_BITS"));
      expect(warm.model.networkSets[0]!.nets.map(formatCidr)).toEqual(cold.model.networkSets[0]!.nets.map(formatCidr));
    }
    expect(first.length).toBe(60_000);
  });
});
