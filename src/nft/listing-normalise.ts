/**
 * One canonical form for a ruleset, applied alike to what the compiler built and to what
 * `nft -j list` printed (listing.ts), so the two compare with plain deep equality. It undoes
 * what nft changes on the way through the kernel, and nothing else:
 *
 * - the leading matches of a rule are a conjunction: sorted and deduplicated;
 * - `tcp dport` is `meta l4proto tcp` + `th dport` (nft folds the protocol into the header
 *   name on listing, inside concatenations too);
 * - dependencies nft drops on listing are dropped here too: `meta l4proto icmp` before an
 *   `icmp …` match, and the family pin (`meta nfproto ipv4`, netdev `meta protocol ip`) when
 *   another match implies that family. A pin that nft considers implied is therefore not
 *   compared (the listing cannot show it);
 * - protocol, ICMP type/code and family names are numbers; a one-element set is a value;
 *   number sets are merged ranges, address sets the fewest CIDRs (nft merges touching
 *   elements), other sets sorted; a sub-byte raw payload is the byte-aligned load with a mask;
 * - comments as the renderer writes them (safeText); origins, chain order, set order and
 *   netdev devices (absent from nft 1.0.6's JSON) dropped.
 */
import { elementTexts } from "./address-list.ts";
import type { Field, NftChain, NftRule, NftRuleset, NftSet, NftTable, Operand, Statement, Value } from "./ir.ts";
import { canonicalAddresses } from "./listing-addresses.ts";
import { MAX_COMMENT_BYTES, safeText } from "./render.ts";

