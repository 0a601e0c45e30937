/**
 * A network set's `nets:` read as CIDRs, once per parsed list (issue #13: the parse cache hands
 * back the same list for an unchanged file, and a spliced list for a one-line edit of a big one).
 *
 * A spliced list is read from the read of the list it was spliced from: only the inserted
 * entries are parsed, and the CIDRs are spliced the same way (one per entry, so the indexes
 * match) and recorded as a splice for resolve. The problems must be exactly those of a full
 * read. A big set of random prefixes (most of them with host bits) always carries the host-bit
 * warnings: the first MAX_HOST_BITS_WARNINGS entries with host bits, then one summary with
 * their count. A splice keeps them when it can prove which entries come first (below); any
 * other problem, or an inserted entry that does not parse, takes the full read.
 */
import type { FieldPath } from "../config/resource.ts";
import type { DiagnosticCode } from "../diagnostics/codes.ts";
import { removedOf, valuesOf } from "../config/list-splice.ts";
import { applySplice, markSplice, spliceOf } from "../derive.ts";
import type { Cidr } from "../model/cidr.ts";
import { CidrColumn, CidrColumnWriter, COLUMN_MIN_ITEMS, type CidrList } from "../model/cidr-column.ts";
import { parseCidr } from "../model/cidr-parse.ts";
import { hostBitsMessage } from "../model/host-bits.ts";
import { placeholderHint } from "../model/names.ts";

export type NetsProblem = { severity: "error" | "warning"; code: DiagnosticCode; path: FieldPath; message: string; notString?: true };
/** `hostBits`: how many entries have host bits set (the summary warning's count). */
export interface NetsRead {
  /** A column for a long list (model/cidr-column.ts). */
  readonly nets: CidrList;
  readonly problems: NetsProblem[];
  readonly hostBits: number;
}

/** Host-bit warnings per network set before one summary: a generated million-entry set must not print a million lines. */
export const MAX_HOST_BITS_WARNINGS = 5;

const netsRead = new WeakMap<readonly unknown[], NetsRead>();

/** The read of `items`, from the one kept for this list or the list it was spliced from, else in full. */
export function readNetsOnce(items: readonly unknown[]): NetsRead {
  let read = netsRead.get(items);
  if (!read) netsRead.set(items, (read = readSplicedNets(items) ?? readNets(items)));
  return read;
}

const summary = (hostBits: number): NetsProblem => ({
  severity: "warning",
  code: "NET_HOST_BITS",
  path: ["spec", "nets"],
  message: `and ${hostBits - MAX_HOST_BITS_WARNINGS} more entries with host bits set, each read as its whole network`,
});
const warning = (i: number, text: string, cidr: Cidr): NetsProblem => ({ severity: "warning", code: "NET_HOST_BITS", path: ["spec", "nets", i], message: hostBitsMessage(text, cidr) });

/**
 * Whether the read of `items` is kept and found no error, so the list's values need not be
 * (config/list-splice.ts hollowOut): an edit splices this read, and a list with an error is
 * always read in full again.
 */
export function readKept(items: readonly unknown[]): boolean {
  const read = netsRead.get(items);
  return read !== undefined && read.problems.every((p) => p.severity !== "error");
}

export function readNets(list: readonly unknown[]): NetsRead {
  const items = valuesOf(list); // a list whose values were dropped reads them from its file again
  // A long list is read into a column (~5 bytes an IPv4 entry, not an object of ~70).
  const column = items.length >= COLUMN_MIN_ITEMS ? new CidrColumnWriter(items.length) : undefined;
  const objects: Cidr[] = [];
  const problems: NetsProblem[] = [];
  let hostBits = 0;
  for (let i = 0; i < items.length; i++) {
    const text = items[i];
    if (typeof text !== "string") {
      problems.push({ severity: "error", code: "WRONG_TYPE", path: ["spec", "nets", i], message: "", notString: true });
      continue;
    }
    const parsed = parseCidr(text, "lax");
    if (!parsed.ok) problems.push({ severity: "error", code: parsed.code, path: ["spec", "nets", i], message: `${parsed.message}${placeholderHint(text)}` });
    else {
      (column ?? objects).push(parsed.cidr);
      if (parsed.hostBits && ++hostBits <= MAX_HOST_BITS_WARNINGS) problems.push(warning(i, text, parsed.cidr));
    }
  }
  if (hostBits > MAX_HOST_BITS_WARNINGS) problems.push(summary(hostBits));
  return { nets: column?.finish() ?? objects, problems, hostBits };
}

