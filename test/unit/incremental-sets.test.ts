/**
 * Big selector sets patched instead of rebuilt (issue #13; resolve/set-memo.ts,
 * nft/length-groups.ts): a seeded sequence of edits of two big network sets (plus a small one
 * and the endpoint's own addresses), each edit made the way the parse stage reports it (a new
 * nets array marked as a splice of the old one). After every step the plan's address sets and
 * the compiled IR (tables, sets, elements, chains) must equal a build from nothing, the
 * patched path must have been taken, and every patched element list must carry a set-change
 * record that turns the last build's list into the new one.
 */
import { describe, expect, test } from "bun:test";
import { applySplice, markSplice, setChangeOf, spliceOf } from "../../src/derive.ts";
import { formatCidr, makeCidr, type Cidr } from "../../src/model/cidr.ts";
import { normalizeCidrs } from "../../src/model/cidr-normalize.ts";
import { CidrColumn, columnOf } from "../../src/model/cidr-column.ts";
import type { Model } from "../../src/model/types.ts";
import { compileRuleset } from "../../src/nft/compile.ts";
import type { Elements, NftRuleset } from "../../src/nft/ir.ts";
import { AddressList } from "../../src/nft/address-list.ts";
import { lengthGroupStats } from "../../src/nft/length-groups.ts";
import { resolvePlan, type Plan } from "../../src/resolve/resolve.ts";
import { buildIndexV4, buildIndexV6, coverIndexStats } from "../../src/resolve/member-index.ts";
import { clearSetMemo, setMemoStats, withColdSets } from "../../src/resolve/set-memo.ts";
import { clearSpares, refillSpare, spareStats } from "../../src/spares.ts";
import { loadConfig } from "../../src/validate/load.ts";
import { mulberry32Unit as prng } from "../support/prng.ts";

const NODE = "n1";
/** Small enough that both families of the big sets are split by length, with rare lengths too. */
const LAYOUT = { threshold: 400, rare: 16 };

const CONFIG = `
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: h, labels: {role: host, list: h}}
spec: {node: ${NODE}, interfaceName: eth0, expectedIPs: [192.0.2.10, "2001:db8::10"]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: a, labels: {list: a, deny: 'true'}}
spec: {nets: [198.51.100.1]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: b, labels: {list: b, deny: 'true'}}
spec: {nets: [198.51.100.2]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: c, labels: {list: c, deny: 'true'}}
spec: {nets: [198.51.100.3]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  selector: role == 'host'
  types: [Ingress, Egress]
  ingress:
    - {action: Deny, source: {selector: "deny == 'true'"}}
    - {action: Allow, protocol: TCP, source: {selector: "list == 'a'"}, destination: {ports: [22]}}
    - {action: Deny, source: {selector: "list in {'b', 'h'}"}}
    - {action: Allow, source: {notSelector: "list == 'b'"}}
  egress:
    - {action: Deny, destination: {selector: "has(list)"}}
`;


type Lists = { a: Cidr[]; b: Cidr[]; c: Cidr[]; hep: Cidr[] };

/** Addresses drawn from small ranges, so hosts touch (and merge into /31s and up), prefixes cover hosts, the sets share members. */
function generators(rnd: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const int = (n: number) => Math.floor(rnd() * n);
  const v4host = () => makeCidr(4, 32, 0x0a000000 + int(0x4000));
  // Hosts fill 10.0.0.0/18 to a third: /31s and longer runs form; a /24 covers ~85 of them.
  const v4prefix = (wide = false) => {
    const p = pick(wide ? [24, 22, 20] : [31, 30, 29, 28, 27, 26, 24]);
    return makeCidr(4, p, 0x0a000000 + int(0x4000));
  };
  // Two IPv6 zones either side of a word boundary (…:0:ffff:f000-ffff and …:1:0:0-fff): touching ranges carry across it.
  const v6host = () => (rnd() < 0.5 ? makeCidr(6, 128, 0x20010db8, 0, 0, 0xfffff000 + int(0x1000)) : makeCidr(6, 128, 0x20010db8, 0, 1, int(0x1000)));
  const v6prefix = (wide = false) => {
    const p = pick(wide ? [116, 112, 96] : [127, 126, 124, 120]);
    return rnd() < 0.5 ? makeCidr(6, p, 0x20010db8, 0, 0, 0xfffff000 + int(0x1000)) : makeCidr(6, p, 0x20010db8, 0, 1, int(0x1000));
  };
  const border = () =>
    pick([makeCidr(4, 32, 0), makeCidr(4, 32, 0xffffffff), makeCidr(4, 31, 0xfffffffe), makeCidr(4, 1, 0x80000000), makeCidr(6, 128, 0, 0, 0, 0), makeCidr(6, 128, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), makeCidr(6, 1, 0x80000000)]);
  return { pick, int, v4host, v4prefix, v6host, v6prefix, border };
}

