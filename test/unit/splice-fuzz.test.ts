/**
 * A seeded fuzz of the parse cache's edit reading (parse-cache.ts parseCached → fast-yaml.ts
 * splicer → list-splice.ts editItems / editBytes): chains of 5-15 successive versions of one big
 * network-set file (1100-3000 item lines: IPv4 hosts and prefixes, IPv6, some quoted, some with a
 * trailing comment; padded past FAST_PATH_BYTES), each version the one before with random edits
 * (EDITS: insert, delete or replace 1-50 item lines at the start, middle or end; one address
 * anywhere; one character of an item; a trailing comment; quotes; a duplicate; an odd token;
 * host-bit entries, more than MAX_HOST_BITS_WARNINGS and one removed again; a comment or blank
 * line in the list; a line outside it (name, a label, the top comment); an invalid item, a YAML 1.1 form, a tab, a CR, non-ASCII text, `<<`, `...`, an
 * indentation change, each fixed again later; the file shrunk below FAST_PATH_BYTES and grown back;
 * its size right at the limit; the same text again). Every version is read through the cache
 * after the one before it, exactly as the production loader does (loadConfig's parse:
 * parseLargeFile ?? parseFile), and must read exactly as a fresh parse of it
 * (parseFast ?? parseFile after clearParseCache): the same diagnostics, values, and for every
 * sampled path locate, locate-the-key and plainSource. Half the chains give the versions as
 * BytesFile (as the agent reads big files), the others as { path, text }. Half run loadConfig on
 * every version and release the cache after each version without errors (pipeline.ts
 * releaseAfterApply, as the agent does after an apply: the big list's values are dropped and a
 * later full read reads them from the file): their models' network sets and diagnostics must
 * equal a cold loadConfig's. A few more chains run loadConfig without releasing. A file read as
 * bytes must also give its own text afterwards (assembled from pieces of earlier versions); two
 * long chains (100 versions of item edits) take it past MAX_PIECES.
 *
 * Every test's name carries its seed; replay one with
 *   bun test unit/splice-fuzz.test.ts -t "seed=123 "
 * (makeChain(seed) rebuilds the same versions; a failure prints the version, the edits that made
 * it, whether it was spliced, the first difference and the lines around it).
 * SPLICE_FUZZ_CHAINS scales the number of chains (default CHAINS below: ~40 s in all), every
 * SPLICE_FUZZ_FULL_EVERY-th chain compares every path of every item in two of its versions
 * (~0.5 s a version), SPLICE_FUZZ_REPORT=1 prints how often each edit was spliced.
 *
 * What it found (at 619a342 and before, fixed in a9f1139; minimised at the end of this file): a spliced version's
 * resource had no plainSource at all (fast-yaml.ts splicer built `{ value, file, locate }`), where
 * the fresh parse gives each plain scalar's source; loadConfig showed it in the "quote it" hint of
 * a number or boolean written otherwise than String(value) (a label 7.0, True, 0x1F) once the
 * list had been edited. Every chain with a splice failed on it; nothing else did in 800 chains
 * (compared without it) nor, with it fixed, in 300 more.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { CUT_MIN_ITEMS, FAST_PATH_BYTES, parseFast, parseLargeFile } from "../../src/config/fast-yaml.ts";
import { parseFile } from "../../src/config/parse.ts";
import { clearParseCache, parseCached, parseCacheStats, type Parsed } from "../../src/config/parse-cache.ts";
import { valuesOf } from "../../src/config/list-splice.ts";
import type { FieldPath, RawResource } from "../../src/config/resource.ts";
import { hasErrors, type Diagnostic } from "../../src/diagnostics/diagnostic.ts";
import { formatCidr } from "../../src/model/cidr.ts";
import { releaseAfterApply } from "../../src/pipeline.ts";
import { BytesFile, joinPieces, spareBuffers, takeBuffer, textChunks, type SourceFile } from "../../src/source/source-file.ts";
import { loadConfig, type LoadResult } from "../../src/validate/load.ts";
import { MAX_HOST_BITS_WARNINGS } from "../../src/validate/nets-read.ts";
import { mulberry32Unit } from "../support/prng.ts";
import { firstValueDiff, show } from "../support/value-diff.ts";

const PATH = "/etc/hostwall/25-big.yaml";
const NODE = "jasper";

/** What loadConfig passes to parseCached (load.ts parseOne, whose YAML_TOO_DEEP check no generated file reaches). */
const PARSE = (file: SourceFile): Parsed => parseLargeFile(file) ?? parseFile(file);

// ---------------------------------------------------------------------------------------------
// The generator

type Rng = () => number;
const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const sp = (n: number) => " ".repeat(Math.max(0, n));

/** One line of the file (no line break; may hold a CR); mutable, so a later fix finds it. */
interface Line {
  s: string;
  /** A host-bit entry (hostbits edits), for removing one again. */
  hb?: boolean;
}

/** An edit to undo in a later version (an invalid item fixed, a comment line removed, ...). */
interface Pending {
  what: string;
  undo: () => void;
}

interface Doc {
  rng: Rng;
  kind: "GlobalNetworkSet" | "NetworkSet";
  itemCol: number;
  /** Sections in file order; `spec` ends with the `nets:` line. */
  top: Line[];
  head: Line[];
  meta: Line[];
  spec: Line[];
  items: Line[];
  after: Line[];
  /** The padding line (a comment at the top or the bottom, or an annotation's value) and its prefix. */
  pad: Line;
  padPrefix: string;
  finalNewline: boolean;
  pending: Pending[];
  /** Fresh numbers for names and values. */
  serial: number;
}

const hex = (rng: Rng, max = 65536) => Math.floor(rng() * max).toString(16);

/** A token every reader reads as the same string, without host bits. */
function baseToken(rng: Rng): string {
  const r = rng();
  if (r < 0.5) return `${10 + int(rng, 0, 99)}.${int(rng, 0, 255)}.${int(rng, 0, 255)}.${int(rng, 0, 255)}`;
  if (r < 0.7) {
    const len = int(rng, 12, 30);
    const a = (((10 + int(rng, 0, 99)) << 24) | int(rng, 0, 0xffffff)) >>> 0;
    const net = (a & ~((1 << (32 - len)) - 1)) >>> 0;
    return `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}`;
  }
  if (r < 0.85) return `2001:db8:${hex(rng)}::/48`;
  if (r < 0.95) return `2001:db8:${hex(rng)}::${hex(rng)}`;
  return `::ffff:${int(rng, 1, 223)}.${int(rng, 0, 255)}.${int(rng, 0, 255)}.${int(rng, 0, 255)}`;
}

