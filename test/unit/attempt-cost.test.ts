/**
 * An attempt costs what the change costs (issue #13): the shortcuts the agent takes for a
 * small edit of a big set give exactly what the long way gives. The content hash (patched
 * through a set change record) equals the hash made from nothing; the delta and the change
 * description read from the record equal the full diff; the script rendered stamped in one
 * pass equals the stamped script; the script in force, rendered when asked, is the one sent;
 * the log line says where the time went; queued edits write the last good record once.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { readConfigDir } from "../../src/source/read-dir.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RecordWriter, recordPieces, stateStore } from "../../src/agent/state.ts";
import { markSetChange } from "../../src/derive.ts";
import { describeChange, snapshot } from "../../src/agent/change.ts";
import { formatStages } from "../../src/agent/stages.ts";
import { computeDelta, diffElements, elementEdit } from "../../src/nft/delta.ts";
import type { NftRuleset, NftSet } from "../../src/nft/ir.ts";
import { renderScript, scriptChunks, stampScript } from "../../src/nft/render.ts";
import { digestStats, elementsDigest, rulesetHash } from "../../src/nft/ruleset-hash.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { exampleFiles, fakeAgent, memoryState, MORE_DENY } from "./api-fakes.ts";

const example = (): NftRuleset => buildRuleset({ files: exampleFiles(), node: "jasper" }).ruleset!;
const hosts = (n: number, skip = -1) => Array.from({ length: n }, (_, i) => i).filter((i) => i !== skip).map((i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`).sort();

/** `ir` with the elements of its first non-dynamic set in every table replaced. */
function withElements(ir: NftRuleset, elements: readonly string[]): NftRuleset {
  return { tables: ir.tables.map((t) => ({ ...t, sets: t.sets.map((s, i) => (i === t.sets.findIndex((x) => !x.dynamic) ? ({ ...s, elements: elements as string[] } satisfies NftSet) : s)) })) };
}

