/**
 * The staged first load (agent/apply.ts stagedLoad): big hash sets of tables the kernel does
 * not hold yet go in over netlink between an nft transaction that makes the tables (sets only,
 * no chain) and one that adds everything else. What must hold, with a runner that records the
 * calls: the order (empty tables, elements, the rest); the rest is line for line the full
 * script (nft's error lines keep their origins) without the big elements and without deleting
 * those tables; tables already in the kernel, small sets and a runner without netlink take the
 * one whole-script transaction; a refusal at any step removes what the first step made; a
 * netlink refusal falls back to the whole script. The kernel tests (bigset-edits, libnftables)
 * load the real thing and compare the listing with a full replace.
 */
import { describe, expect, test } from "bun:test";
import { newEngineState, sendRuleset, STAGE_MIN_ELEMENTS } from "../../src/agent/apply.ts";
import { memoryLogger } from "../../src/agent/log.ts";
import type { NftRuleset } from "../../src/nft/ir.ts";
import type { SetElements } from "../../src/nft/netlink.ts";
import { renderFlush, renderScript, renderStagedTables, stagedKey, type TableStamp } from "../../src/nft/render.ts";
import type { NftResult, NftRunner } from "../../src/nft/runner.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { exampleFiles } from "./api-fakes.ts";

const STAMP: TableStamp = { generation: 1, hash: "0123456789abcdef" };

function bigConfig(n: number): NftRuleset {
  // Hosts 7 apart: normalising merges none of them, so the set holds n elements.
  const ip = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
  const nets = Array.from({ length: n }, (_, i) => `    - ${ip(0x0a000000 + i * 7)}\n`).join("");
  const big = { path: "/etc/hostwall/25-big.yaml", text: `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n${nets}` };
  const built = buildRuleset({ files: [...exampleFiles(), big], node: "jasper" });
  if (!built.ruleset) throw new Error("test bug: the config does not build");
  return built.ruleset;
}

/** A runner that records what it is asked; `fail` makes the named step refuse. */
function recorder(opts: { tables?: string[]; fail?: "tables-script" | "netlink" | "rest"; netlink?: boolean } = {}) {
  const calls: { kind: "apply" | "check" | "netlink" | "tables"; script?: string; sets?: readonly SetElements[] }[] = [];
  const ok: NftResult = { ok: true, stdout: "", stderr: "" };
  const runner: NftRunner = {
    deltas: true,
    apply: async (script, o) => {
      calls.push({ kind: o?.check ? "check" : "apply", script });
      const step = script.includes("staged load") ? "rest" : script.includes("chain ") ? "whole" : script.includes("delete table") && !script.includes("set ") ? "flush" : "tables-script";
      if (opts.fail === step) return { ok: false, stdout: "", stderr: `/dev/stdin:7:1-5: Error: refused (${step})\n` };
      return ok;
    },
    tables: async () => {
      calls.push({ kind: "tables" });
      return { ok: true, tables: new Map((opts.tables ?? []).map((t) => [t, undefined])) };
    },
    ...(opts.netlink === false
      ? {}
      : {
          loadElements: async (sets: readonly SetElements[]) => {
            calls.push({ kind: "netlink", sets });
            return opts.fail === "netlink" ? { ok: false as const, error: "the kernel refused the set elements: ENOMEM" } : { ok: true as const, messages: 1, bytes: 100 };
          },
        }),
  };
  return { runner, calls };
}

const send = (runner: NftRunner, ir: NftRuleset) => sendRuleset(runner, memoryLogger(), newEngineState(), { next: ir, full: () => renderScript(ir, STAMP).text, force: false, stamp: STAMP });