const L4PROTO: Record<string, number> = { icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, icmpv6: 58, "ipv6-icmp": 58, dccp: 33, sctp: 132, udplite: 136 };
const NFPROTO: Record<string, number> = { ipv4: 2, ipv6: 10 };
const ETHERTYPE: Record<string, number> = { ip: 0x0800, arp: 0x0806, ip6: 0x86dd, "8021q": 0x8100, "8021ad": 0x88a8 };
const ICMP_TYPE: Record<string, number> = { "echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, redirect: 5, "echo-request": 8, "router-advertisement": 9, "router-solicitation": 10, "time-exceeded": 11, "parameter-problem": 12, "timestamp-request": 13, "timestamp-reply": 14, "info-request": 15, "info-reply": 16, "address-mask-request": 17, "address-mask-reply": 18 };
const ICMP_CODE: Record<string, number> = { "net-unreachable": 0, "host-unreachable": 1, "prot-unreachable": 2, "port-unreachable": 3, "frag-needed": 4, "net-prohibited": 9, "host-prohibited": 10, "admin-prohibited": 13 };
const ICMPV6_TYPE: Record<string, number> = { "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4, "echo-request": 128, "echo-reply": 129, "mld-listener-query": 130, "mld-listener-report": 131, "mld-listener-done": 132, "mld-listener-reduction": 132, "nd-router-solicit": 133, "nd-router-advert": 134, "nd-neighbor-solicit": 135, "nd-neighbor-advert": 136, "nd-redirect": 137, "router-renumbering": 138, "ind-neighbor-solicit": 141, "ind-neighbor-advert": 142, "mld2-listener-report": 143 };
const ICMPV6_CODE: Record<string, number> = { "no-route": 0, "admin-prohibited": 1, "addr-unreachable": 3, "port-unreachable": 4, "policy-fail": 5, "reject-route": 6 };
const TRANSPORT = new Set(["tcp", "udp", "sctp", "udplite", "dccp"]);

export function normaliseRuleset(ruleset: NftRuleset): NftRuleset {
  return { tables: ruleset.tables.map(normaliseTable) };
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function normaliseTable(t: NftTable): NftTable {
  return { family: t.family, name: t.name, sets: t.sets.map(normaliseSet).sort(byName), chains: t.chains.map(normaliseChain).sort(byName) };
}

function normaliseSet(s: NftSet): NftSet {
  let elements: string[];
  // A dynamic set's elements are what the kernel saw, not what was compiled.
  if (s.dynamic) elements = [];
  else if (s.type === "ipv4_addr" || s.type === "ipv6_addr") elements = canonicalAddresses(elementTexts(s.elements)) ?? [...s.elements].sort();
  else elements = unique(Array.from(s.elements, tupleText));
  return {
    name: s.name,
    type: s.type,
    interval: s.interval,
    elements,
    ...(s.comment !== undefined ? { comment: safeText(s.comment, MAX_COMMENT_BYTES) } : {}),
    ...(s.dynamic ? { dynamic: { size: s.dynamic.size, timeout: s.dynamic.timeout } } : {}),
  };
}

/** `addr . proto . port` with the address canonical and the protocol a number. */
function tupleText(text: string): string {
  const [address, proto, port] = text.split(" . ");
  const a = canonicalAddresses([address ?? ""])?.[0] ?? address;
  return `${a} . ${proto !== undefined ? (L4PROTO[proto] ?? proto) : ""} . ${port ?? ""}`;
}

function normaliseChain(c: NftChain): NftChain {
  // nft 1.0.6 leaves a netdev chain's device out of its JSON (the text listing has it), so the
  // device is not compared here; test/kernel/listing.test.ts checks it in the text listing.
  return { name: c.name, ...(c.base ? { base: { hook: c.base.hook, priority: c.base.priority } } : {}), rules: c.rules.map(normaliseRule) };
}

function normaliseRule(r: NftRule): NftRule {
  return { statements: normaliseStatements(r.statements), ...(r.comment !== undefined ? { comment: safeText(r.comment, MAX_COMMENT_BYTES) } : {}) };
}

export function normaliseStatements(statements: readonly Statement[]): Statement[] {
  const first = statements.findIndex((s) => s.kind !== "match");
  const head = first < 0 ? statements : statements.slice(0, first);
  const tail = first < 0 ? [] : statements.slice(first);
  const implied = new Set<number>();
  let matches = head.map((m) => (m.kind === "match" ? normaliseMatch(m, implied) : m));
  for (const p of implied) matches.push({ kind: "match", left: { kind: "meta", key: "l4proto" }, op: "==", right: { kind: "value", value: { kind: "number", value: p } } });
  matches = dropDependencies(matches, tail);
  const seen = new Map<string, Statement>();
  for (const m of matches) seen.set(JSON.stringify(m), m);
  const sorted = [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, m]) => m);
  return [...sorted, ...tail.map((s) => (s.kind === "match" ? normaliseMatch(s, new Set()) : s.kind === "vmap" ? normaliseVmap(s) : s))];
}

function normaliseVmap(s: Extract<Statement, { kind: "vmap" }>): Statement {
  const entries = s.entries.map((e) => ({ ...e, key: normaliseValue(e.key, s.key) }));
  entries.sort((a, b) => (JSON.stringify(a.key) < JSON.stringify(b.key) ? -1 : 1));
  return { kind: "vmap", key: normaliseField(s.key, new Set()), entries };
}

function normaliseMatch(m: Extract<Statement, { kind: "match" }>, implied: Set<number>): Statement {
  if (m.left.kind === "raw" && (m.left.offset % 8 !== 0 || m.left.length % 8 !== 0) && m.right.kind === "value" && m.right.value.kind === "number") {
    // `@ll,116,12 0` is listed as `@ll,112,16 & 0xfff == 0`.
    const start = Math.floor(m.left.offset / 8) * 8;
    const end = Math.ceil((m.left.offset + m.left.length) / 8) * 8;
    const shift = end - (m.left.offset + m.left.length);
    const mask = (2 ** m.left.length - 1) * 2 ** shift;
    const left: Field = { kind: "and", field: { kind: "raw", base: m.left.base, offset: start, length: end - start }, mask };
    return { kind: "match", left, op: m.op, right: { kind: "value", value: { kind: "number", value: m.right.value.value * 2 ** shift } } };
  }
  const left = normaliseField(m.left, implied);
  return { kind: "match", left, op: m.op, right: normaliseOperand(m.right, left) };
}

/** `tcp dport` → `th dport`, remembering that the rule matches TCP only. */
function normaliseField(f: Field, implied: Set<number>): Field {
  if (f.kind === "payload" && TRANSPORT.has(f.protocol)) {
    implied.add(L4PROTO[f.protocol]!);
    return { kind: "payload", protocol: "th", field: f.field };
  }
  if (f.kind === "and") return { kind: "and", field: normaliseField(f.field, implied), mask: f.mask };
  if (f.kind === "prefix") return { kind: "prefix", field: normaliseField(f.field, implied), length: f.length };
  if (f.kind === "concat") return { kind: "concat", fields: f.fields.map((x) => normaliseField(x, implied)) };
  return f;
}

function normaliseOperand(o: Operand, left: Field): Operand {
  switch (o.kind) {
    case "value":
    case "set": {
      const elements = normaliseElements((o.kind === "value" ? [o.value] : o.elements).map((v) => normaliseValue(v, left)), left);
      return elements.length === 1 ? { kind: "value", value: elements[0]! } : { kind: "set", elements };
    }
    case "flags":
      return { kind: "flags", flags: unique(o.flags) };
    default:
      return o;
  }
}

function normaliseValue(v: Value, left: Field): Value {
  if (v.kind === "concat") {
    const fields = left.kind === "concat" ? left.fields : [];
    return { kind: "concat", values: v.values.map((x, i) => normaliseValue(x, fields[i] ?? left)) };
  }
  if (v.kind === "range" && v.min === v.max) return { kind: "number", value: v.min };
  if (v.kind !== "symbol") return v;
  const table = symbolTable(left);
  const n = table?.[v.value];
  return n !== undefined ? { kind: "number", value: n } : v;
}

function symbolTable(f: Field): Record<string, number> | undefined {
  if (f.kind === "meta") return f.key === "l4proto" ? L4PROTO : f.key === "nfproto" ? NFPROTO : f.key === "protocol" ? ETHERTYPE : undefined;
  if (f.kind !== "payload") return undefined;
  if (f.protocol === "icmp") return f.field === "type" ? ICMP_TYPE : f.field === "code" ? ICMP_CODE : undefined;
  if (f.protocol === "icmpv6") return f.field === "type" ? ICMPV6_TYPE : f.field === "code" ? ICMPV6_CODE : undefined;
  return undefined;
}

/** Set elements in one order: numbers as merged ranges, addresses as the fewest CIDRs, the rest sorted. */
function normaliseElements(values: Value[], left: Field): Value[] {
  if (values.length > 0 && values.every((v) => v.kind === "address")) {
    const cidrs = canonicalAddresses(values.map((v) => (v as { value: string }).value));
    if (cidrs) return cidrs.map((c) => ({ kind: "address", value: c }));
  }
  if (values.length > 0 && values.every((v) => v.kind === "number" || v.kind === "range") && left.kind !== "concat") {
    const spans = values.map((v) => (v.kind === "number" ? [v.value, v.value] : [v.min, v.max]) as [number, number]).sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const [lo, hi] of spans) {
      const last = merged[merged.length - 1];
      if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
      else merged.push([lo, hi]);
    }
    return merged.map(([lo, hi]) => (lo === hi ? { kind: "number", value: lo } : { kind: "range", min: lo, max: hi }));
  }
  const byKey = new Map(values.map((v) => [JSON.stringify(v), v]));
  return [...byKey.keys()].sort().map((k) => byKey.get(k)!);
}