describe("the content hash without the script", () => {
  test("a set change record patches the digest to exactly the digest made from nothing", () => {
    const from = hosts(5000, 77);
    const to = hosts(5000, 1234); // 77 added, 1234 removed
    const fresh = [...to];
    elementsDigest(from);
    markSetChange(to, { from, added: ["10.0.0.77"], removed: ["10.0.4.210"] });
    const patched = digestStats.patched;
    expect(elementsDigest(to)).toBe(elementsDigest(fresh));
    expect(digestStats.patched).toBe(patched + 1);
    expect(elementsDigest(to)).not.toBe(elementsDigest(from));
  });

  test("same elements in another order hash the same; one element or one rule changed hashes differently", () => {
    const base = example();
    const els = hosts(300);
    const a = rulesetHash(withElements(base, els));
    expect(rulesetHash(withElements(base, [...els].reverse()))).toBe(a);
    expect(rulesetHash(withElements(base, hosts(300, 5)))).not.toBe(a);
    expect(rulesetHash(withElements(base, [...els, "10.9.9.9"]))).not.toBe(a);
    const ported = buildRuleset({ files: exampleFiles().map((f) => ({ ...f, text: f.text.replace("ports: [80, 443]", "ports: [80, 8443]") })), node: "jasper" }).ruleset!;
    expect(rulesetHash(ported)).not.toBe(rulesetHash(base));
    expect(rulesetHash(base)).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe("the delta and the change description from a set change record", () => {
  test("equal the full diff", () => {
    const base = example();
    const fromEls = hosts(20_000, 500);
    const toEls = hosts(20_000, 19_000);
    const marked = [...toEls];
    markSetChange(marked, { from: fromEls, added: ["10.0.1.244"], removed: ["10.0.74.56"] });
    expect(elementEdit(fromEls, marked)).toEqual(diffElements(fromEls, toEls));
    expect(elementEdit(fromEls, marked)).toEqual({ added: ["10.0.1.244"], removed: ["10.0.74.56"] });
    const from = withElements(base, fromEls);
    const viaRecord = computeDelta(from, withElements(base, marked), {}, { generation: 2, hash: "0123456789abcdef" });
    const full = computeDelta(from, withElements(base, toEls), {}, { generation: 2, hash: "0123456789abcdef" });
    expect(viaRecord.kind).toBe("delta");
    expect(viaRecord).toEqual(full);
    const before = snapshot([], from, []);
    expect(describeChange(before, snapshot([], withElements(base, marked), []))).toBe(describeChange(before, snapshot([], withElements(base, toEls), [])));
    expect(describeChange(before, snapshot([], withElements(base, marked), []))).toContain("set entries +1 -1");
  });

  test("read only the change, not every element (the arrays count their reads)", () => {
    const base = example();
    const fromEls = hosts(50_000, 500);
    let reads = 0;
    const counted = <T extends object>(a: T): T => new Proxy(a, { get: (o, k, r) => (typeof k === "string" && /^\d+$/.test(k) && reads++, Reflect.get(o, k, r)) });
    const to = counted(hosts(50_000, 40_000));
    markSetChange(to, { from: fromEls, added: ["10.0.1.244"], removed: ["10.0.156.64"] });
    elementsDigest(fromEls);
    const from = withElements(base, fromEls);
    const next = withElements(base, to);
    reads = 0;
    expect(elementEdit(fromEls, to)).toEqual({ added: ["10.0.1.244"], removed: ["10.0.156.64"] });
    expect(computeDelta(from, next).kind).toBe("delta");
    expect(describeChange(snapshot([], from, []), snapshot([], next, []))).toContain("set entries +1 -1");
    rulesetHash(next);
    expect(reads).toBe(0);
  });

  test("a record of another array than the one in force is not used", () => {
    const fromEls = hosts(100, 3);
    const marked = hosts(100, 4);
    markSetChange(marked, { from: hosts(100, 3), added: ["10.0.0.99"], removed: [] }); // a lie about a different array
    expect(elementEdit(fromEls, marked)).toEqual({ added: ["10.0.0.3"], removed: ["10.0.0.4"] });
  });
});

describe("the script, rendered only when it is needed", () => {
  test("rendered stamped in one pass equals the stamped script", () => {
    const ir = example();
    const stamp = { generation: 7, hash: "0123456789abcdef" };
    expect(renderScript(ir, stamp).text).toBe(stampScript(renderScript(ir).text, stamp));
    expect(renderScript(ir, stamp).text).toContain(`table inet hostwall { comment "hostwall generation 7 hash 0123456789abcdef";`);
    expect(() => renderScript(ir, { generation: 1, hash: "nothex" })).toThrow("bad stamp");
  });

  test("the script in force, rendered when asked, is the one the kernel was sent", async () => {
    const f = fakeAgent();
    expect((await f.agent.reload("startup")).ok).toBe(true);
    expect(f.kernel.applied.length).toBe(1);
    expect(f.agent.applied!.script).toBe(f.kernel.applied[0]!);
    expect(f.agent.applied!.hash).toBe(rulesetHash(example()));
  });
});

describe("the attempt's log line", () => {
  test("splits the time by stage with a stage clock", async () => {
    const f = fakeAgent();
    let t = 0;
    (f.agent as unknown as { deps: { stageClock: () => number } }).deps.stageClock = () => (t += 0.5);
    await f.agent.reload("startup");
    const line = f.logger.lines.find((l) => l.startsWith("info: applied generation 1"))!;
    expect(line).toMatch(/, [\d.]+ ms \(read 0\.5, parse\+validate 0\.5, resolve 0\.5, lint 0\.5, compile 0\.5, hash 0\.5, snapshot 0\.5, checks 0\.5, render 0\.5, send 0\.5 ms; after: describe 0\.5, observe 0\.5 ms\)$/);
  });

  test("formats stages that ran, with the after part only when there is one", () => {
    expect(formatStages([["read", 1.234], ["render", undefined], ["send", 20]])).toBe("(read 1.2, send 20 ms)");
    expect(formatStages([["read", 1]], [["save", 40.06]])).toBe("(read 1 ms; after: save 40.1 ms)");
  });
});

describe("the last good record", () => {
  test("edits queued behind an attempt write it once, for the ruleset in force at the end", async () => {
    const state = memoryState();
    const f = fakeAgent({ state });
    await f.agent.reload("startup");
    expect(state.saves).toBe(1);
    f.state.files = [...exampleFiles(), MORE_DENY];
    const first = f.agent.reload("config changed");
    const second = f.agent.reload("config changed again"); // queued behind the first
    f.state.files = [...exampleFiles(), MORE_DENY, { ...MORE_DENY, path: "/etc/hostwall/51-more.yaml", text: MORE_DENY.text.replace("more", "more2").replace("198.51.100.7", "198.51.100.8") }];
    await Promise.all([first, second]);
    expect(f.agent.generation).toBe(3);
    expect(state.saves).toBe(2);
    expect(state.record).toMatchObject({ generation: 3, hash: f.agent.applied!.hash });
  });

  test("an owed record is written when the queued attempt finds nothing to change", async () => {
    const state = memoryState();
    const f = fakeAgent({ state });
    await f.agent.reload("startup");
    f.state.files = [...exampleFiles(), MORE_DENY];
    const first = f.agent.reload("config changed");
    const second = f.agent.reload("nothing more");
    await Promise.all([first, second]);
    expect(f.agent.generation).toBe(2);
    expect(state.saves).toBe(2);
    expect(state.record).toMatchObject({ generation: 2, hash: f.agent.applied!.hash });
  });
});

describe("the last good record, written in pieces", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const stateDir = () => {
    const d = mkdtempSync(join(tmpdir(), "hw-attempt-cost-"));
    dirs.push(d);
    return join(d, "state");
  };

  test("the pieces of a big script are the script; the record they make reads back as the whole one", async () => {
    const ir = withElements(example(), hosts(70_000));
    const stamp = { generation: 4, hash: "0123456789abcdef" };
    const chunks = [...scriptChunks(ir, stamp)];
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.join("")).toBe(renderScript(ir, stamp).text);
    const record = { format: 1 as const, node: "jasper", generation: 4, hash: stamp.hash, at: "2026-01-01T00:00:00.000Z", expected: [], resources: {}, interfaces: ["eth0"] };
    expect(JSON.parse([...recordPieces(record, scriptChunks(ir, stamp))].join(""))).toEqual({ ...record, script: renderScript(ir, stamp).text });
    const store = stateStore(stateDir());
    await store.saveStreamed!(record, scriptChunks(ir, stamp));
    expect(await store.load()).toEqual({ ...record, script: renderScript(ir, stamp).text });
  });

  test("one write at a time, the newest waiting one wins", async () => {
    const w = new RecordWriter();
    const ran: string[] = [];
    let release!: () => void;
    const first = w.write(() => new Promise<void>((r) => (release = () => (ran.push("a"), r()))));
    void w.write(async () => void ran.push("b"));
    const last = w.write(async () => void ran.push("c"));
    release();
    await Promise.all([first, last, w.idle()]);
    expect(ran).toEqual(["a", "c"]);
  });

  test("the record is written in the background, and idle() waits for it", async () => {
    const dir = stateDir();
    const store = stateStore(dir);
    let writes = 0;
    const streamed = store.saveStreamed!.bind(store);
    const f = fakeAgent({ state: { ...store, saveStreamed: (r, s) => (writes++, streamed(r, s)) } });
    await f.agent.reload("startup");
    await f.agent.idle();
    expect(writes).toBe(1);
    expect((await store.load())?.generation).toBe(1);
    f.state.files = [...exampleFiles(), MORE_DENY];
    const second = f.agent.reload("config changed");
    await second;
    await f.agent.idle();
    expect(writes).toBe(2);
    expect(await store.load()).toMatchObject({ generation: 2, hash: f.agent.applied!.hash, script: f.kernel.applied.at(-1)! });
    expect(f.logger.lines.some((l) => l.includes("warning: cannot save"))).toBe(false);
  });
});

describe("reading a big file into the kept buffer", () => {
  test("each read gives exactly that file's text: a shorter one after a longer, two at once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hw-attempt-read-"));
    try {
      chmodSync(dir, 0o755);
      const text = (n: number, tag: string) => `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: ${tag}}\nspec:\n  nets:\n${hosts(n).map((h) => `    - ${h}\n`).join("")}`;
      const put = (name: string, t: string) => {
        writeFileSync(join(dir, `.${name}.tmp`), t, { mode: 0o644 });
        renameSync(join(dir, `.${name}.tmp`), join(dir, name));
      };
      const long = text(120_000, "long"); // over 1 MiB: read into the kept buffer
      const short = text(90_000, "short");
      expect(long.length).toBeGreaterThan(1 << 21);
      put("a.yaml", long);
      expect((await readConfigDir(dir)).files.map((f) => f.text)).toEqual([long]);
      put("a.yaml", short);
      expect((await readConfigDir(dir)).files.map((f) => f.text)).toEqual([short]);
      put("b.yaml", long);
      const [one, two] = await Promise.all([readConfigDir(dir), readConfigDir(dir)]);
      expect(one.files.map((f) => f.text)).toEqual([short, long]);
      expect(two.files.map((f) => f.text)).toEqual([short, long]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