describe("the staged first load", () => {
  const ir = bigConfig(STAGE_MIN_ELEMENTS + 500);
  const bigSets = ir.tables.flatMap((t) => t.sets.filter((s) => s.elements.length >= STAGE_MIN_ELEMENTS).map((s) => ({ t, s })));
  const staged = new Set(bigSets.map(({ t, s }) => stagedKey(t, s)));

  test("the script that completes it is the full script line for line, without the big elements and without deleting their tables", () => {
    expect(bigSets.length).toBeGreaterThan(0);
    const full = renderScript(ir, STAMP);
    const rest = renderScript(ir, STAMP, staged);
    const a = full.text.split("\n");
    const b = rest.text.split("\n");
    expect(b.length).toBe(a.length);
    expect(rest.origins).toEqual(full.origins);
    const differ = a.map((line, i) => [line, b[i]!] as const).filter(([x, y]) => x !== y);
    for (const [x, y] of differ) {
      if (x.startsWith("delete table")) expect(y).toStartWith("#");
      else expect(y).toBe("");
    }
    const elementLines = bigSets.reduce((n, { s }) => n + 2 + Math.ceil(s.elements.length / 16), 0);
    const stagedTables = new Set(bigSets.map(({ t }) => `${t.family} ${t.name}`)).size;
    expect(differ.length).toBe(elementLines + stagedTables);
    for (const { s } of bigSets) expect(rest.text).not.toContain(s.elements.slice(7, 8)[0]!);
  });

  test("the first step makes only the tables of the big sets, with their stamp, the sets empty, no chain", () => {
    const text = renderStagedTables(ir, staged, STAMP);
    expect(text).toContain('comment "hostwall generation 1 hash 0123456789abcdef"');
    expect(text).not.toContain("chain ");
    expect(text).not.toContain("elements");
    for (const { s } of bigSets) expect(text).toContain(`set ${s.name} {`);
    expect(text.match(/^table \S+ \S+ \{ comment/gm)?.length).toBe(new Set(bigSets.map(({ t }) => t.family)).size);
  });

  test("tables absent: empty tables, then the elements over netlink, then the rest; reported as a full replace that loaded them first", async () => {
    const { runner, calls } = recorder();
    const sent = await send(runner, ir);
    expect(sent).toMatchObject({ ok: true, mode: "full" });
    expect(sent.ok && sent.mode === "full" && sent.why).toContain(`${bigSets.reduce((n, { s }) => n + s.elements.length, 0)} elements of ${bigSets.length} big set(s) loaded over netlink first`);
    expect(calls.map((c) => c.kind)).toEqual(["tables", "check", "apply", "netlink", "check", "apply"]);
    expect(calls[1]!.script).toBe(renderStagedTables(ir, staged, STAMP));
    expect(calls[4]!.script).toBe(renderScript(ir, STAMP, staged).text);
    const loaded = calls[3]!.sets!;
    expect(loaded.map((s) => `${s.family} ${s.table} ${s.set}`).sort()).toEqual([...staged].sort());
    for (const s of loaded) expect(s.elements).toBe(bigSets.find(({ t, s: x }) => stagedKey(t, x) === `${s.family} ${s.table} ${s.set}`)!.s.elements);
  });

  test("one of hostwall's tables already in the kernel: one whole-script transaction, no netlink", async () => {
    const t = ir.tables[0]!;
    const { runner, calls } = recorder({ tables: [`${t.family} ${t.name}`] });
    const sent = await send(runner, ir);
    expect(sent).toMatchObject({ ok: true, mode: "full", why: "first apply" });
    expect(calls.map((c) => c.kind)).toEqual(["tables", "check", "apply"]); // under 1 MiB: a dry run first (apply.ts DRY_RUN_MAX_BYTES)
    expect(calls[2]!.script).toBe(renderScript(ir, STAMP).text);
  });

  test("small sets, or a runner without netlink: the whole script, and the tables are not even listed", async () => {
    for (const [what, r, config] of [
      ["small", recorder(), bigConfig(STAGE_MIN_ELEMENTS - 10)], // the example deny list adds a host or two to the set
      ["no netlink", recorder({ netlink: false }), ir],
    ] as const) {
      const sent = await send(r.runner, config);
      expect({ what, sent }).toMatchObject({ what, sent: { ok: true, mode: "full", why: "first apply" } });
      expect({ what, calls: r.calls.map((c) => c.kind).filter((k) => k !== "check") }).toEqual({ what, calls: ["apply"] });
    }
  });

  test("netlink refused: the tables made are removed, and the whole script goes the usual way", async () => {
    const { runner, calls } = recorder({ fail: "netlink" });
    const logger = memoryLogger();
    const sent = await sendRuleset(runner, logger, newEngineState(), { next: ir, full: () => renderScript(ir, STAMP).text, force: false, stamp: STAMP });
    expect(sent).toMatchObject({ ok: true, mode: "full", why: "first apply" });
    expect(calls.map((c) => c.kind)).toEqual(["tables", "check", "apply", "netlink", "apply", "check", "apply"]);
    const made = ir.tables.filter((t) => t.sets.some((s) => staged.has(stagedKey(t, s))));
    expect(calls[4]!.script).toBe(renderFlush(made));
    expect(calls[6]!.script).toBe(renderScript(ir, STAMP).text);
    expect(logger.lines.join("\n")).toContain("staged load: the kernel refused the set elements: ENOMEM; sending the whole script instead");
  });

  test("the rest refused (nft refuses the ruleset itself): the tables made are removed and the refusal is the answer, with the full script's line", async () => {
    const { runner, calls } = recorder({ fail: "rest" });
    const sent = await send(runner, ir);
    expect(sent).toMatchObject({ ok: false, check: true, stderr: "/dev/stdin:7:1-5: Error: refused (rest)\n" });
    expect(calls.map((c) => c.kind)).toEqual(["tables", "check", "apply", "netlink", "check", "apply"]);
    expect(calls[5]!.script).toBe(renderFlush(ir.tables.filter((t) => t.sets.some((s) => staged.has(stagedKey(t, s))))));
  });

  test("the empty tables refused: nothing loaded over netlink, the whole script instead", async () => {
    const { runner, calls } = recorder({ fail: "tables-script" });
    const sent = await send(runner, ir);
    expect(sent).toMatchObject({ ok: true, mode: "full", why: "first apply" });
    expect(calls.map((c) => c.kind)).toEqual(["tables", "check", "apply", "check", "apply"]); // refused check, the flush, the whole script
  });
});

describe("netlink element messages (nft/netlink.ts encodeElements)", () => {
  /** Reads a batch back: each message's type, family, table, set and element keys (as hex). */
  function decode(bytes: Uint8Array): { type: number; family: number; table?: string; set?: string; keys: string[] }[] {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const out: { type: number; family: number; table?: string; set?: string; keys: string[] }[] = [];
    const attrs = (from: number, to: number, each: (type: number, at: number, len: number) => void) => {
      for (let o = from; o + 4 <= to; ) {
        const len = v.getUint16(o, true);
        if (len < 4) throw new Error(`attribute of length ${len} at ${o}`);
        each(v.getUint16(o + 2, true) & 0x7fff, o + 4, len - 4);
        o += (len + 3) & ~3;
      }
    };
    for (let o = 0; o < bytes.length; ) {
      const len = v.getUint32(o, true);
      if (len < 20) throw new Error(`message of length ${len} at ${o}`);
      const msg = { type: v.getUint16(o + 4, true), family: bytes[o + 16]!, keys: [] as string[], table: undefined as string | undefined, set: undefined as string | undefined };
      const text = (at: number, n: number) => Buffer.from(bytes.subarray(at, at + n - 1)).toString("latin1");
      attrs(o + 20, o + len, (type, at, n) => {
        if (type === 1) msg.table = text(at, n);
        else if (type === 2) msg.set = text(at, n);
        else if (type === 3) attrs(at, at + n, (_e, eat, en) => attrs(eat, eat + en, (_k, kat, kn) => attrs(kat, kat + kn, (_d, dat, dn) => msg.keys.push(Buffer.from(bytes.subarray(dat, dat + dn)).toString("hex")))));
      });
      out.push(msg);
      o += len;
    }
    return out;
  }

  test("one batch: begin, element messages under 64 KiB each holding every key in network order, end", async () => {
    const { encodeElements } = await import("../../src/nft/netlink.ts");
    const v4 = Array.from({ length: 9000 }, (_, i) => `192.0.${(i >> 8) & 255}.${i & 255}`);
    const batch = encodeElements([
      { family: "netdev", table: "hostwall", set: "sel-a-4l32", type: "ipv4_addr", elements: v4 },
      { family: "inet", table: "hostwall", set: "sel-a-6l128", type: "ipv6_addr", elements: ["2001:db8::1", "::ffff:192.0.2.1"] },
    ]);
    const msgs = decode(batch.bytes);
    expect(msgs[0]!.type).toBe(0x10);
    expect(msgs.at(-1)!.type).toBe(0x11);
    const elems = msgs.slice(1, -1);
    expect(elems.length).toBe(batch.acks);
    expect(elems.every((m) => m.type === ((10 << 8) | 12))).toBe(true);
    const v4msgs = elems.filter((m) => m.set === "sel-a-4l32");
    expect(v4msgs.length).toBeGreaterThan(1); // 9,000 keys do not fit one message
    expect(v4msgs.every((m) => m.family === 5 && m.table === "hostwall")).toBe(true);
    expect(v4msgs.flatMap((m) => m.keys)).toEqual(v4.map((a) => Buffer.from(a.split(".").map(Number)).toString("hex")));
    const v6 = elems.filter((m) => m.set === "sel-a-6l128");
    expect(v6.map((m) => m.family)).toEqual([1]);
    expect(v6[0]!.keys).toEqual(["20010db8000000000000000000000001", "00000000000000000000ffffc0000201"]);
    let at = 0;
    for (const m of msgs) {
      const len = new DataView(batch.bytes.buffer, batch.bytes.byteOffset).getUint32(at, true);
      expect(len).toBeLessThan(64 * 1024);
      at += len;
      void m;
    }
  });

  test("an element or a name the IR should never hold is refused before anything is sent", async () => {
    const { addSetElements, encodeElements } = await import("../../src/nft/netlink.ts");
    expect(() => encodeElements([{ family: "ip", table: "hostwall", set: "s", type: "ipv4_addr", elements: ["192.0.2.1/24"] }])).toThrow("is not an IPv4 address");
    expect(() => encodeElements([{ family: "ip", table: "hostwall", set: "s", type: "ipv6_addr", elements: ["192.0.2.1"] }])).toThrow("is not an IPv6 address");
    expect(() => encodeElements([{ family: "ip", table: "host wall", set: "s", type: "ipv4_addr", elements: [] }])).toThrow("unsafe nft identifier");
    expect(addSetElements([{ family: "ip", table: "hostwall", set: 's"; flush ruleset', type: "ipv4_addr", elements: ["192.0.2.1"] }])).toMatchObject({ ok: false, error: expect.stringContaining("unsafe nft identifier") });
  });
});