function initial(rnd: () => number): Lists {
  const g = generators(rnd);
  const list = (v4: number, v6: number) => [
    ...Array.from({ length: v4 }, () => (rnd() < 0.02 ? g.v4prefix() : g.v4host())),
    ...Array.from({ length: v6 }, () => (rnd() < 0.03 ? g.v6prefix() : g.v6host())),
  ];
  return { a: list(5000, 900), b: list(4000, 600), c: list(20, 5), hep: [makeCidr(4, 32, 0xc000020a), makeCidr(6, 128, 0x20010db8, 0, 0, 0x10)] };
}

/** The columns list `a` is read into, as validate/nets-read.ts reads a big network set: a spliced array's column is the earlier column spliced (and marked). */
const columns = new WeakMap<readonly Cidr[], CidrColumn>();
function asColumn(list: Cidr[]): CidrColumn {
  let col = columns.get(list);
  if (col) return col;
  const s = spliceOf(list);
  const from = s && columns.get(s.from);
  col = from ? markSplice<Cidr, CidrColumn>(from.spliced(s.index, s.removed, s.inserted), { from, index: s.index, removed: s.removed, inserted: s.inserted }) : columnOf(list, list.length);
  columns.set(list, col);
  return col;
}

/** The model with the lists: network set `a` as a column (a big set's nets are one), the others as arrays (small sets, endpoints). */
function modelWith(base: Model, lists: Lists): Model {
  return {
    ...base,
    networkSets: base.networkSets.map((s) => ({ ...s, nets: s.meta.name === "a" ? asColumn(lists.a) : lists[s.meta.name as "b" | "c"] })),
    hostEndpoints: base.hostEndpoints.map((h) => ({ ...h, expectedIPs: lists.hep })),
  };
}

function build(model: Model): { plan: Plan; ir: NftRuleset } {
  const plan = resolvePlan(model, NODE).plan;
  return { plan, ir: compileRuleset(plan, { perLength: LAYOUT, dropSummaries: true }) };
}

/** `list` spliced as the parse stage does it: a new array, marked. */
function spliced(list: Cidr[], index: number, removed: number, inserted: Cidr[]): Cidr[] {
  const next = applySplice(list, index, removed, inserted);
  markSplice(next, { from: list, index, removed, inserted });
  return next;
}

/** Wide prefixes added (each covers hundreds of members), removed again two steps later so the sets stay big. */
const wide: { step: number; name: "a" | "b"; cidr: Cidr }[] = [];

