/**
 * `nft -j list ruleset` (or `nft -j list table …`) → the IR of ir.ts, so what is in the kernel
 * can be compared object by object with what was compiled (after normaliseRuleset, in
 * listing-normalise.ts, on both sides).
 *
 * Strict by design: every JSON object of a selected table must be something the IR can say.
 * Anything else (an expression kind we never emit, a chain type other than filter, a set flag
 * we do not use) is a ListingError with the JSON path, never a crash and never skipped, since
 * a skipped statement would make a different rule look equal. Tables that are not selected
 * (by default: every table not named `hostwall`) are not looked at at all.
 *
 * Counter values are not part of the IR's `counter` statement; they are returned beside the
 * tables, keyed by the parsed rule object.
 */
import type { Hook, NftChain, NftRule, NftRuleset, NftSet, NftTable, Statement, TableFamily } from "./ir.ts";
import { STAMP_OBJECT, TABLE } from "./names.ts";
import { expectObject, fail, ListingParseError, parseStatement, setElementText, type Json, type ListingError } from "./listing-expr.ts";

export type { ListingError } from "./listing-expr.ts";

/** Packets and bytes of a rule's counters (summed when a rule has several). */
export interface CounterValues {
  packets: number;
  bytes: number;
}

/** A parsed listing: the selected tables as IR, and the counters of their rules. */
export interface ParsedListing {
  ruleset: NftRuleset;
  /** Rule → its counter values; rules without a counter are absent. */
  counters: Map<NftRule, CounterValues>;
}

export interface ListingOptions {
  /** Which tables to parse; default: hostwall's (`netdev hostwall`, `inet hostwall`). */
  select?: (family: string, name: string) => boolean;
}

const FAMILIES: readonly TableFamily[] = ["netdev", "inet"];
const HOOKS: readonly Hook[] = ["ingress", "prerouting", "input", "forward", "output"];
const SET_TYPES: readonly NftSet["type"][] = ["ipv4_addr", "ipv6_addr", "ipv4_addr . inet_proto . inet_service", "ipv6_addr . inet_proto . inet_service"];

/** Parses nft's JSON listing; a typed error (with the JSON path) for anything unexpected. */
export function parseRulesetJson(json: string, opts: ListingOptions = {}): { ok: true; listing: ParsedListing } | { ok: false; error: ListingError } {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    return { ok: false, error: { code: "NFT_LISTING_INVALID", path: "$", message: `not JSON: ${(e as Error).message}` } };
  }
  try {
    return { ok: true, listing: parseDocument(doc, opts.select ?? ((_, name) => name === TABLE)) };
  } catch (e) {
    if (e instanceof ListingParseError) return { ok: false, error: e.error };
    throw e;
  }
}

function parseDocument(doc: unknown, select: (family: string, name: string) => boolean): ParsedListing {
  const root = expectObject(doc, "$");
  const items = root.nftables;
  if (!Array.isArray(items)) fail("$.nftables", "no nftables array");
  const tables = new Map<string, NftTable>();
  const chains = new Map<string, NftChain>();
  const counters = new Map<NftRule, CounterValues>();
  const key = (...parts: unknown[]) => parts.map(String).join(" ");
  items.forEach((item, i) => {
    const path = `$.nftables[${i}]`;
    const obj = expectObject(item, path);
    const kinds = Object.keys(obj);
    if (kinds.length !== 1) fail(path, `expected one object kind, got ${JSON.stringify(kinds)}`);
    const kind = kinds[0]!;
    if (kind === "metainfo") return;
    const body = expectObject(obj[kind], `${path}.${kind}`);
    const family = String(body.family);
    const tableName = String(kind === "table" ? body.name : body.table);
    if (!select(family, tableName)) return;
    const at = `${path}.${kind}`;
    if (kind === "table") {
      if (!FAMILIES.includes(family as TableFamily)) fail(`${at}.family`, `table family ${JSON.stringify(family)} is not one hostwall uses`);
      allowKeys(body, ["family", "name", "handle", "comment", "flags"], at);
      if (body.flags !== undefined) fail(`${at}.flags`, "table flags are not part of the IR");
      const table: NftTable = { family: family as TableFamily, name: tableName, sets: [], chains: [] };
      tables.set(key(family, tableName), table);
      return;
    }
    const table = tables.get(key(family, tableName));
    if (!table) fail(at, `${kind} of a table not listed before it (${family} ${tableName})`);
    if (kind === "set") table.sets.push(parseSet(body, at));
    else if (kind === "chain") {
      const chain = parseChain(body, at);
      table.chains.push(chain);
      chains.set(key(family, tableName, chain.name), chain);
    } else if (kind === "rule") {
      const chain = chains.get(key(family, tableName, body.chain));
      if (!chain) fail(`${at}.chain`, `rule of an unknown chain ${JSON.stringify(body.chain)}`);
      chain.rules.push(parseRule(body, at, counters));
    } else if (kind === "counter" && body.name === STAMP_OBJECT) {
      // The stamp's counter: where a delta writes the generation and hash, not part of the IR.
      allowKeys(body, ["family", "name", "table", "handle", "comment", "packets", "bytes"], at);
    } else fail(path, `unexpected object kind ${JSON.stringify(kind)} in table ${family} ${tableName}`);
  });
  return { ruleset: { tables: [...tables.values()] }, counters };
}