/**
 * A list the parse cache spliced from one whose read found no problem but host-bit warnings,
 * read from that read; undefined (a full read) when the warnings cannot be proven the same as
 * a full read's. Two cases are proven:
 * - the earlier list had at most MAX_HOST_BITS_WARNINGS entries with host bits: each one was
 *   warned, so the warnings are those kept (shifted past the splice) and the inserted ones, in
 *   order, the first MAX_HOST_BITS_WARNINGS of them;
 * - it had more, and the splice starts after the last one warned: those stay the first ones;
 *   only the count changes (the removed entries are parsed again to count theirs).
 */
function readSplicedNets(items: readonly unknown[]): NetsRead | undefined {
  const splice = spliceOf(items);
  const prev = splice && netsRead.get(splice.from);
  if (!splice || !prev || prev.nets.length !== splice.from.length) return undefined;
  if (prev.problems.some((p) => p.code !== "NET_HOST_BITS" || p.severity !== "warning")) return undefined;
  const { index, removed } = splice;
  const warned = prev.problems.filter((p) => p.path.length === 3);
  const inserted: Cidr[] = [];
  const insertedWarnings: NetsProblem[] = [];
  for (let j = 0; j < splice.inserted.length; j++) {
    const text = splice.inserted[j];
    const parsed = typeof text === "string" ? parseCidr(text, "lax") : undefined;
    if (!parsed?.ok) return undefined;
    inserted.push(parsed.cidr);
    if (parsed.hostBits) insertedWarnings.push(warning(index + j, text as string, parsed.cidr));
  }
  let problems: NetsProblem[];
  let hostBits: number;
  if (prev.hostBits <= MAX_HOST_BITS_WARNINGS) {
    const at = (p: NetsProblem) => p.path[2] as number;
    const shift = inserted.length - removed;
    const before = warned.filter((p) => at(p) < index);
    const after = warned.filter((p) => at(p) >= index + removed).map((p) => ({ ...p, path: ["spec", "nets", at(p) + shift] }));
    const all = [...before, ...insertedWarnings, ...after];
    hostBits = all.length;
    problems = all.slice(0, MAX_HOST_BITS_WARNINGS);
  } else {
    const last = warned.length ? (warned[warned.length - 1]!.path[2] as number) : Infinity;
    if (warned.length !== MAX_HOST_BITS_WARNINGS || !(index > last)) return undefined;
    let removedHostBits = 0;
    // The removed entries as the edit recorded them (the list they came from may hold no values: list-splice.ts hollowOut), else from that list.
    const gone = removedOf(items) ?? valuesOf(splice.from).slice(index, index + removed);
    for (const text of gone) {
      const parsed = parseCidr(text as string, "lax");
      if (!parsed.ok) return undefined;
      if (parsed.hostBits) removedHostBits++;
    }
    hostBits = prev.hostBits - removedHostBits + insertedWarnings.length;
    problems = [...warned];
  }
  if (hostBits > MAX_HOST_BITS_WARNINGS) problems.push(summary(hostBits));
  const from = prev.nets;
  const nets = from instanceof CidrColumn ? markSplice(from.spliced(index, removed, inserted), { from, index, removed, inserted }) : markSplice(applySplice(from, index, removed, inserted), { from, index, removed, inserted });
  return { nets, problems, hostBits };
}