/** One random edit; returns what it did, for the failure message, and whether a big list is no longer a splice of the last one. */
function edit(lists: Lists, rnd: () => number, step: number): { what: string; broken: boolean; big: boolean } {
  const g = generators(rnd);
  // A catch-all (every member covered: the cover is two /1s) added, then removed again.
  const catchAll = new Map([[100, makeCidr(4, 0, 0)], [200, makeCidr(6, 0, 0)]]);
  for (const [at, c] of catchAll) {
    if (step === at) {
      lists.a = spliced(lists.a, 17, 0, [c]);
      return { what: `catch-all ${formatCidr(c)} added`, broken: false, big: true };
    }
    if (step === at + 1) {
      lists.a = spliced(lists.a, 17, 1, []);
      return { what: `catch-all ${formatCidr(c)} removed`, broken: false, big: true };
    }
  }
  // Thousands of changes in one edit (the goal table's 10k + 10k edit, scaled down): every region at once.
  if (step % 40 === 25) return batch(lists, rnd, step);
  const due = wide.length > 0 && wide[0]!.step <= step - 2 ? wide.shift()! : undefined;
  const where = due && lists[due.name].indexOf(due.cidr);
  if (due && where !== undefined && where >= 0) {
    lists[due.name] = spliced(lists[due.name], where, 1, []);
    return { what: `wide ${formatCidr(due.cidr)} removed from ${due.name}`, broken: false, big: true };
  }
  const name = rnd() < 0.6 ? "a" : "b";
  const list = lists[name];
  const at = g.int(list.length + 1);
  const put = (what: string, inserted: Cidr[], index = at, removed = 0) => {
    lists[name] = spliced(list, index, removed, inserted);
    return { what: `${what} in ${name} at ${index} (-${removed} +${inserted.map(formatCidr).join(",")})`, broken: false, big: true };
  };
  const indexWhere = (f: (c: Cidr) => boolean) => {
    const hits = list.flatMap((c, i) => (f(c) ? [i] : []));
    return hits.length > 0 ? g.pick(hits) : g.int(list.length);
  };
  const op = g.int(18);
  switch (op) {
    case 0:
      return put("v4 host", [g.v4host()]);
    case 1:
      return put("remove", [], g.int(list.length), 1);
    case 2: {
      const cidr = rnd() < 0.5 ? g.v4prefix(true) : g.v6prefix(true);
      wide.push({ step, name, cidr });
      return put("wide prefix", [cidr]);
    }
    case 3: {
      const i = indexWhere((c) => c.prefix < (c.family === 4 ? 32 : 128));
      return put("remove a prefix", [], i, 1);
    }
    case 4: {
      const h = list[indexWhere((c) => c.family === 4 && c.prefix === 32)]!;
      return put("v4 neighbour", [makeCidr(4, 32, (h.a0 ^ (rnd() < 0.5 ? 1 : 2)) >>> 0)]);
    }
    case 5: {
      const other = lists[rnd() < 0.5 ? "a" : "b"];
      return put("duplicate", [other[g.int(other.length)]!]);
    }
    case 6:
      return put("v6", [rnd() < 0.8 ? g.v6host() : g.v6prefix()]);
    case 15:
      return put("v4 covering prefix", [g.v4prefix()]);
    case 16: {
      // Two touching new members away from the others: their regions touch and must be joined (a /31, not two /32s).
      const v4 = (0x0a400000 + 2 * g.int(0x8000)) >>> 0;
      const pairs = [
        [makeCidr(4, 32, v4), makeCidr(4, 32, v4 + 1)],
        [makeCidr(4, 32, v4 + 1), makeCidr(4, 32, v4 + 2)],
        [makeCidr(6, 128, 0x20010db8, 0, 0x10, 2 * g.int(0x8000)), makeCidr(6, 128, 0x20010db8, 0, 0x10, 2 * g.int(0x8000) + 1)],
        // Either side of a word boundary: touching, never one CIDR.
        [makeCidr(6, 128, 0x20010db8, 0, 0x20, 0xffffffff), makeCidr(6, 128, 0x20010db8, 0, 0x21, 0)],
      ];
      const pair = g.pick(pairs);
      if (pair[0]!.family === 6 && pair[0]!.a2 === 0x10) pair[1] = makeCidr(6, 128, 0x20010db8, 0, 0x10, pair[0]!.a3 + 1);
      return put("touching pair", rnd() < 0.5 ? pair : [pair[1]!, pair[0]!]);
    }
    case 7: {
      const i = indexWhere((c) => c.family === 6);
      return put("remove v6", [], i, 1);
    }
    case 8: {
      const index = g.int(list.length);
      const removed = Math.min(list.length - index, 1 + g.int(3));
      return put("replace", Array.from({ length: 1 + g.int(4) }, () => (rnd() < 0.5 ? g.v4host() : g.v6host())), index, removed);
    }
    case 9: {
      const i = indexWhere((c) => c.family === 6 && c.prefix === 128);
      const h = list[i]!;
      return put("v6 neighbour", [makeCidr(6, 128, h.a0, h.a1, h.a2, (h.a3 ^ 1) >>> 0)]);
    }
    case 10:
      return put("border", [g.border()]);
    case 11:
      // The small set and the endpoint's addresses are made anew by every build, edited or not.
      lists.c = Array.from({ length: g.int(40) }, () => (rnd() < 0.5 ? g.v4host() : g.v6host()));
      lists.hep = rnd() < 0.5 ? [...lists.hep] : [g.v4host(), g.v6host()];
      return { what: "small lists made anew", broken: false, big: false };
    case 12:
      return { what: "nothing", broken: false, big: false };
    case 13:
      if (rnd() < 0.3) {
        lists[name] = [...list]; // not marked: the memo cannot know it, and builds anew
        return { what: `unmarked copy of ${name}`, broken: true, big: true };
      }
      return put("v4 hosts", Array.from({ length: 2 + g.int(6) }, g.v4host));
    default: {
      // The same new host in both big sets: one edit each, one build.
      const host = g.v4host();
      lists.a = spliced(lists.a, g.int(lists.a.length + 1), 0, [host]);
      lists.b = spliced(lists.b, g.int(lists.b.length + 1), 0, [host]);
      return { what: `host ${formatCidr(host)} in both`, broken: false, big: true };
    }
  }
}

