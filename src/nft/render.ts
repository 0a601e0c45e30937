/**
 * IR → nft script text, one transaction that replaces hostwall's tables whole:
 *
 *   table netdev hostwall {}        create if missing (no-op otherwise)
 *   delete table netdev hostwall    drop the old contents in the same transaction
 *   table netdev hostwall { … }     the full new definition
 *
 * The kernel switches atomically; other tables are never touched. One statement per line
 * (nft 1.0.6 wants a newline or `;` after a closing brace). The renderer records which
 * script line each rule is on, so an error nft reports by line maps back to the YAML.
 */
import { formatCidr, makeCidr } from "../model/cidr.ts";
import { AddressList, joinedElements, MAX_TEXT, writeJoined } from "./address-list.ts";
import type { Elements, Field, NftChain, NftRule, NftRuleset, NftSet, NftTable, Operand, RuleOrigin, Statement, Value } from "./ir.ts";

export interface RenderedScript {
  /** The script for `nft -f -`. */
  text: string;
  /** 1-based script line → the origin of the rule on it. */
  origins: Map<number, RuleOrigin>;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_./-]{0,254}$/;
const DEVICE = /^[A-Za-z0-9_.-]{1,15}$/;
/** nft comments are capped at 128 bytes; keep a margin. */
export const MAX_COMMENT_BYTES = 120;
/** nft 1.0.6 crashes at 137 bytes and the kernel refuses ≥128 (reference/nftables.md §3). */
export const MAX_LOG_PREFIX_BYTES = 127;
const ELEMENTS_PER_LINE = 16;

/** Throws on an identifier the compiler should never have produced (a bug, not user input). */
export function safeIdentifier(name: string): string {
  if (!IDENT.test(name)) throw new Error(`internal error: unsafe nft identifier ${JSON.stringify(name)}`);
  return name;
}

/**
 * Text for inside double quotes: only characters that are inert in nft's quoted strings and
 * in the kernel log (no quote, backslash, `$`, `;`, `#`, braces, control or non-ASCII), capped
 * in bytes. Anything else becomes `_`, so user text can never end the string.
 */
export function safeText(text: string, maxBytes: number): string {
  return text.replace(/[^A-Za-z0-9 _.,:=/@+%-]/g, "_").slice(0, maxBytes);
}

/**
 * Sets whose elements reach the kernel another way, by stagedKey: the staged first load
 * (agent/apply.ts) makes their tables and fills them over netlink before the script runs.
 */
export type StagedSets = ReadonlySet<string>;

/** A set's key in StagedSets. */
export const stagedKey = (table: Pick<NftTable, "family" | "name">, set: Pick<NftSet, "name">): string => `${table.family} ${table.name} ${set.name}`;

/**
 * The whole script; with `stamp`, stamped as stampScript would (one pass over the text, not
 * two). With `staged`: the script that completes a staged load, line for line the same (so nft's
 * error lines keep their origins) except that a table holding a staged set is not deleted first
 * and the staged sets' element lines are blank.
 */
export function renderScript(ruleset: NftRuleset, stamp?: TableStamp, staged?: StagedSets): RenderedScript {
  const lines: string[] = [];
  const origins = new Map<number, RuleOrigin>();
  const comment = stamp ? ` ${stampComment(stamp)}` : "";
  for (const table of ruleset.tables) for (const _ of renderTable(table, lines, origins, comment, staged));
  return { text: lines.join("\n") + "\n", origins };
}

/**
 * The first step of a staged load: the tables that hold staged sets, made anew with their stamp
 * and those sets, empty, and nothing else (no chain: nothing refers to them yet, no packet
 * meets them).
 */
export function renderStagedTables(ruleset: NftRuleset, staged: StagedSets, stamp?: TableStamp): string {
  const tables = ruleset.tables
    .map((t) => ({ ...t, sets: t.sets.filter((s) => staged.has(stagedKey(t, s))).map((s) => ({ ...s, elements: [] })), chains: [] }))
    .filter((t) => t.sets.length > 0);
  return renderScript({ tables }, stamp).text;
}

/** A piece of script text: a string, or ASCII bytes (the element lines of a big per-length set). */
export type ScriptPiece = string | Uint8Array;

/** A piece's text. */
export function pieceText(piece: ScriptPiece): string {
  return typeof piece === "string" ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length).toString("latin1");
}