/** The family a match implies by itself (4, 6), if any. */
function familyOf(m: Statement): 4 | 6 | undefined {
  if (m.kind !== "match") return undefined;
  const fields = m.left.kind === "concat" ? m.left.fields : [m.left.kind === "and" || m.left.kind === "prefix" ? m.left.field : m.left];
  for (const f of fields) {
    if (f.kind === "payload" && (f.protocol === "ip" || f.protocol === "icmp")) return 4;
    if (f.kind === "payload" && (f.protocol === "ip6" || f.protocol === "icmpv6")) return 6;
  }
  const n = l4protoEquals(m);
  return n === 1 ? 4 : n === 58 ? 6 : undefined;
}

function l4protoEquals(m: Statement): number | undefined {
  if (m.kind !== "match" || m.op !== "==" || m.left.kind !== "meta" || m.left.key !== "l4proto" || m.right.kind !== "value" || m.right.value.kind !== "number") return undefined;
  return m.right.value.value;
}

/** The family a pin (`meta nfproto`, `meta protocol`) asks for, if the match is one. */
function pinOf(m: Statement): 4 | 6 | undefined {
  if (m.kind !== "match" || m.op !== "==" || m.left.kind !== "meta" || m.right.kind !== "value" || m.right.value.kind !== "number") return undefined;
  const v = m.right.value.value;
  if (m.left.key === "nfproto") return v === 2 ? 4 : v === 10 ? 6 : undefined;
  if (m.left.key === "protocol") return v === 0x0800 ? 4 : v === 0x86dd ? 6 : undefined;
  return undefined;
}