/**
 * One edit replacing ~1,500 entries of a big list with ~1,500 others: neighbours of members
 * (they merge with them into /31s and up), touching pairs of their own, re-added removed ones
 * (cancelled), duplicates, prefixes covering members, IPv6 hosts and neighbours across a word
 * boundary, hosts anywhere. Their regions touch and overlap each other.
 */
function batch(lists: Lists, rnd: () => number, step: number): { what: string; broken: boolean; big: boolean } {
  const g = generators(rnd);
  const name = step % 80 === 25 ? "a" : "b";
  const list = lists[name];
  const removed = 1200 + g.int(600);
  const index = g.int(list.length - removed);
  const inserted: Cidr[] = [];
  while (inserted.length < 1500) {
    const k = g.int(10);
    const member = list[g.int(list.length)]!;
    if (k <= 2 && member.prefix === 32 && member.family === 4) inserted.push(makeCidr(4, 32, (member.a0 ^ (1 + g.int(3))) >>> 0));
    else if (k === 3) {
      const v4 = (0x0a000000 + 2 * g.int(0x2000)) >>> 0;
      inserted.push(makeCidr(4, 32, v4), makeCidr(4, 32, v4 + 1));
    } else if (k === 4) inserted.push(list[index + g.int(removed)]!);
    else if (k === 5) inserted.push(member);
    else if (k === 6) inserted.push(rnd() < 0.2 ? g.v4prefix() : g.v4host());
    else if (k === 7 && member.family === 6 && member.prefix === 128) inserted.push(makeCidr(6, 128, member.a0, member.a1, member.a2, (member.a3 ^ 1) >>> 0));
    else if (k === 7) inserted.push(makeCidr(6, 128, 0x20010db8, 0, 0, 0xffffffff), makeCidr(6, 128, 0x20010db8, 0, 1, 0));
    else if (k === 8) inserted.push(rnd() < 0.1 ? g.v6prefix() : g.v6host());
    else inserted.push(g.v4host());
  }
  lists[name] = spliced(list, index, removed, inserted);
  return { what: `batch in ${name} at ${index}: -${removed} +${inserted.length}`, broken: false, big: true };
}

/** Equal as JSON (fast); on a difference the lines around the first differing one show where. */
function same(context: string, warm: unknown, cold: unknown): void {
  if (JSON.stringify(warm) === JSON.stringify(cold)) return;
  const [w, c] = [JSON.stringify(warm, null, 1).split("\n"), JSON.stringify(cold, null, 1).split("\n")];
  const line = w.findIndex((l, i) => l !== c[i]);
  expect({ context, line, around: w.slice(line - 4, line + 4) }).toEqual({ context, line, around: c.slice(line - 4, line + 4) });
}