/**
 * The same text as renderScript, in pieces of about CHUNK_LINES element lines (~10 ms each):
 * the last good record of a million-element ruleset is written piece by piece (agent/state.ts),
 * so neither the 14 MB text nor its JSON form is ever held whole, and the agent's loop runs
 * between pieces. An address list's element lines come as bytes written from its words:
 * as strings, the pieces of a 1M-element script left ~70 MB of garbage behind them (MEASURED:
 * the agent's RSS went 279 → 352 MB while the record of its first apply was written).
 */
export function* scriptChunks(ruleset: NftRuleset, stamp?: TableStamp): Generator<ScriptPiece> {
  const lines: string[] = [];
  const origins = new Map<number, RuleOrigin>(); // not wanted here: nothing maps nft's errors to this text
  const comment = stamp ? ` ${stampComment(stamp)}` : "";
  const take = () => {
    const chunk = lines.join("\n") + "\n";
    lines.length = 0;
    return chunk;
  };
  for (const table of ruleset.tables) {
    for (const bytes of renderTable(table, lines, origins, comment, undefined, true)) {
      if (lines.length > 0) yield take();
      if (bytes) yield bytes;
    }
  }
  if (lines.length > 0) yield take();
}

/** Element lines rendered between two pieces of scriptChunks. */
const CHUNK_LINES = 1024;

/** What an agent in force writes on its tables: the generation and the content hash of the unstamped script. */
export interface TableStamp {
  generation: number;
  hash: string;
}

const STAMP = /^hostwall generation (\d{1,15}) hash ([0-9a-f]{16})$/;

/**
 * Writes the stamp as a comment on each table's definition line (`table inet hostwall {
 * comment "…";`), so the script keeps its line numbers (and nft's error lines their origins).
 * A restarted agent reads the stamps back (`nft -t list ruleset`, no set elements) and knows
 * what is in force without listing big sets or trusting its own memory.
 */