function dropDependencies(matches: Statement[], tail: readonly Statement[]): Statement[] {
  const icmp = (p: "icmp" | "icmpv6") => matches.some((m) => m.kind === "match" && JSON.stringify(m.left).includes(`"protocol":"${p}"`));
  const families = new Set(matches.map(familyOf).filter((f) => f !== undefined));
  // `update @s { ip saddr }` pins the rule to its family as an `ip saddr` match would.
  for (const st of tail) {
    const f = st.kind === "set-update" ? familyOf({ kind: "match", left: st.key, op: "==", right: { kind: "exists" } }) : undefined;
    if (f) families.add(f);
  }
  return matches.filter((m) => {
    const l4 = l4protoEquals(m);
    if ((l4 === 1 && icmp("icmp")) || (l4 === 58 && icmp("icmpv6"))) return false;
    const pin = pinOf(m);
    return pin === undefined || !families.has(pin);
  });
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)].sort();
}

/** The first place two normalised rulesets differ, as a sentence; undefined when they are equal. */
export function firstDifference(expected: NftRuleset, actual: NftRuleset): string | undefined {
  const key = (t: NftTable) => `${t.family} ${t.name}`;
  const names = (xs: { name: string }[]) => xs.map((x) => x.name).join(", ");
  if (expected.tables.map(key).join() !== actual.tables.map(key).join()) return `tables: expected [${expected.tables.map(key).join(", ")}], got [${actual.tables.map(key).join(", ")}]`;
  for (const [ti, e] of expected.tables.entries()) {
    const a = actual.tables[ti]!;
    if (names(e.sets) !== names(a.sets)) return `table ${key(e)}: sets [${names(e.sets)}] vs [${names(a.sets)}]`;
    for (const [si, s] of e.sets.entries()) if (JSON.stringify(s) !== JSON.stringify(a.sets[si])) return `table ${key(e)} set ${s.name}: expected ${JSON.stringify(s).slice(0, 400)}, got ${JSON.stringify(a.sets[si]).slice(0, 400)}`;
    if (names(e.chains) !== names(a.chains)) return `table ${key(e)}: chains [${names(e.chains)}] vs [${names(a.chains)}]`;
    for (const [ci, c] of e.chains.entries()) {
      const ac = a.chains[ci]!;
      if (JSON.stringify(c.base) !== JSON.stringify(ac.base)) return `table ${key(e)} chain ${c.name}: hook ${JSON.stringify(c.base)} vs ${JSON.stringify(ac.base)}`;
      const n = Math.max(c.rules.length, ac.rules.length);
      for (let i = 0; i < n; i++) {
        if (JSON.stringify(c.rules[i]) !== JSON.stringify(ac.rules[i])) return `table ${key(e)} chain ${c.name} rule ${i}: expected ${JSON.stringify(c.rules[i])}, got ${JSON.stringify(ac.rules[i])}`;
      }
    }
  }
  return undefined;
}