/** A token with host bits set (read as its whole network, NET_HOST_BITS). */
function hostBitsToken(rng: Rng): string {
  return pick(rng, [
    () => `10.${int(rng, 0, 255)}.${int(rng, 0, 255)}.${int(rng, 1, 255)}/8`,
    () => `192.168.${int(rng, 0, 255)}.${int(rng, 1, 255)}/24`,
    () => `172.16.${int(rng, 1, 255)}.${int(rng, 0, 255)}/12`,
    () => `2001:db8::${hex(rng, 65535)}1/64`,
  ])();
}

const quote = (rng: Rng, t: string) => (rng() < 0.5 ? `"${t}"` : `'${t}'`);

function itemLine(d: Doc, token: string, suffix = ""): Line {
  return { s: `${sp(d.itemCol)}- ${token}${suffix}` };
}

/** An ordinary item line: a base token, sometimes quoted, sometimes with a trailing comment or spaces. */
function baseLine(d: Doc): Line {
  const { rng } = d;
  let t = baseToken(rng);
  if (rng() < 0.05) t = quote(rng, t);
  const r = rng();
  const suffix = r < 0.15 ? `   # seen ${int(rng, 0, 1e9)}, rule ${int(rng, 0, 1e4)}` : r < 0.18 ? "  " : "";
  return itemLine(d, t, suffix);
}

function render(d: Doc): string {
  const lines = [...d.top, ...d.head, ...d.meta, ...d.spec, ...d.items, ...d.after];
  return lines.map((l) => l.s).join("\n") + (d.finalNewline ? "\n" : "");
}

/** Sets the padding so that the text (or its UTF-8 bytes) is `target` long, if the rest is short enough; whether it could. */
function padTo(d: Doc, target: number, bytes = false): boolean {
  d.pad.s = d.padPrefix;
  const len = bytes ? Buffer.byteLength(render(d), "utf8") : render(d).length;
  if (len > target) return false;
  d.pad.s = d.padPrefix + "x".repeat(target - len);
  return true;
}

function makeDoc(seed: number, margin?: number): Doc {
  const rng = mulberry32Unit(seed);
  const kind = rng() < 0.8 ? "GlobalNetworkSet" : "NetworkSet";
  const netsCol = 2;
  const itemCol = netsCol + pick(rng, [0, 2, 2, 2]);
  const padAt = pick(rng, ["top", "bottom", "bottom", "annotation"] as const);
  const d: Doc = {
    rng, kind, itemCol,
    top: [{ s: "# big deny list, generated" }],
    head: [{ s: "apiVersion: projectcalico.org/v3" }, { s: `kind: ${kind}` }, { s: "metadata:" }],
    meta: [{ s: `  name: big-${seed}` }, ...(kind === "NetworkSet" ? [{ s: "  namespace: default" }] : []), { s: "  labels:" }, { s: "    role: deny" }],
    spec: [{ s: "spec:" }, { s: `${sp(netsCol)}nets:` }],
    items: [],
    after: [],
    pad: { s: "" },
    padPrefix: "",
    finalNewline: true,
    pending: [],
    serial: 0,
  };
  d.items = Array.from({ length: int(rng, 1100, 3000) }, () => baseLine(d));
  if (padAt === "annotation") {
    d.meta.push({ s: "  annotations:" }, d.pad);
    d.padPrefix = "    pad: ";
  } else {
    d.padPrefix = "# ";
    (padAt === "top" ? d.top : d.after).push(d.pad);
  }
  // The list last in the file, now and then without a final newline.
  if (padAt !== "bottom" && rng() < 0.3) d.finalNewline = false;
  else if (rng() < 0.3) d.after.push({ s: "# end of list" });
  padTo(d, FAST_PATH_BYTES + (margin ?? int(rng, 200, 6000)));
  return d;
}

/** A place in the list (0..n): often at its ends, sometimes near CUT_MIN_ITEMS. */
function where(d: Doc, room = 0): number {
  const n = d.items.length - room;
  const r = d.rng();
  if (r < 0.25) return int(d.rng, 0, Math.min(2, n));
  if (r < 0.5) return int(d.rng, Math.max(0, n - 2), n);
  if (r < 0.6) return Math.min(n, int(d.rng, CUT_MIN_ITEMS - 3, CUT_MIN_ITEMS + 2));
  return int(d.rng, 0, n);
}

/** How many lines an edit touches: mostly one to a few, up to 50. */
const howMany = (rng: Rng) => {
  const r = rng();
  return r < 0.45 ? 1 : r < 0.75 ? int(rng, 2, 5) : int(rng, 6, 50);
};