describe("big selector sets patched from the last build", () => {
  test("a seeded sequence of 320 edits (every 40th replaces ~1,500 members at once): plan sets and IR equal a cold build at every step, patched, with set-change records", () => {
    const loaded = loadConfig([{ path: "c.yaml", text: CONFIG }], { node: NODE });
    expect(loaded.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const rnd = prng(20261206);
    const lists = initial(rnd);
    clearSetMemo();
    clearSpares(1000); // lists of 1,000 items or more patched into spare arrays, prepared between edits as the agent does (spares.ts)
    let prev = build(modelWith(loaded.model, lists));
    expect(setMemoStats().built).toBeGreaterThanOrEqual(3); // deny == 'true', list == 'a', list in {b, h}, has(list)
    let patchedSteps = 0;
    const groups0 = lengthGroupStats();
    let records = 0;
    for (let step = 0; step < 320; step++) {
      const did = edit(lists, rnd, step);
      const before = setMemoStats();
      const model = modelWith(loaded.model, lists);
      while (refillSpare());
      const warm = build(model);
      const after = setMemoStats();
      const cold = withColdSets(() => build(modelWith(loaded.model, { a: [...lists.a], b: [...lists.b], c: [...lists.c], hep: [...lists.hep] })));
      const context = `step ${step}: ${did.what}`;
      // Compared as text (fast); on a difference the first differing line shows where.
      same(context, [...warm.plan.sets.values()], [...cold.plan.sets.values()]);
      same(context, warm.ir, cold.ir);
      // Nothing built from nothing unless the chain was broken; every big set patched or reused otherwise.
      expect({ context, built: after.built - before.built > 0 }).toEqual({ context, built: did.broken });
      if (did.big && !did.broken) {
        expect({ context, patched: after.patched - before.patched >= 2 }).toEqual({ context, patched: true });
        patchedSteps++;
      }
      records += checkRecords(prev.ir, warm.ir, context);
      prev = warm;
    }
    // The oracle the cold build does not share: the union set is normalizeCidrs of every member.
    const union = [...prev.plan.sets.values()].find((s) => s.key.includes("deny"))!;
    const all = [...lists.a, ...lists.b, ...lists.c];
    expect([...union.v4]).toEqual(normalizeCidrs(all.filter((c) => c.family === 4)));
    expect([...union.v6]).toEqual(normalizeCidrs(all.filter((c) => c.family === 6)));
    expect(patchedSteps).toBeGreaterThan(250);
    const groups = lengthGroupStats();
    expect(groups.groupsPatched - groups0.groupsPatched).toBeGreaterThan(250);
    expect(groups.elementsPatched - groups0.elementsPatched).toBeGreaterThan(250);
    expect(records).toBeGreaterThan(250);
    expect(spareStats().taken).toBeGreaterThan(250);
    clearSpares();
  }, 120_000);

  test("a big set's cover (a column) equals normalizeCidrs of its members: members that stand alone as they are, touching ones merged (IPv4 and IPv6, two lists)", () => {
    const rnd = prng(20261207);
    for (const family of [4, 6] as const) {
      // Members 256 addresses apart (/24../32 inside their own slot, so none touch), shuffled, some twice.
      const alone: Cidr[] = [];
      for (let i = 0; i < 6000; i++) {
        const p = 24 + Math.floor(rnd() * 9);
        alone.push(family === 4 ? makeCidr(4, p, 0x0b000000 + i * 512) : makeCidr(6, 96 + p, 0x20010db8, 0, 7, i * 512));
      }
      for (let i = alone.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [alone[i], alone[j]] = [alone[j]!, alone[i]!];
      }
      const twice = alone.slice(0, 50).map((c) => makeCidr(c.family, c.prefix, c.a0, c.a1, c.a2, c.a3));
      // Two touching hosts at the end of the range: one /31 (or /127) made of them.
      const base = family === 4 ? makeCidr(4, 32, 0x0c000000) : makeCidr(6, 128, 0x20010db8, 0, 8, 0);
      const pair = [base, family === 4 ? makeCidr(4, 32, 0x0c000001) : makeCidr(6, 128, 0x20010db8, 0, 8, 1)];
      const lists = [alone.slice(0, 4000), [...alone.slice(4000), ...twice, ...pair]];
      const all = lists.flat();
      const n = all.length;
      const { norm } = family === 4 ? buildIndexV4(lists, n) : buildIndexV6(lists, n);
      expect([...norm]).toEqual(normalizeCidrs(all));
      const inputs = new Set(all.map(formatCidr));
      const merged = norm.filter((c) => !inputs.has(formatCidr(c)));
      expect(merged).toEqual([makeCidr(family, family === 4 ? 31 : 127, base.a0, base.a1, base.a2, base.a3)]);
      expect(norm.length).toBe(alone.length + 1);
    }
  });

  for (const family of [4, 6] as const) {
    test(`IPv${family} hosts only (the members are their own cover, one length): 80 edits equal a cold build; the index stays the cover until a duplicate, a touching host or a covering prefix, then keys; the element list is the cover's own words`, () => {
      const loaded = loadConfig([{ path: "c.yaml", text: CONFIG }], { node: NODE });
      const rnd = prng(20261208 + family);
      const at = (x: number, p = family === 4 ? 32 : 128) => (family === 4 ? makeCidr(4, p, 0x0b000000 + x) : makeCidr(6, p, 0x20010db8, 0, 9, x));
      const host = () => at(Math.floor(rnd() * 0x100000) * 2); // even addresses: no two touch, nothing merges
      let a: Cidr[] = Array.from({ length: 6000 }, host);
      a = [...new Map(a.map((c) => [formatCidr(c), c])).values()];
      const lists = (): Lists => ({ a, b: [at(0x200001)], c: [at(0x200003)], hep: [] });
      clearSetMemo();
      const stats0 = coverIndexStats();
      let prev = build(modelWith(loaded.model, lists()));
      let records = 0;
      for (let step = 0; step < 80; step++) {
        const index = Math.floor(rnd() * a.length);
        // Mostly distinct hosts in and out; at 40 a duplicate, at 50 a host touching another (a /31 forms), at 60 a prefix over many (each undone next step).
        const special = step === 40 ? [a[7]!] : step === 50 ? [at(a[9]!.family === 4 ? a[9]!.a0 - 0x0b000000 + 1 : a[9]!.a3 + 1)] : step === 60 ? [at(0, family === 4 ? 16 : 112)] : undefined;
        if (special) a = spliced(a, 0, 0, special);
        else if ([41, 51, 61].includes(step)) a = spliced(a, 0, 1, []);
        else a = spliced(a, index, step % 3 === 0 ? 1 : 0, step % 3 === 1 ? [] : [host(), host()]);
        const warm = build(modelWith(loaded.model, lists()));
        const cold = withColdSets(() => build(modelWith(loaded.model, { ...lists(), a: [...a] })));
        same(`hosts step ${step}`, warm.ir, cold.ir);
        records += checkRecords(prev.ir, warm.ir, `hosts step ${step}`);
        const set = [...warm.plan.sets.values()].find((s) => s.key.includes("deny"))!;
        const members = family === 4 ? set.v4 : set.v6;
        const elements = warm.ir.tables.flatMap((t) => t.sets).find((s) => s.comment === set.key && s.elements instanceof AddressList && s.elements.length > 1000)?.elements as AddressList | undefined;
        // One length (no prefix in): the element list lends the cover's words.
        if (step < 50 || step > 61) expect({ step, lent: members instanceof CidrColumn && (elements as unknown as { words: Uint32Array }).words === members.words && elements!.length === members.length }).toEqual({ step, lent: true });
        prev = warm;
      }
      const stats = coverIndexStats();
      expect(records).toBeGreaterThanOrEqual(60);
      expect(stats.covers - stats0.covers).toBeGreaterThanOrEqual(30);
      expect(stats.written - stats0.written).toBeGreaterThanOrEqual(1);
    });
  }

  test("small sets are built as before and leave no memo", () => {
    clearSetMemo();
    const loaded = loadConfig([{ path: "c.yaml", text: CONFIG }], { node: NODE });
    expect(loaded.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(build(loaded.model).plan.sets.size).toBe(5);
    expect(setMemoStats()).toEqual({ built: 0, patched: 0, reused: 0 });
  });
});

/**
 * Each per-length set whose elements are a new array with a set-change record: the record
 * starts from the same set's elements of the previous build (the very array), removes only what was there,
 * adds only what was not, and gives exactly the new elements. Returns how many were checked.
 */
function checkRecords(prev: NftRuleset, next: NftRuleset, context: string): number {
  let n = 0;
  for (const [t, table] of next.tables.entries()) {
    for (const set of table.sets) {
      const change = setChangeOf<string, Elements>(set.elements);
      const old = prev.tables[t]!.sets.find((s) => s.name === set.name);
      // The very array of the last build: unchanged (its record, if any, is of an earlier change).
      // A set the last build did not have (its length was rare) is loaded whole, whatever its record says.
      if (!change || !old || set.elements === old.elements) continue;
      expect({ context, set: set.name, from: change.from === old?.elements }).toEqual({ context, set: set.name, from: true });
      const result = new Set(change.from);
      for (const e of change.removed) expect({ context, removed: e, was: result.delete(e) }).toEqual({ context, removed: e, was: true });
      for (const e of change.added) {
        expect({ context, added: e, was: result.has(e) }).toEqual({ context, added: e, was: false });
        result.add(e);
      }
      expect({ context, set: set.name, elements: [...result].sort() }).toEqual({ context, set: set.name, elements: [...set.elements].sort() });
      n++;
    }
  }
  return n;
}