function allowKeys(body: Record<string, Json>, keys: readonly string[], path: string): void {
  for (const k of Object.keys(body)) if (!keys.includes(k)) fail(`${path}.${k}`, `unexpected key ${JSON.stringify(k)}`);
}

function parseSet(body: Record<string, Json>, at: string): NftSet {
  allowKeys(body, ["family", "name", "table", "type", "handle", "flags", "comment", "elem", "size", "timeout", "stmt"], at);
  const type = Array.isArray(body.type) ? body.type.map(String).join(" . ") : String(body.type);
  if (!SET_TYPES.includes(type as NftSet["type"])) fail(`${at}.type`, `set type ${JSON.stringify(type)} is not one hostwall uses`);
  const flags = body.flags === undefined ? [] : body.flags;
  if (!Array.isArray(flags) || flags.some((f) => typeof f !== "string")) fail(`${at}.flags`, "flags is not a list of names");
  // A drop-summary set: nft 1.0.6 lists `flags dynamic,timeout` as ["timeout"], with its size, timeout and `counter`.
  const dynamic = flags.includes("timeout");
  const allowed = dynamic ? ["timeout", "dynamic"] : ["interval"];
  if (flags.some((f) => !allowed.includes(f as string))) fail(`${at}.flags`, `set flags ${JSON.stringify(flags)} are not a combination the IR has`);
  if (dynamic && (typeof body.size !== "number" || typeof body.timeout !== "number" || JSON.stringify(body.stmt) !== '[{"counter":null}]')) {
    fail(at, "a dynamic set without size, timeout and counter is not part of the IR");
  }
  if (!dynamic && (body.size !== undefined || body.timeout !== undefined || body.stmt !== undefined)) fail(at, "size, timeout and set statements belong to dynamic sets only");
  const elem = body.elem === undefined ? [] : body.elem;
  if (!Array.isArray(elem)) fail(`${at}.elem`, "elem is not an array");
  return {
    name: String(body.name),
    type: type as NftSet["type"],
    interval: flags.includes("interval"),
    elements: elem.flatMap((e, i) => setElementText(e, `${at}.elem[${i}]`)),
    ...(typeof body.comment === "string" ? { comment: body.comment } : {}),
    ...(dynamic ? { dynamic: { size: body.size as number, timeout: body.timeout as number } } : {}),
  };
}

function parseChain(body: Record<string, Json>, at: string): NftChain {
  allowKeys(body, ["family", "table", "name", "handle", "type", "hook", "prio", "policy", "dev"], at);
  const chain: NftChain = { name: String(body.name), rules: [] };
  if (body.hook === undefined) return chain;
  if (body.type !== "filter") fail(`${at}.type`, `chain type ${JSON.stringify(body.type)}: hostwall's base chains are filter chains`);
  if (body.policy !== "accept") fail(`${at}.policy`, `chain policy ${JSON.stringify(body.policy)}: hostwall's base chains accept by default`);
  if (!HOOKS.includes(body.hook as Hook)) fail(`${at}.hook`, `hook ${JSON.stringify(body.hook)} is not one hostwall uses`);
  if (typeof body.prio !== "number") fail(`${at}.prio`, "priority is not a number");
  const dev = Array.isArray(body.dev) && body.dev.length === 1 ? body.dev[0] : body.dev;
  if (dev !== undefined && typeof dev !== "string") fail(`${at}.dev`, `device ${JSON.stringify(body.dev)} is not one name`);
  chain.base = { hook: body.hook as Hook, priority: body.prio, ...(dev !== undefined ? { device: dev } : {}) };
  return chain;
}

function parseRule(body: Record<string, Json>, at: string, counters: Map<NftRule, CounterValues>): NftRule {
  allowKeys(body, ["family", "table", "chain", "handle", "comment", "expr"], at);
  if (!Array.isArray(body.expr)) fail(`${at}.expr`, "rule without an expr array");
  const statements: Statement[] = [];
  let values: CounterValues | undefined;
  body.expr.forEach((e, i) => {
    const parsed = parseStatement(e, `${at}.expr[${i}]`);
    statements.push(parsed.statement);
    if (parsed.counter) values = { packets: (values?.packets ?? 0) + parsed.counter.packets, bytes: (values?.bytes ?? 0) + parsed.counter.bytes };
  });
  const rule: NftRule = { statements, ...(typeof body.comment === "string" ? { comment: body.comment } : {}) };
  if (values) counters.set(rule, values);
  return rule;
}