const token = (l: Line) => l.s.replace(/^\s*-\s*/, "").replace(/\s+#.*$/, "").trimEnd();

/** Replaces a line's text now, and the original again later (if the line is still there then, else nothing). */
function temporarily(d: Doc, l: Line, s: string, what: string): void {
  const orig = l.s;
  l.s = s;
  d.pending.push({ what: `fix ${what}`, undo: () => (l.s = orig) });
}

/** A random item line of the list and its index. */
function anyItem(d: Doc): { k: number; l: Line } {
  const k = int(d.rng, 0, d.items.length - 1);
  return { k, l: d.items[k]! };
}

/** Inserts a line now and removes it again later. */
function inserted(d: Doc, list: Line[], at: number, l: Line, what: string): void {
  list.splice(at, 0, l);
  d.pending.push({
    what: `remove ${what}`,
    undo: () => {
      for (const xs of [d.top, d.head, d.meta, d.spec, d.items, d.after]) {
        const k = xs.indexOf(l);
        if (k >= 0) xs.splice(k, 1);
      }
    },
  });
}

const randomItem = (d: Doc) => d.items[int(d.rng, 0, d.items.length - 1)]!;

/** The edits, each with its weight; each returns its label (what it did) or undefined when it could not apply. */
const EDITS: Record<string, { weight: number; apply: (d: Doc) => string | undefined }> = {
  insert: {
    weight: 14,
    apply: (d) => {
      const k = howMany(d.rng);
      const at = where(d);
      d.items.splice(at, 0, ...Array.from({ length: k }, () => baseLine(d)));
      return `insert ${k}@${at}`;
    },
  },
  delete: {
    weight: 10,
    apply: (d) => {
      const k = howMany(d.rng);
      if (d.items.length - k < 1050) return undefined;
      const at = where(d, k);
      d.items.splice(at, k);
      return `delete ${k}@${at}`;
    },
  },
  replace: {
    weight: 10,
    apply: (d) => {
      const k = howMany(d.rng);
      const m = howMany(d.rng);
      if (d.items.length - k < 1050) return undefined;
      const at = where(d, k);
      d.items.splice(at, k, ...Array.from({ length: m }, () => baseLine(d)));
      return `replace ${k}->${m}@${at}`;
    },
  },
  point: {
    weight: 6,
    apply: (d) => {
      // One address changed, added or removed anywhere (the agent's common case: one attacker's address).
      const k = int(d.rng, 0, d.items.length - 1);
      const r = d.rng();
      if (r < 0.5) d.items[k] = baseLine(d);
      else if (r < 0.8 || d.items.length < 1050) d.items.splice(k, 0, baseLine(d));
      else d.items.splice(k, 1);
      return `${r < 0.5 ? "change" : r < 0.8 || d.items.length < 1050 ? "add" : "remove"}@${k}`;
    },
  },
  char: {
    weight: 8,
    apply: (d) => {
      // One character of an item in place: a digit of its token for another (a prefix may get host bits, an octet may overflow).
      const { k, l } = anyItem(d);
      const t = token(l);
      const from = l.s.indexOf(t);
      const digits = [...t].map((c, i) => (/[0-9]/.test(c) ? i : -1)).filter((i) => i >= 0);
      if (!digits.length) return undefined;
      const i = from + pick(d.rng, digits);
      const c = String.fromCharCode(48 + ((l.s.charCodeAt(i) - 48 + int(d.rng, 1, 9)) % 10));
      const s = l.s.slice(0, i) + c + l.s.slice(i + 1);
      if (d.rng() < 0.5) temporarily(d, l, s, `char@${k}`);
      else l.s = s;
      return `char@${k}`;
    },
  },
  trailing: {
    weight: 5,
    apply: (d) => {
      const { k, l } = anyItem(d);
      const bare = l.s.replace(/\s+#.*$/, "").trimEnd();
      // Comments an item line may end with (the splice reads them as comments), and a few it may not.
      const end = pick(d.rng, [" # c", "   # seen 5, rule 7", " #", "  ", "", "   # - 1.2.3.4", " # nets: [x]", " # a: b", " # &a *b", " # {[,]}", " # 'q\"", " # a\rb", " # <<", " # ...", " # café", " #\tc", " # \x85 nel", " # \u2028 ls", " # \x0c ff", " # \x7f", "\t# tab before", "#glued", " \t"]);
      // Those the line scan refuses, those that send every later full read to the positioned parser
      // (fast-yaml.ts positionedOnly: no splice after it) and non-ASCII ones (edits then read from the text, not the bytes) are fixed later.
      if (/^(\t|#| \t)|\r|<<|[^\x00-\x7f]/.test(end)) temporarily(d, l, bare + end, `trailing ${JSON.stringify(end)}@${k}`);
      else l.s = bare + end;
      return `trailing ${JSON.stringify(end)}@${k}`;
    },
  },
  quote: {
    weight: 4,
    apply: (d) => {
      const { k, l } = anyItem(d);
      const t = token(l);
      const q = /^["']/.test(t) ? t.slice(1, -1) : quote(d.rng, t);
      l.s = l.s.replace(t, q);
      return `quote@${k}`;
    },
  },
  oddity: {
    weight: 4,
    apply: (d) => {
      // A token the line scan reads as a string (CIDR characters, not a number) that is no address: the parse must still agree.
      const { k, l } = anyItem(d);
      const t = pick(d.rng, ["...", "..", "/", "1.2.3", ".1.2", "::1", "::", "a:b:c:d", "1:2:3:4:5:6:7:8", "1.2.3.4/", "ABC.DEF.0", "0.0.0.0/0", "::/0", "1::", "1.2.3.4/32/", "ff:ff", "1:2.3", "0:0", "1:60", "12:30", "1.2.3.4:80", "'1:20'", "\"010\"", "1.1.1.1/0", "255.255.255.255/32", "0.0.0.0", "::ffff:0.0.0.0/96", "2001:db8::/129", "a.b", "1e3.1.1", "0x1.2.3", "DEAD:BEEF::/32", "1_0.0.0.1"]);
      temporarily(d, l, `${sp(d.itemCol)}- ${t}`, `oddity ${t}@${k}`);
      return `oddity ${t}@${k}`;
    },
  },
  finalNewline: {
    weight: 2,
    apply: (d) => {
      // With the list last in the file: its last line with or without a line break.
      if (d.after.length) return undefined;
      d.finalNewline = !d.finalNewline;
      return d.finalNewline ? "final newline added" : "final newline removed";
    },
  },
  dup: {
    weight: 5,
    apply: (d) => {
      const src = randomItem(d);
      const at = d.rng() < 0.5 ? d.items.indexOf(src) + 1 : where(d);
      d.items.splice(at, 0, { s: src.s });
      return `dup@${at}`;
    },
  },
  hostbitsMany: {
    weight: 4,
    apply: (d) => {
      const k = int(d.rng, MAX_HOST_BITS_WARNINGS + 1, MAX_HOST_BITS_WARNINGS + 3);
      const together = d.rng() < 0.4;
      const at = where(d);
      for (let j = 0; j < k; j++) d.items.splice(together ? at + j : where(d), 0, { ...itemLine(d, hostBitsToken(d.rng)), hb: true });
      return `hostbits ${k}${together ? `@${at}` : " scattered"}`;
    },
  },
  hostbitOne: {
    weight: 4,
    apply: (d) => {
      const at = where(d);
      d.items.splice(at, 0, { ...itemLine(d, hostBitsToken(d.rng)), hb: true });
      return `hostbit@${at}`;
    },
  },
  hostbitRemove: {
    weight: 12, // only where there are some
    apply: (d) => {
      const hb = d.items.map((l, i) => (l.hb ? i : -1)).filter((i) => i >= 0);
      if (!hb.length) return undefined;
      const r = d.rng();
      const k = r < 0.3 ? hb[0]! : r < 0.6 ? hb[hb.length - 1]! : pick(d.rng, hb);
      if (d.rng() < 0.7) d.items.splice(k, 1);
      else d.items[k] = baseLine(d);
      return `hostbit-remove@${k} of ${hb.length}`;
    },
  },
  commentLine: {
    weight: 3,
    apply: (d) => {
      const at = where(d);
      inserted(d, d.items, at, { s: `${pick(d.rng, [sp(0), sp(d.itemCol), sp(d.itemCol + 2), sp(1)])}# note ${d.serial++}${pick(d.rng, ["", " - 1.2.3.4", " nets:"])}` }, `comment-line@${at}`);
      return `comment-line@${at}`;
    },
  },
  blankLine: {
    weight: 3,
    apply: (d) => {
      const at = where(d);
      inserted(d, d.items, at, { s: pick(d.rng, ["", " ", sp(d.itemCol), sp(d.itemCol + 3)]) }, `blank-line@${at}`);
      return `blank-line@${at}`;
    },
  },
  outside: {
    weight: 7,
    apply: (d) => {
      const r = d.rng();
      if (r < 0.25) {
        d.meta[0]!.s = `  name: big-${d.serial++}`;
        return "outside: name";
      }
      if (r < 0.55) {
        // A label: a string, or a number or boolean (WRONG_TYPE, with its "quote it" hint).
        const forms = ["deny", "'x y'", "7", "true", "\"0x1F\"", "7.0", "True", "0x1F", "+1", "1e3"];
        const v = pick(d.rng, forms);
        const i = d.meta.findIndex((l) => l.s === "  labels:");
        const l: Line = { s: `    k${d.serial++}: ${v}` };
        if (d.rng() < 0.5) d.meta.splice(i + 1, 0, l);
        else inserted(d, d.meta, i + 1, l, `label ${v}`);
        return `outside: label ${v}`;
      }
      if (r < 0.8) {
        d.top[0]!.s = `# big deny list, revision ${d.serial++}`;
        return "outside: top comment";
      }
      // The padding a little longer or shorter (still past the limit).
      padTo(d, FAST_PATH_BYTES + int(d.rng, 100, 6000));
      return "outside: padding";
    },
  },
  invalid: {
    weight: 6,
    apply: (d) => {
      const { k, l } = anyItem(d);
      const bad = pick(d.rng, ["300.1.1.1", "bogus", "7", "", "10.0.0.0/33", "1.2.3", "10.0.0.1/", "2001:db8::g", "::ffff:1.2.3.400", "1.2.3.4/8/8", "a.b.c.d"]);
      temporarily(d, l, bad === "" ? `${sp(d.itemCol)}-` : `${sp(d.itemCol)}- ${bad}`, `invalid ${JSON.stringify(bad)}@${k}`);
      return `invalid ${JSON.stringify(bad)}@${k}`;
    },
  },
  yaml11: {
    weight: 3,
    apply: (d) => {
      const { k, l } = anyItem(d);
      const v = pick(d.rng, ["010", "1:20", "0x1F", "yes", "1:20:30", "0777", "12:30", "on", "190:20:30", "1_000"]);
      temporarily(d, l, `${sp(d.itemCol)}- ${v}`, `yaml11 ${v}@${k}`);
      return `yaml11 ${v}@${k}`;
    },
  },
  tab: {
    weight: 3,
    apply: (d) => {
      const r = d.rng();
      if (r < 0.75) {
        const { k, l } = anyItem(d);
        const t = token(l);
        const s = pick(d.rng, [`${sp(d.itemCol)}-\t${t}`, `${sp(d.itemCol)}- ${t}\t`, `${sp(d.itemCol)}- ${t} #\tc`, `\t${sp(d.itemCol)}- ${t}`, `${sp(d.itemCol)}- ${t}\t# c`]);
        temporarily(d, l, s, `tab@${k}`);
        return `tab@${k} ${JSON.stringify(s.trim())}`;
      }
      temporarily(d, d.top[0]!, "#\tbig deny list", "tab in top comment");
      return "tab in top comment";
    },
  },
  cr: {
    weight: 3,
    apply: (d) => {
      const r = d.rng();
      if (r < 0.7) {
        const { k, l } = anyItem(d);
        const s = pick(d.rng, [`${l.s}\r`, `${l.s.replace(/\s+#.*$/, "")} # a\rb`, `${l.s.replace(/\s+#.*$/, "")}\r # c`]);
        temporarily(d, l, s, `cr@${k}`);
        return `cr@${k} ${JSON.stringify(s.trim())}`;
      }
      if (r < 0.85) {
        temporarily(d, d.top[0]!, "# big\r deny list", "cr in top comment");
        return "cr in top comment";
      }
      temporarily(d, d.meta[0]!, `${d.meta[0]!.s}\r`, "crlf after name");
      return "crlf after name";
    },
  },
  nonAscii: {
    weight: 3,
    apply: (d) => {
      const r = d.rng();
      let what: string;
      if (r < 0.5) {
        const { k, l } = anyItem(d);
        const s = `${l.s.replace(/\s+#.*$/, "")} # ${pick(d.rng, ["café", "Zoë", "Ωmega", "日本", "🔥"])}`;
        what = `non-ascii comment@${k}`;
        if (d.rng() < 0.7) temporarily(d, l, s, what);
        else l.s = s;
      } else if (r < 0.7) {
        const at = where(d);
        what = `non-ascii comment line@${at}`;
        inserted(d, d.items, at, { s: `${sp(d.itemCol)}# Ωmega ${d.serial++}` }, what);
      } else if (r < 0.85) {
        what = "non-ascii top comment";
        temporarily(d, d.top[0]!, "# big deny list — ünïcode", what);
      } else {
        what = "non-ascii label";
        inserted(d, d.meta, d.meta.findIndex((l) => l.s === "  labels:") + 1, { s: `    owner: "Zoë ${d.serial++}"` }, what);
      }
      return what;
    },
  },
  merge: {
    weight: 2,
    apply: (d) => {
      const r = d.rng();
      if (r < 0.5) {
        const { k, l } = anyItem(d);
        temporarily(d, l, `${l.s.replace(/\s+#.*$/, "")} # a << b`, `<< in a trailing comment@${k}`);
        return `<< in a trailing comment@${k}`;
      }
      if (r < 0.75) {
        temporarily(d, d.top[0]!, "# <<", "<< in top comment");
        return "<< in top comment";
      }
      inserted(d, d.meta, d.meta.findIndex((l) => l.s === "  labels:") + 1, { s: "    <<: {merged: x}" }, "<< merge key in labels");
      return "<< merge key in labels";
    },
  },
  docEnd: {
    weight: 2,
    apply: (d) => {
      const r = d.rng();
      if (r < 0.4) {
        inserted(d, d.after, d.after.length, { s: "..." }, "... at the end");
        return "... at the end";
      }
      if (r < 0.7) {
        const at = where(d);
        inserted(d, d.items, at, { s: pick(d.rng, ["...", "... # c"]) }, `... in the list@${at}`);
        return `... in the list@${at}`;
      }
      const { k, l } = anyItem(d);
      temporarily(d, l, `${l.s.replace(/\s+#.*$/, "")} # ...`, `... in a trailing comment@${k}`);
      return `... in a trailing comment@${k}`;
    },
  },
  indent: {
    weight: 3,
    apply: (d) => {
      const r = d.rng();
      const delta = pick(d.rng, [-2, -1, 1, 2, 4]);
      const shift = (l: Line) => `${sp(l.s.length - l.s.trimStart().length + delta)}${l.s.trimStart()}`;
      if (r < 0.7) {
        const k = where(d, 1);
        temporarily(d, d.items[k]!, shift(d.items[k]!), `indent ${delta}@${k}`);
        return `indent ${delta}@${k}`;
      }
      const l = r < 0.85 ? d.spec[d.spec.length - 1]! : d.meta[0]!;
      temporarily(d, l, shift(l), `indent ${delta} ${l.s.trim()}`);
      return `indent ${delta} ${l.s.trim()}`;
    },
  },
  shrink: {
    weight: 2,
    apply: (d) => {
      // Below FAST_PATH_BYTES: the padding out, and items from the end if that is not enough.
      const pad = d.pad.s;
      const target = FAST_PATH_BYTES - int(d.rng, 1, 3000);
      const removed: Line[] = [];
      while (!padTo(d, target)) removed.unshift(...d.items.splice(d.items.length - 50, 50));
      d.pending.push({
        what: "grow back",
        undo: () => {
          d.items.push(...removed);
          d.pad.s = pad;
          if (render(d).length < FAST_PATH_BYTES) padTo(d, FAST_PATH_BYTES + 500);
        },
      });
      return `shrink to ${target}${removed.length ? ` (${removed.length} items off the end)` : ""}`;
    },
  },
  boundary: {
    weight: 2,
    apply: (d) => {
      // The text (or its UTF-8 bytes) right at the limit.
      const pad = d.pad.s;
      const bytes = d.rng() < 0.4;
      const target = FAST_PATH_BYTES + int(d.rng, -2, 2);
      if (!padTo(d, target, bytes)) {
        d.pad.s = pad;
        return undefined;
      }
      d.pending.push({ what: "padding back", undo: () => (d.pad.s = pad) });
      return `${bytes ? "bytes" : "length"} ${target}`;
    },
  },
  same: {
    weight: 4,
    apply: () => "same text",
  },
  fix: {
    weight: 0, // weighted by pendingWeight
    apply: (d) => {
      if (!d.pending.length) return undefined;
      const [p] = d.pending.splice(d.rng() < 0.6 ? 0 : int(d.rng, 0, d.pending.length - 1), 1);
      p!.undo();
      return p!.what;
    },
  },
};
const EDIT_NAMES = Object.keys(EDITS);

function applyEdit(d: Doc, names: readonly string[]): string[] {
  const labels: string[] = [];
  const weightOf = (name: string) => (name === "fix" ? (d.pending.length ? 40 + 15 * d.pending.length : 0) : EDITS[name]!.weight);
  const total = names.reduce((s, n) => s + weightOf(n), 0);
  for (let tries = 0; tries < 20 && !labels.length; tries++) {
    let r = d.rng() * total;
    const name = names.find((n) => (r -= weightOf(n)) < 0) ?? "same";
    const label = EDITS[name]!.apply(d);
    if (label !== undefined) labels.push(`${name}: ${label}`);
  }
  return labels;
}

interface Version {
  text: string;
  /** The edits that made it from the one before. */
  edits: string[];
}

/** The versions of chain `seed`: the base file, then each one edited (one edit, two with probability `twice`); `length` versions (else 5-15) of `names`' edits (else all). */
function makeChain(seed: number, length?: number, names: readonly string[] = EDIT_NAMES, twice = 0.2): Version[] {
  // A long chain starts well past the limit: its deletions alone must not take it below (no splice there).
  const d = makeDoc(seed, length && length > 15 ? 40_000 : undefined);
  const versions: Version[] = [{ text: render(d), edits: ["base"] }];
  const n = length ?? int(d.rng, 5, 15);
  while (versions.length < n) {
    const edits = applyEdit(d, names);
    if (d.rng() < twice) edits.push(...applyEdit(d, names));
    versions.push({ text: render(d), edits });
  }
  return versions;
}

// ---------------------------------------------------------------------------------------------
// The comparison (paths, describeAt, firstValueDiff, show as in cut-list-fuzz.test.ts)

/** Every path into a value; in an array longer than 64 only the indexes `keep` keeps. */
function paths(value: unknown, keep: ((i: number, xs: unknown[]) => boolean) | undefined, prefix: FieldPath = []): FieldPath[] {
  const out: FieldPath[] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => (!keep || value.length <= 64 || keep(i, value)) && out.push(...paths(v, keep, [...prefix, i])));
  else if (typeof value === "object" && value !== null) for (const [k, v] of Object.entries(value)) out.push(...paths(v, keep, [...prefix, k]));
  return out;
}

type Place = { line: number; column: number };
/** What a resource says about itself at `at`: its value's place, its key's place and its plain source. */
function describeAt(r: RawResource, at: FieldPath[]): [string, Place, Place, string | undefined][] {
  return at.map((p) => [p.join("."), r.locate(p), r.locate(p, { key: true }), r.plainSource?.(p)]);
}



/** A resource's value with a big list's values as the validator reads them (valuesOf: read again from the file where released). */
function readable(value: unknown): unknown {
  const spec = (value as { spec?: { nets?: unknown } } | null)?.spec;
  if (!spec || typeof spec !== "object" || !Array.isArray(spec.nets)) return value;
  let nets: unknown;
  try {
    nets = [...valuesOf(spec.nets)];
  } catch (e) {
    nets = `valuesOf threw: ${(e as Error).message}`;
  }
  return { ...(value as object), spec: { ...spec, nets } };
}

const ORDINARY = /^(?:\d+\.\d+\.\d+\.\d+(?:\/\d+)?|[0-9a-f:.]+(?:\/\d+)?)$/;

/** List items to compare: its ends, around CUT_MIN_ITEMS, around the edit (against the previous version's), every unusual one and its neighbours, 24 at random. */
function sampler(seed: number, prev: unknown[] | undefined): (i: number, xs: unknown[]) => boolean {
  let cache: { xs: unknown[]; keep: Set<number> } | undefined;
  return (i, xs) => {
    if (cache?.xs !== xs) {
      const rng = mulberry32Unit(seed ^ 0x5eed);
      const n = xs.length;
      const keep = new Set<number>([0, 1, 2, n - 3, n - 2, n - 1]);
      for (let k = CUT_MIN_ITEMS - 3; k <= CUT_MIN_ITEMS + 3; k++) keep.add(k);
      xs.forEach((x, k) => {
        if (typeof x !== "string" || !ORDINARY.test(x)) for (let j = k - 1; j <= k + 1; j++) keep.add(j);
      });
      if (prev) {
        let a = 0;
        while (a < n && a < prev.length && Bun.deepEquals(xs[a], prev[a])) a++;
        let b = 0;
        while (b < n - a && b < prev.length - a && Bun.deepEquals(xs[n - 1 - b], prev[prev.length - 1 - b])) b++;
        for (let k = a - 3; k <= a + 3; k++) keep.add(k);
        for (let k = n - 1 - b - 3; k <= n - 1 - b + 3; k++) keep.add(k);
      }
      for (let t = 0; t < 24; t++) keep.add(Math.floor(rng() * n));
      cache = { xs, keep };
    }
    return cache.keep.has(i);
  };
}

const netsOf = (p: Parsed | undefined): unknown[] | undefined => {
  const v = p?.resources.length === 1 ? (readable(p.resources[0]!.value) as { spec?: { nets?: unknown } }) : undefined;
  return Array.isArray(v?.spec?.nets) ? v.spec.nets : undefined;
};

const diagOf = (x: Diagnostic | undefined) => x && { code: x.code, severity: x.severity, message: x.message, line: x.line, column: x.column, file: x.file, resource: x.resource, path: x.path };

/** The first difference between the fresh parse and the cache's reading of a version; undefined when they agree. */
function compareParsed(fresh: Parsed, warm: Parsed, keep: ((i: number, xs: unknown[]) => boolean) | undefined): { what: string; lines: number[] } | undefined {
  for (let i = 0; i < Math.max(fresh.diagnostics.length, warm.diagnostics.length); i++) {
    const a = diagOf(fresh.diagnostics[i]);
    const b = diagOf(warm.diagnostics[i]);
    if (!Bun.deepEquals(a, b, true)) return { what: `diagnostic #${i} of ${fresh.diagnostics.length}/${warm.diagnostics.length} differs:\n  fresh: ${show(a)}\n  cache: ${show(b)}`, lines: [a?.line, b?.line].filter((l): l is number => typeof l === "number") };
  }
  if (fresh.resources.length !== warm.resources.length) return { what: `the fresh parse gives ${fresh.resources.length} resources, the cache ${warm.resources.length}`, lines: [1] };
  for (let n = 0; n < fresh.resources.length; n++) {
    const f = fresh.resources[n]!;
    const w = warm.resources[n]!;
    if (f.file !== w.file) return { what: `resource #${n}: file ${f.file} / ${w.file}`, lines: [1] };
    const fv = readable(f.value);
    const wv = readable(w.value);
    const vd = firstValueDiff(fv, wv);
    if (vd) return { what: `resource #${n}: value at ${vd.path.join(".") || "(root)"} differs:\n  fresh: ${show(vd.a)}\n  cache: ${show(vd.b)}`, lines: [f.locate(vd.path).line] };
    const at = paths(fv, keep);
    const df = describeAt(f, at);
    const dw = describeAt(w, at);
    for (let i = 0; i < df.length; i++) {
      const [, fl, fk] = df[i]!;
      const [, wl, wk] = dw[i]!;
      if (!Bun.deepEquals(df[i], dw[i], true)) {
        return { what: `resource #${n}: [path, locate, locate key, plainSource] differs:\n  fresh: ${show(df[i])}\n  cache: ${show(dw[i])}`, lines: [...new Set([fl.line, fk.line, wl.line, wk.line])] };
      }
    }
  }
  return undefined;
}

/** What a load says: each network set's nets (and where it starts) and every diagnostic. */
function loadView(r: LoadResult) {
  return {
    sets: r.model.networkSets.map((s) => ({ kind: s.kind, name: s.meta.name, origin: [s.meta.origin.line, s.meta.origin.column], nets: s.nets.map(formatCidr) })),
    diagnostics: r.diagnostics.map(diagOf),
  };
}

/** Lines around the given ones (1-based) of a text, each as a JS string. */
function context(text: string, lineNos: number[]): string {
  const lines = text.split("\n");
  const wanted = new Set<number>();
  for (const l of lineNos) for (let k = l - 2; k <= l + 2; k++) if (k >= 1 && k <= lines.length) wanted.add(k);
  return [...wanted].sort((a, b) => a - b).map((k) => `  ${String(k).padStart(5)}${lineNos.includes(k) ? ">" : " "} ${show(lines[k - 1]!.slice(0, 160))}`).join("\n");
}

// ---------------------------------------------------------------------------------------------
// Running a chain

/** A file as read-dir.ts makes one of a big file: the bytes in a pooled buffer, owned by the file. */
function readAs(path: string, bytes: Uint8Array): BytesFile {
  const buf = takeBuffer(bytes.length);
  buf.set(bytes);
  return new BytesFile(path, buf.subarray(0, bytes.length));
}

type FileKind = "text" | "bytes";
interface Mode {
  kind: FileKind;
  /** loadConfig on each version (compared with a cold one). */
  load: boolean;
  /** releaseAfterApply after each version whose load has no error. */
  release: boolean;
}

function modeOf(seed: number): Mode {
  const kind: FileKind = seed % 2 === 0 ? "text" : "bytes";
  const release = (seed >> 1) % 2 === 1;
  return { kind, release, load: release || seed % 8 < 2 };
}

interface ChainOutcome {
  versions: number;
  /** Per version after the first: spliced, a cache hit, or parsed (and its edits). */
  steps: { spliced: boolean; hit: boolean; offered: boolean; edits: string[]; size: number; released: boolean }[];
  /** For files read as bytes: how many pieces each version's text was held in after the cache read it. */
  chunks: number[];
  problem?: string;
}

function runChain(seed: number, versions: Version[], mode: Mode, full: boolean): ChainOutcome {
  const fileOf = (text: string, pooled: boolean): SourceFile => (mode.kind === "text" ? { path: PATH, text } : pooled ? readAs(PATH, Buffer.from(text, "utf8")) : new BytesFile(PATH, Buffer.from(text, "utf8")));
  // The fresh parses (and cold loads) first, each from an empty cache.
  const fresh = versions.map((v): Parsed => {
    clearParseCache();
    const f = fileOf(v.text, false);
    return parseFast(f) ?? parseFile(f);
  });
  const cold = versions.map((v) => {
    if (!mode.load) return undefined;
    clearParseCache();
    const r = loadConfig([fileOf(v.text, false)], { node: NODE });
    clearParseCache();
    return r;
  });
  clearParseCache();

  const out: ChainOutcome = { versions: versions.length, steps: [], chunks: [] };
  // Whether the previous version's parse offered to read an edit (a fast parse: at least FAST_PATH_BYTES) and this one may be (as big).
  const offered = (k: number) => fresh[k - 1]!.edited !== undefined && versions[k - 1]!.text.length >= FAST_PATH_BYTES && versions[k]!.text.length >= FAST_PATH_BYTES;
  for (let k = 0; k < versions.length; k++) {
    const v = versions[k]!;
    const before = parseCacheStats();
    let warm: Parsed;
    let loaded: LoadResult | undefined;
    let read: SourceFile;
    if (mode.load) {
      loaded = loadConfig([(read = fileOf(v.text, true))], { node: NODE });
      const after = parseCacheStats();
      // What that load read: a hit now.
      warm = parseCached(fileOf(v.text, true), () => {
        throw new Error("the load parsed this version: the cache must hold it");
      });
      if (k > 0) out.steps.push({ spliced: after.spliced > before.spliced, hit: after.hits > before.hits, offered: offered(k), edits: v.edits, size: v.text.length, released: false });
    } else {
      warm = parseCached((read = fileOf(v.text, true)), PARSE);
      const after = parseCacheStats();
      if (k > 0) out.steps.push({ spliced: after.spliced > before.spliced, hit: after.hits > before.hits, offered: offered(k), edits: v.edits, size: v.text.length, released: false });
    }
    const step = out.steps[out.steps.length - 1];
    // A file read as bytes whose edit was read from them: its text, assembled from the earlier versions' pieces, is the file's.
    if (read instanceof BytesFile) {
      const chunks = textChunks(read);
      out.chunks.push(chunks.length);
      if (joinPieces(chunks) !== v.text || read.text !== v.text) {
        out.problem = `version ${k} (edits: ${v.edits.join("; ")}): the file's text after the cache read it is not its bytes' (${chunks.length} chunks)`;
        return out;
      }
    }
    const where = `version ${k} of ${versions.length} (${k === 0 ? "the first" : `${step!.spliced ? "SPLICED" : step!.hit ? "a cache hit" : "parsed"}`}; edits: ${v.edits.join("; ")}; ${v.text.length} characters, ${Buffer.byteLength(v.text)} bytes)`;
    // A full chain compares every path of its first spliced version and of its last one (~0.5 s a version at 3000 items).
    const fullHere = full && (k === versions.length - 1 || (step?.spliced === true && !out.steps.slice(0, -1).some((s) => s.spliced)));
    const keep = fullHere ? undefined : sampler(seed * 31 + k, netsOf(fresh[k - 1]));
    const problem = compareParsed(fresh[k]!, warm, keep);
    if (problem) {
      out.problem = `${where}:\n${problem.what}\n${context(v.text, problem.lines)}`;
      return out;
    }
    if (loaded) {
      const vd = firstValueDiff(loadView(cold[k]!), loadView(loaded));
      if (vd) {
        out.problem = `${where}:\nloadConfig differs from a cold loadConfig at ${vd.path.join(".")}:\n  cold:  ${show(vd.a)}\n  cache: ${show(vd.b)}\n${context(v.text, (cold[k]!.diagnostics.map((d) => d.line).filter((l) => l !== undefined) as number[]).slice(0, 3))}`;
        return out;
      }
      if (mode.release && !hasErrors(loaded.diagnostics)) {
        releaseAfterApply();
        if (step) step.released = true;
      }
    }
    // The next read overwrites every spare buffer: nothing may still be reading one.
    for (const b of spareBuffers()) b.fill(0x41);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The chains

/** Chains (seeds 1..CHAINS). */
const CHAINS = Number(process.env.SPLICE_FUZZ_CHAINS ?? 50);
/** Every FULL-th chain compares every path of every item in two of its versions (its first spliced one and its last). */
const FULL = Number(process.env.SPLICE_FUZZ_FULL_EVERY ?? 10);
/** Versions in each long chain. */
const LONG = 100;

const totals = { chains: 0, versions: 0, edited: 0, offered: 0, spliced: 0, hits: 0, released: 0, failed: 0 };
/** Per edit: versions it made, of those whose previous version offered a splice (its parse's `edited`, both versions past the limit), and spliced. */
const byEdit = new Map<string, { versions: number; offered: number; spliced: number }>();
const started = performance.now();

describe("a big network set edited version after version reads through the parse cache (spliced or not) exactly as a fresh parse", () => {
  for (let seed = 1; seed <= CHAINS; seed++) {
    const mode = modeOf(seed);
    const full = seed % FULL === 0;
    test(`seed=${seed} ${mode.kind}${mode.release ? " load+release" : mode.load ? " load" : ""}${full ? " (every path twice)" : ""}`, () => {
      const versions = makeChain(seed);
      const o = runChain(seed, versions, mode, full);
      totals.chains++;
      totals.versions += o.versions;
      for (const s of o.steps) {
        totals.edited++;
        totals.spliced += +s.spliced;
        totals.offered += +s.offered;
        totals.hits += +s.hit;
        totals.released += +s.released;
        for (const name of new Set(s.edits.map((e) => e.split(":")[0]!))) {
          const e = byEdit.get(name) ?? { versions: 0, offered: 0, spliced: 0 };
          e.versions++;
          e.offered += +s.offered;
          e.spliced += +s.spliced;
          byEdit.set(name, e);
        }
      }
      if (o.problem) totals.failed++;
      expect(o.problem).toBeUndefined();
    }, 120_000);
  }

  // Long chains of item edits, most of them spliced: a file read as bytes is then held as pieces of
  // earlier versions, joined into one string past MAX_PIECES (64) pieces (fast-yaml.ts
  // replacePieces). The first has only one-line edits of ASCII item lines anywhere, one a version
  // (each read from the bytes: two far apart would make one edit of the lines between), the second
  // all edits of item lines and runs loadConfig and releaseAfterApply.
  for (const seed of [9001, 9002]) {
    const mode: Mode = { kind: "bytes", load: seed === 9002, release: seed === 9002 };
    const names = seed === 9001 ? ["point"] : ["insert", "delete", "replace", "point", "char", "quote", "dup", "hostbitOne", "hostbitRemove", "trailing", "oddity", "fix"];
    test(`seed=${seed} ${mode.kind}${mode.release ? " load+release" : ""} (a long chain: ${LONG} versions of item edits)`, () => {
      const o = runChain(seed, makeChain(seed, LONG, names, seed === 9001 ? 0 : 0.2), mode, false);
      expect(o.problem).toBeUndefined();
      const spliced = o.steps.filter((s) => s.spliced).length;
      if (spliced <= LONG / 2) console.log(`seed=${seed}: only ${spliced} versions spliced:\n${o.steps.map((s, i) => `${i + 1}: ${s.spliced ? "spliced" : s.hit ? "hit" : "parsed"} ${s.edits.join("; ")}`).join("\n")}`);
      expect(spliced).toBeGreaterThan(LONG / 2);
      // Held in more than MAX_PIECES pieces at some point, then joined (the text as one piece again).
      if (!mode.load) expect([Math.max(...o.chunks) > 64 / 2, o.chunks.some((c, i) => i > 0 && c === 1 && o.chunks[i - 1]! > 64 / 2 && o.steps[i - 1]!.spliced)]).toEqual([true, true]);
    }, 120_000);
  }

  test("a good share of the edited versions were spliced (a fuzz that never splices proves nothing)", () => {
    expect(totals.chains).toBe(CHAINS);
    expect(totals.spliced / totals.edited).toBeGreaterThan(0.25);
    // Each edit of item lines alone splices, from a version that had no problem.
    for (const e of ["insert", "delete", "replace", "point", "char", "trailing", "quote", "dup", "hostbitOne", "hostbitRemove"]) expect([e, (byEdit.get(e)?.spliced ?? 0) > 0]).toEqual([e, true]);
    // Half the chains released their lists after loads without errors.
    expect(totals.released).toBeGreaterThan(0);
  });

  afterAll(() => {
    const pct = (a: number, b: number) => `${((100 * a) / Math.max(1, b)).toFixed(0)}%`;
    console.log(
      `splice fuzz: ${totals.chains} chains, ${totals.versions} versions, ${totals.edited} edited (${totals.offered} from a version that offered a splice): ${totals.spliced} spliced (${pct(totals.spliced, totals.edited)} of the edited, ${pct(totals.spliced, totals.offered)} of those offered), ${totals.hits} cache hits, ${totals.released} released; ${totals.failed} chains failed; ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    if (!process.env.SPLICE_FUZZ_REPORT) return;
    const rows = [...byEdit].sort(([a], [b]) => a.localeCompare(b)).map(([k, s]) => `${k.padEnd(16)} ${String(s.versions).padStart(8)} ${String(s.offered).padStart(8)} ${String(s.spliced).padStart(8)} ${pct(s.spliced, s.versions).padStart(6)}`);
    console.log(`${"edit".padEnd(16)} versions  offered  spliced  share\n${rows.join("\n")}`);
  });
});

// ---------------------------------------------------------------------------------------------
// What the fuzz found, minimised: each failed at 619a342 (the spliced resource had no plainSource; fixed in a9f1139).

describe("divergences the fuzz found, minimised: a spliced version reads as a fresh parse of it", () => {
  /** A network set with a label `a: <label>` and the given items, padded past FAST_PATH_BYTES with a comment after the list (the same in every version). */
  const file = (label: string, items: string[]): SourceFile => {
    const text = `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels:\n    a: ${label}\nspec:\n  nets:\n${items.map((t) => `  - ${t}\n`).join("")}`;
    return { path: PATH, text: `${text}# ${"x".repeat(FAST_PATH_BYTES)}\n` };
  };
  const v1 = (label: string) => file(label, ["10.0.0.1"]);
  const v2 = (label: string) => file(label, ["10.0.0.1", "10.0.0.2"]);

  test("a spliced version's resource gives each plain scalar's source (plainSource), as the fresh parse does", () => {
    clearParseCache();
    parseCached(v1("7.0"), PARSE);
    const spliced = parseCacheStats().spliced;
    const cached = parseCached(v2("7.0"), PARSE).resources[0]!;
    expect(parseCacheStats().spliced).toBe(spliced + 1);
    clearParseCache();
    const fresh = (parseFast(v2("7.0")) ?? parseFile(v2("7.0"))).resources[0]!;
    clearParseCache();
    const at: FieldPath[] = [["kind"], ["metadata", "name"], ["metadata", "labels", "a"], ["spec", "nets", 1]];
    // fresh: ["GlobalNetworkSet", "big", "7.0", "10.0.0.2"]; cache at 619a342: [undefined, undefined, undefined, undefined] (fast-yaml.ts splicer: `{ value, file, locate }`, no plainSource).
    expect(at.map((p) => cached.plainSource?.(p))).toEqual(at.map((p) => fresh.plainSource?.(p)));
  });

  for (const label of ["7.0", "True", "0x1F", "1e3", "+1", "0o17"]) {
    test(`seen by loadConfig: a label ${label} is WRONG_TYPE with the hint "quote it: '${label}'" after a spliced edit of the list too, as cold`, () => {
      clearParseCache();
      loadConfig([v1(label)], { node: NODE });
      const spliced = parseCacheStats().spliced;
      const warm = loadConfig([v2(label)], { node: NODE });
      expect(parseCacheStats().spliced).toBe(spliced + 1);
      clearParseCache();
      const cold = loadConfig([v2(label)], { node: NODE });
      clearParseCache();
      const view = (r: LoadResult) => r.diagnostics.map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`);
      // 7.0: cold ["6:8 WRONG_TYPE expected a string, got number 7; quote it: '7.0'"]; cache at 619a342
      // "...; quote it: '7'" (the value: True → 'true', 0x1F → '31', 1e3 → '1000', +1 → '1', 0o17 → '15').
      expect(view(warm)).toEqual(view(cold));
    });
  }
});