export function stampScript(script: string, stamp: TableStamp): string {
  return script.replace(/^(table (?:netdev|inet) [A-Za-z0-9_-]+ \{)$/gm, `$1 ${stampComment(stamp)}`);
}

function stampComment(stamp: TableStamp): string {
  if (!Number.isSafeInteger(stamp.generation) || stamp.generation < 0 || !/^[0-9a-f]{16}$/.test(stamp.hash)) throw new Error(`internal error: bad stamp ${JSON.stringify(stamp)}`);
  return `comment "hostwall generation ${stamp.generation} hash ${stamp.hash}";`;
}

/** Reads a stamp back from a table comment; undefined for anything else. */
export function parseStamp(comment: string | undefined): TableStamp | undefined {
  const m = comment === undefined ? null : STAMP.exec(comment);
  return m ? { generation: Number(m[1]), hash: m[2]! } : undefined;
}

/** The script that removes hostwall's tables (and nothing else). */
export function renderFlush(tables: readonly Pick<NftTable, "family" | "name">[]): string {
  return tables.map((t) => `table ${t.family} ${safeIdentifier(t.name)} {}\ndelete table ${t.family} ${safeIdentifier(t.name)}\n`).join("");
}

/**
 * Pushes the table's lines; pauses (yields) every CHUNK_LINES element lines, for scriptChunks.
 * With `asBytes`, an address list's element lines are yielded as bytes instead, CHUNK_LINES
 * at a time, the lines before them pushed.
 */
function* renderTable(table: NftTable, lines: string[], origins: Map<number, RuleOrigin>, stamp: string, staged?: StagedSets, asBytes = false): Generator<Uint8Array | undefined> {
  const head = `${table.family} ${safeIdentifier(table.name)}`;
  const holdsStaged = staged !== undefined && table.sets.some((s) => staged.has(stagedKey(table, s)));
  lines.push(`table ${head} {}`, holdsStaged ? "# made, and its big sets filled, before this script (staged load)" : `delete table ${head}`, `table ${head} {${stamp}`);
  for (const set of table.sets) yield* renderSet(set, lines, staged?.has(stagedKey(table, set)) ?? false, asBytes);
  for (const chain of table.chains) renderChain(chain, lines, origins);
  lines.push("}");
}

function* renderSet(set: NftSet, lines: string[], staged: boolean, asBytes: boolean): Generator<Uint8Array | undefined> {
  lines.push(`\tset ${safeIdentifier(set.name)} {`, `\t\ttype ${set.type}`);
  if (set.interval) lines.push("\t\tflags interval");
  if (set.dynamic) lines.push(`\t\tsize ${int(set.dynamic.size)}`, "\t\tflags dynamic,timeout", `\t\ttimeout ${int(set.dynamic.timeout)}s`, "\t\tcounter");
  if (set.comment) lines.push(`\t\tcomment "${safeText(set.comment, MAX_COMMENT_BYTES)}"`);
  if (set.elements.length > 0 && staged) {
    // Loaded already: blank lines where the elements would be, so the lines after keep their numbers.
    const count = 2 + Math.ceil(set.elements.length / ELEMENTS_PER_LINE);
    for (let i = 0; i < count; i++) lines.push("");
  } else if (asBytes && set.elements instanceof AddressList) {
    lines.push("\t\telements = {");
    const lineCount = Math.ceil(set.elements.length / ELEMENTS_PER_LINE);
    for (let line = 0; line < lineCount; line += CHUNK_LINES) yield elementLineBytes(set.elements, line, Math.min(CHUNK_LINES, lineCount - line), "\t\t\t");
    lines.push("\t\t}");
  } else if (set.elements.length > 0) {
    lines.push("\t\telements = {");
    let n = 0;
    for (const line of elementLines(set.elements, "\t\t\t")) {
      lines.push(line);
      if (++n % CHUNK_LINES === 0) yield undefined;
    }
    lines.push("\t\t}");
  }
  lines.push("\t}");
}

/** A set's elements as script lines: ELEMENTS_PER_LINE to a line after `indent`, a comma after every line but the last. */
export function* elementLines(elements: Elements, indent: string): Generator<string> {
  for (let i = 0; i < elements.length; i += ELEMENTS_PER_LINE) {
    const last = i + ELEMENTS_PER_LINE >= elements.length;
    yield `${indent}${joinedElements(elements, i, i + ELEMENTS_PER_LINE)}${last ? "" : ","}`;
  }
}

/** Element lines `first` to `first + count` of an address list as elementLines writes them, as ASCII bytes, each line ending in "\n". */
function elementLineBytes(list: AddressList, first: number, count: number, indent: string): Uint8Array {
  const start = first * ELEMENTS_PER_LINE;
  const end = Math.min(list.length, start + count * ELEMENTS_PER_LINE);
  const out = new Uint8Array((end - start) * (MAX_TEXT + 2) + count * (indent.length + 2));
  let n = 0;
  for (let i = start; i < end; i += ELEMENTS_PER_LINE) {
    for (let k = 0; k < indent.length; k++) out[n++] = indent.charCodeAt(k);
    const stop = Math.min(end, i + ELEMENTS_PER_LINE);
    n = writeJoined(list, i, stop, out, n);
    if (stop < list.length) out[n++] = 44;
    out[n++] = 10;
  }
  return out.subarray(0, n);
}

function renderChain(chain: NftChain, lines: string[], origins: Map<number, RuleOrigin>): void {
  lines.push(`\tchain ${safeIdentifier(chain.name)} {`);
  if (chain.base) {
    const { hook, priority, device } = chain.base;
    if (device !== undefined && !DEVICE.test(device)) throw new Error(`internal error: unsafe device name ${JSON.stringify(device)}`);
    const dev = device !== undefined ? ` device "${device}"` : "";
    lines.push(`\t\ttype filter hook ${hook}${dev} priority ${priority}; policy accept;`);
  }
  for (const rule of chain.rules) {
    lines.push(`\t\t${renderRule(rule)}`);
    if (rule.origin) origins.set(lines.length, rule.origin);
  }
  lines.push("\t}");
}

/** One rule as it appears inside its chain (without indentation): statements, then the comment. */
export function renderRule(rule: NftRule): string {
  const comment = rule.comment ? ` comment "${safeText(rule.comment, MAX_COMMENT_BYTES)}"` : "";
  return renderStatements(rule.statements) + comment;
}

/** Statements separated by spaces, as nft reads them. */
export function renderStatements(statements: readonly Statement[]): string {
  return statements.map(renderStatement).join(" ");
}

// Statements → text. The IR is built from validated values, but every piece of text that ends
// up in nft syntax is checked here once more, so a compiler bug can never become injection.
const SYMBOL = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const ADDRESS = /^[0-9A-Fa-f.:]{2,45}(\/\d{1,3})?$/;

function renderStatement(st: Statement): string {
  switch (st.kind) {
    case "match":
      return renderMatch(st.left, st.op, st.right);
    case "counter":
      return "counter";
    case "mark":
      return `meta mark set meta mark ${st.op === "or" ? "|" : "&"} ${hex8(st.value)}`;
    case "limit":
      return `limit rate ${int(st.rate)}/${st.per} burst ${int(st.burst)} packets`;
    case "log":
      return `log prefix "${safeText(st.prefix, MAX_LOG_PREFIX_BYTES)}" level ${st.level}`;
    case "notrack":
      return "notrack";
    case "verdict":
      return st.verdict;
    case "jump":
    case "goto":
      return `${st.kind} ${safeIdentifier(st.target)}`;
    case "set-update":
      return `update @${safeIdentifier(st.set)} { ${renderField(st.key)} }`;
    case "vmap": {
      const entries = st.entries.map((e) => `${renderValue(e.key, st.key)} : ${e.verdict} ${safeIdentifier(e.target)}`);
      return `${renderField(st.key)} vmap { ${entries.join(", ")} }`;
    }
  }
}

/**
 * `left right` for `==` (nft's implicit operator), `left != right`; a masked field writes
 * `==` out (`meta mark & 0x00010000 == 0`), as nft's own listing does.
 */
function renderMatch(left: Field, op: "==" | "!=", right: Operand): string {
  const operator = op === "!=" ? " != " : left.kind === "and" || left.kind === "prefix" ? " == " : " ";
  return `${renderField(left)}${operator}${renderOperand(right, left)}`;
}

function renderField(f: Field): string {
  switch (f.kind) {
    case "meta":
      // Interface names are written unqualified, as nft lists them.
      return f.key === "iifname" || f.key === "oifname" ? f.key : `meta ${f.key}`;
    case "payload":
      return `${f.protocol} ${f.field}`;
    case "raw":
      return `@${f.base},${int(f.offset)},${int(f.length)}`;
    case "ct":
      return `ct ${f.key}`;
    case "exthdr":
      return `exthdr ${f.name}`;
    case "and":
      return `${renderField(f.field)} & ${isMark(f.field) ? hex8(f.mask) : `0x${int(f.mask).toString(16)}`}`;
    case "concat":
      return f.fields.map(renderField).join(" . ");
    case "prefix":
      return `${renderField(f.field)} & ${netmask(f.field.kind === "payload" && f.field.protocol === "ip6" ? 6 : 4, f.length)}`;
  }
}

/** The netmask of a prefix length as address text, as nft lists it: `255.255.240.0`, `ffff:ffff::`. */
export function netmask(family: 4 | 6, length: number): string {
  const bits = family === 4 ? 32 : 128;
  if (!Number.isInteger(length) || length < 0 || length > bits) throw new Error(`internal error: prefix length ${length}`);
  const ones = 0xffffffff;
  const m = makeCidr(family, length, ones, ones, ones, ones);
  return formatCidr({ ...m, prefix: bits });
}

function renderOperand(o: Operand, left: Field): string {
  switch (o.kind) {
    case "value":
      return renderValue(o.value, left);
    case "set":
      return `{ ${o.elements.map((v) => renderValue(v, left)).join(", ")} }`;
    case "named-set":
      return `@${safeIdentifier(o.name)}`;
    case "flags":
      return o.flags.map(symbol).join(",");
    case "exists":
      return "exists";
  }
}

/** A value in the context of the field it is compared with: marks in 8-digit hex (0 as `0`). */
function renderValue(v: Value, left: Field): string {
  switch (v.kind) {
    case "number":
      return isMark(left) && v.value !== 0 ? hex8(v.value) : String(int(v.value));
    case "symbol":
      return symbol(v.value);
    case "string":
      if (!DEVICE.test(v.value)) throw new Error(`internal error: unsafe nft string ${JSON.stringify(v.value)}`);
      return `"${v.value}"`;
    case "address":
      if (!ADDRESS.test(v.value)) throw new Error(`internal error: unsafe nft address ${JSON.stringify(v.value)}`);
      return v.value;
    case "range":
      return `${int(v.min)}-${int(v.max)}`;
    case "concat": {
      const fields = left.kind === "concat" ? left.fields : [];
      return v.values.map((x, i) => renderValue(x, fields[i] ?? left)).join(" . ");
    }
  }
}

function isMark(f: Field): boolean {
  return (f.kind === "meta" && f.key === "mark") || (f.kind === "and" && isMark(f.field));
}

function symbol(text: string): string {
  if (!SYMBOL.test(text)) throw new Error(`internal error: unsafe nft symbol ${JSON.stringify(text)}`);
  return text;
}

function int(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`internal error: nft number ${n}`);
  return n;
}

const hex8 = (n: number) => `0x${int(n).toString(16).padStart(8, "0")}`;
