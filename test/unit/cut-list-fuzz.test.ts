/**
 * A seeded fuzz of the big-`nets:`-list cut (fast-yaml.ts cutList, list-splice.ts scanItemLines):
 * GlobalNetworkSet files (also NetworkSet, `kind: List`, typed lists, top-level sequences and a
 * policy rule's nets) whose `nets:` block list has 1100-1500 items at columns 2-12, padded past
 * FAST_PATH_BYTES, their list lines and surroundings mutated at random, each kind alone and in
 * combinations (KINDS: comments, blank lines, trailing blanks, CRLF, a BOM, quoted, YAML 1.1,
 * anchored, tagged, flow, multi-line and re-indented items, odd dashes, duplicate keys, more
 * documents, the list last in the file, non-ASCII, very long items, merge keys, ...). Each file
 * is read by parseFast and by parseFile: the diagnostics, the resources and, for every path,
 * locate, locate-the-key and plainSource must be the same (fast-path-parity.test.ts, the
 * contract). Paths into a long list are sampled (its ends, the items around CUT_MIN_ITEMS, every
 * unusual item and its neighbours, 24 at random), except in every FULL-th file: locating every
 * item's key costs ~0.15 s a file.
 *
 * Every test's name carries its seed and its mutation kinds; replay one with
 *   bun test unit/cut-list-fuzz.test.ts -t "seed=123 "
 * (generate(seed, kinds) rebuilds the same text; a failure prints the lines around the first
 * difference and the mutated lines). CUT_FUZZ_CASES scales the random combinations,
 * CUT_FUZZ_REPORT=1 prints how often each kind was cut. What it found (eight divergences,
 * fixed in src/config: fast-yaml.ts positionedOnly and flatten, key-scan MAX_KEY, maybeYaml11)
 * stays minimised at the end of this file.
 * The share test checks that a good part of the files were cut at all: a fuzz that never cuts
 * proves nothing about the cut.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { CUT_MIN_ITEMS, cutStats, FAST_PATH_BYTES, parseFast } from "../../src/config/fast-yaml.ts";
import { parseFile } from "../../src/config/parse.ts";
import { clearParseCache } from "../../src/config/parse-cache.ts";
import type { Diagnostic } from "../../src/diagnostics/diagnostic.ts";
import type { FieldPath, RawResource } from "../../src/config/resource.ts";
import { mulberry32Unit } from "../support/prng.ts";
import { firstValueDiff, show } from "../support/value-diff.ts";

// ---------------------------------------------------------------------------------------------
// The generator

/** One line of a generated file (no line break); `tag` names the mutation that wrote it. */
interface Line {
  s: string;
  tag?: string;
  /** This line ends with CRLF even where the file does not (crlf-some). */
  crlf?: boolean;
}

interface Generated {
  seed: number;
  kinds: string[];
  layout: string;
  text: string;
  lines: Line[];
}

type Rng = () => number;
const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const sp = (n: number) => " ".repeat(Math.max(0, n));

const H = "apiVersion: projectcalico.org/v3";

/** A plain item every reader reads as the same string, one the line scan accepts. */
function baseValue(rng: Rng, i: number): string {
  const r = rng();
  const v4 = `${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`;
  if (r < 0.55) return v4;
  if (r < 0.75) return `${v4}/${int(rng, 8, 32)}`;
  if (r < 0.85) return `2001:db8:${i.toString(16)}::/64`;
  if (r < 0.92) return `fe80::${i.toString(16)}`;
  return `2001:0db8:85a3:0000:0000:8a2e:${(i & 0xffff).toString(16).padStart(4, "0")}:7334/128`;
}

/** Every mutation kind. `list` ones change the list's lines; the others its surroundings or the whole text. */
const KINDS = [
  "comment-line",
  "trailing-comment",
  "blank-line",
  "trailing-ws",
  "crlf",
  "crlf-some",
  "bom",
  "quoted",
  "yaml11",
  "anchor-alias",
  "tag",
  "flow-item",
  "continuation",
  "indent-shift",
  "dash-forms",
  "dup-nets-after",
  "dup-nets-before",
  "second-doc",
  "list-last",
  "non-ascii",
  "long-item",
  "comments-outside",
  "extra-keys",
  "nets-key-forms",
  "cidr-oddities",
  "tab-forms",
  "key-item",
  "block-scalar-item",
  "doc-marker-in-list",
  "decoy-block-scalar",
  "empty-or-few",
  "alias-spec",
  "merge-spec",
  "merge-key",
  "null-sibling",
  "dup-around",
  "leading-doc",
  "lone-cr",
  "control-chars",
] as const;
type Kind = (typeof KINDS)[number];

/** Kinds that leave the list one plain item per line, or change only what is around it: these should mostly cut. */
const BENIGN: Kind[] = ["trailing-comment", "comments-outside", "extra-keys", "dup-nets-before", "list-last", "cidr-oddities", "yaml11", "quoted", "second-doc"];

interface Doc {
  rng: Rng;
  /** The mapping indent step. */
  u: number;
  /** Columns: metadata's keys, the `nets:` key's, the items' dashes. */
  metaCol: number;
  specCol: number;
  itemCol: number;
  items: Line[];
  top: Line[];
  meta: Line[];
  beforeNets: Line[];
  netsKey: string;
  afterList: Line[];
  afterDoc: Line[];
  last: boolean;
  finalNewline: boolean;
  bom: boolean;
  crlf: boolean;
  /** The list is under `base: &b`, and spec is `*b` or merges it (`<<: *b`). */
  specVia?: "alias" | "merge";
  /** An empty (null) entry next to the set in a sequence or List. */
  nullSibling?: string;
  /** `spec: &s` (and a `copy: *s` after it). */
  anchorSpec?: boolean;
  /** Lines before everything (documents before the set's). */
  lead: Line[];
}

/** An index into the list: often near its ends or near CUT_MIN_ITEMS, where the cut decides. */
function where(d: Doc): number {
  const n = d.items.length;
  const r = d.rng();
  if (r < 0.2) return int(d.rng, 0, 2);
  if (r < 0.45) return int(d.rng, Math.max(0, n - 3), n - 1);
  if (r < 0.55) return Math.min(n - 1, int(d.rng, CUT_MIN_ITEMS - 3, CUT_MIN_ITEMS + 2));
  return int(d.rng, 0, n - 1);
}

function setItem(d: Doc, k: number, value: string, tag: string, suffix = ""): void {
  d.items[k] = { s: `${sp(d.itemCol)}- ${value}${suffix}`, tag };
}

function valueOf(d: Doc, k: number): string {
  return d.items[k]!.s.replace(/^ *- /, "");
}

const QUOTED = [`"1.2.3.4"`, `'10.0.0.0/8'`, `"::1"`, `"\\x41"`, `'it''s'`, `"a\\tb"`, `"\\u0041\\u00e9"`, `"10.0.0.1\\n"`, `""`, `''`, `"1.2.3.4" # c`, `'1.2.3.4'   `, `"1.2.3.4"x`, `"\\"q\\""`, `'a\\b'`, `"1.2.3.4/32`, `'010'`, `"0x1F"`, `"DEAD:beef::/32"`, `"1.2.3.4 "`];
const YAML11 = ["010", "0x1F", "1_000", "yes", "no", "on", "off", "On", "OFF", "y", "N", "~", "null", "NULL", "true", "False", "1e3", ".inf", "-.Inf", ".NaN", "12:30", "1:20", "0:30:10", "1:2.5", "+12:30", "-1:20", "0b101", "0o17", "1.5", "08", "0777", "1_0.5", "-010", "+1", "0", "60:60", "1:60", "190:20:30"];
const TAGS = ["!!str 010", "!x 1.2.3.4", "!!int 7", "! 1.2.3.4", "!<tag:yaml.org,2002:str> 10.0.0.1", "!!str", "!!binary aGk=", "!!null ''"];
const FLOWS = ["[1.2.3.4, 5.6.7.8]", "{cidr: 1.2.3.4}", "[]", "{}", "{a: 1, a: 2}", "[1.2.3.4", "[010, on]", "{ }", "[ 10.0.0.1/8 ]   # c"];
const ODDITIES = ["::", "::/0", "..", ":/", "1.2.3", "/", "1/2", ".1.2", ":1", "dead:beef::", "ABC.DEF.0", "1:2", "0:0", "1.2.3.4/", "0:60", "1:60", ":::", "1.2.3.4:", "a:", "1:2:", "...", "1.2.3.4:80", "00:00", "0:0:0:0:0", "1.", ".1", "1::2:3", "f:f", "10:20:30:40:50:60:70:80:90", "1.2.3.4/33", "a.b", "a.b.c", "1:2.3", "0:59.5"];

function applyKind(d: Doc, kind: Kind): void {
  const { rng } = d;
  const n = () => d.items.length;
  switch (kind) {
    case "comment-line": {
      for (let t = int(rng, 1, 2); t > 0; t--) {
        const k = where(d);
        d.items.splice(k + int(rng, 0, 1), 0, { s: `${pick(rng, [sp(0), sp(d.itemCol), sp(d.itemCol + 2), sp(1), sp(d.specCol)])}# note ${k}${pick(rng, ["", " - 1.2.3.4", "#", " nets:"])}`, tag: kind });
      }
      return;
    }
    case "trailing-comment": {
      for (let t = int(rng, 1, 3); t > 0; t--) {
        const k = where(d);
        d.items[k] = { s: d.items[k]!.s + pick(rng, [" # c", "   # comment: with - dash", "#nospace", " #", "  ## x ## y"]), tag: kind };
      }
      return;
    }
    case "blank-line": {
      const k = where(d);
      d.items.splice(k + int(rng, 0, 1), 0, { s: pick(rng, ["", " ", sp(d.itemCol), sp(d.itemCol + 3)]), tag: kind });
      return;
    }
    case "trailing-ws": {
      for (let t = int(rng, 1, 3); t > 0; t--) {
        const k = where(d);
        d.items[k] = { s: d.items[k]!.s + pick(rng, ["  ", " ", "\t", " \t", "\t ", "\t# c"]), tag: kind };
      }
      return;
    }
    case "crlf":
      d.crlf = true;
      return;
    case "crlf-some": {
      const k = where(d);
      d.items[k] = { ...d.items[k]!, crlf: true, tag: kind };
      return;
    }
    case "bom":
      d.bom = true;
      return;
    case "quoted": {
      for (let t = int(rng, 1, 3); t > 0; t--) setItem(d, where(d), pick(rng, rng() < 0.5 ? QUOTED : [`"${valueOf(d, 0)}"`, `'${valueOf(d, 1)}'`]), kind);
      return;
    }
    case "yaml11": {
      // Half the time only the base-60 forms the line scan reads itself (the cut's own YAML 1.1 notes).
      const forms = rng() < 0.5 ? YAML11 : YAML11.filter((v) => /^[0-9:.]+$/.test(v) && v.includes(":"));
      for (let t = int(rng, 1, 3); t > 0; t--) setItem(d, where(d), pick(rng, forms), kind);
      return;
    }
    case "anchor-alias": {
      const k = where(d);
      const form = rng();
      if (form < 0.4 && k + 1 < n()) {
        setItem(d, k, `&a ${valueOf(d, k)}`, kind);
        setItem(d, int(rng, k + 1, n() - 1), "*a", kind);
      } else if (form < 0.6) {
        setItem(d, k, `&a ${valueOf(d, k)}`, kind);
      } else if (form < 0.8) {
        setItem(d, k, "*nowhere", kind);
      } else {
        // The anchor outside the list, the alias in it.
        d.meta.push({ s: `${sp(d.metaCol)}annotations: {x: &a 10.0.0.1/8}`, tag: kind });
        setItem(d, k, "*a", kind);
      }
      return;
    }
    case "tag":
      setItem(d, where(d), pick(rng, TAGS), kind);
      return;
    case "flow-item":
      setItem(d, where(d), pick(rng, FLOWS), kind);
      return;
    case "continuation": {
      const k = where(d);
      const form = rng();
      if (form < 0.7) {
        const col = pick(rng, [d.itemCol + 1, d.itemCol + 2, d.itemCol + 4, d.itemCol, d.itemCol - 1, d.specCol + 1]);
        d.items.splice(k + 1, 0, { s: `${sp(col)}${pick(rng, ["more", "1.2.3.4", "x: 1", "- y", "# not a comment?", "5.6"])}`, tag: kind });
      } else {
        // A quoted scalar over two lines.
        const q = pick(rng, [`"`, `'`]);
        setItem(d, k, `${q}1.2.3.4`, kind);
        d.items.splice(k + 1, 0, { s: `${sp(d.itemCol + pick(rng, [0, 2, 1]))}5.6.7.8${q}`, tag: kind });
      }
      return;
    }
    case "indent-shift": {
      const k = where(d);
      const delta = pick(rng, [-2, -1, 1, 2, 4]);
      d.items[k] = { s: sp(d.itemCol + delta) + d.items[k]!.s.trimStart(), tag: kind };
      return;
    }
    case "dash-forms": {
      const k = where(d);
      const v = valueOf(d, k);
      const form = pick(rng, ["nospace", "bare", "bare-space", "tab", "two-spaces", "next-line", "dash-dash"]);
      if (form === "nospace") d.items[k] = { s: `${sp(d.itemCol)}-${v}`, tag: kind };
      else if (form === "bare") d.items[k] = { s: `${sp(d.itemCol)}-`, tag: kind };
      else if (form === "bare-space") d.items[k] = { s: `${sp(d.itemCol)}- `, tag: kind };
      else if (form === "tab") d.items[k] = { s: `${sp(d.itemCol)}-\t${v}`, tag: kind };
      else if (form === "two-spaces") d.items[k] = { s: `${sp(d.itemCol)}-  ${v}`, tag: kind };
      else if (form === "dash-dash") d.items[k] = { s: `${sp(d.itemCol)}- - ${v}`, tag: kind };
      else d.items.splice(k, 1, { s: `${sp(d.itemCol)}-`, tag: kind }, { s: `${sp(d.itemCol + 2)}${v}`, tag: kind });
      return;
    }
    case "dup-nets-after": {
      const form = rng();
      if (form < 0.5) d.afterList.push({ s: `${sp(d.specCol)}nets: [10.0.0.0/8]`, tag: kind });
      else if (form < 0.8) d.afterList.push({ s: `${sp(d.specCol)}nets:`, tag: kind }, { s: `${sp(d.itemCol)}- 10.0.0.0/8`, tag: kind }, { s: `${sp(d.itemCol)}- 7`, tag: kind });
      else d.afterList.push({ s: `${sp(d.specCol)}nets: ${valueOf(d, 0)}`, tag: kind });
      return;
    }
    case "dup-nets-before": {
      const form = rng();
      if (form < 0.6) d.beforeNets.push({ s: `${sp(d.specCol)}nets: [10.0.0.0/8, 010]`, tag: kind });
      else d.beforeNets.push({ s: `${sp(d.specCol)}nets:`, tag: kind }, { s: `${sp(d.itemCol)}- 10.0.0.0/8`, tag: kind });
      return;
    }
    case "second-doc": {
      const form = pick(rng, ["tier", "empty", "end", "end-then-doc", "set"]);
      const doc: string[] =
        form === "tier" ? ["---", H, "kind: Tier", "metadata: {name: t, labels: {k: 010}}", "spec: {order: 1}"]
        : form === "empty" ? ["---"]
        : form === "end" ? ["..."]
        : form === "end-then-doc" ? ["...", "---", H, "kind: Tier", "metadata: {name: t2}"]
        : ["---", H, "kind: GlobalNetworkSet", "metadata: {name: small}", "spec:", "  nets:", "    - 10.1.1.1", "    - on"];
      d.afterDoc.push(...doc.map((s) => ({ s, tag: kind })));
      return;
    }
    case "list-last":
      d.last = true;
      d.finalNewline = rng() < 0.5;
      return;
    case "non-ascii": {
      const form = rng();
      if (form < 0.3) d.items[where(d)]!.s += " # café ü";
      else if (form < 0.5) setItem(d, where(d), `"é1.2.3.4"`, kind);
      else if (form < 0.65) setItem(d, where(d), "10.0.0.1é", kind);
      else if (form < 0.8) d.meta.push({ s: `${sp(d.metaCol)}labels: {owner: "Zoë"}`, tag: kind });
      else d.items.splice(where(d), 0, { s: `${sp(d.itemCol)}# Ωmega`, tag: kind });
      const k = d.items.findIndex((l) => /[^\x00-\x7f]/.test(l.s));
      if (k >= 0) d.items[k]!.tag = kind;
      return;
    }
    case "long-item": {
      const k = where(d);
      const len = pick(rng, [40, 65, 200, 1100, 3000]);
      const form = pick(rng, ["dots", "colons", "sexagesimal", "quoted", "comment", "leading-zero"]);
      const fill = (unit: string) => unit.repeat(Math.ceil(len / unit.length)).slice(0, len);
      if (form === "dots") setItem(d, k, fill("1.2."), kind);
      else if (form === "colons") setItem(d, k, fill("ab:"), kind);
      // YAML 1.1 forms longer than most: a base-60 number, a leading-zero "octal".
      else if (form === "sexagesimal") setItem(d, k, `1${":00".repeat(Math.min(Math.ceil(len / 3), 12))}`, kind);
      else if (form === "leading-zero") setItem(d, k, `0${"_0".repeat(Math.min(Math.ceil(len / 2), 20))}1`, kind);
      else if (form === "quoted") setItem(d, k, `"${fill("1.2.3.4/")}"`, kind);
      else d.items[k] = { s: `${d.items[k]!.s} # ${fill("x")}`, tag: kind };
      return;
    }
    case "comments-outside": {
      d.top.push({ s: pick(rng, ["# top", "# nets:", "#"]), tag: kind });
      d.beforeNets.push({ s: `${sp(pick(rng, [0, d.specCol]))}# before nets`, tag: kind });
      if (!d.last) d.afterList.push({ s: pick(rng, ["# after the list", `${sp(d.itemCol)}# after`, ""]), tag: kind });
      d.meta.push({ s: `${sp(d.metaCol)}# in metadata`, tag: kind });
      return;
    }
    case "extra-keys": {
      d.meta.push({ s: `${sp(d.metaCol)}labels: {on: yes, x: 010}`, tag: kind });
      if (rng() < 0.5) d.beforeNets.push({ s: `${sp(d.specCol)}other: 1`, tag: kind });
      d.afterList.push({ s: `${sp(d.specCol)}${pick(rng, ["extra: 1", "extra: [1.2.3.4]", "allowedEgressDomains: [a.b]"])}`, tag: kind });
      if (rng() < 0.3) d.afterList.push({ s: `${sp(d.specCol)}extra: 2`, tag: kind });
      return;
    }
    case "nets-key-forms":
      d.netsKey = pick(rng, ["nets:   ", "nets: # comment", "nets:\t", `"nets":`, "nets :", "'nets':", "nets: &n", "nets: !!seq"]);
      return;
    case "cidr-oddities": {
      for (let t = int(rng, 1, 4); t > 0; t--) setItem(d, where(d), pick(rng, ODDITIES), kind);
      return;
    }
    case "tab-forms": {
      const k = where(d);
      const v = valueOf(d, k);
      d.items[k] = { s: pick(rng, [`\t- ${v}`, `${sp(d.itemCol)}-\t${v}`, `${sp(d.itemCol)}- ${v}\t# c`, `${sp(d.itemCol)}\t- ${v}`, `${sp(d.itemCol)}- ${v}\t`]), tag: kind };
      return;
    }
    case "key-item":
      setItem(d, where(d), pick(rng, ["a: b", "1.2.3.4: x", "1:2: x", "? x", "10.0.0.1 : y", "x:y", "1.2.3.4:", ": x"]), kind);
      return;
    case "block-scalar-item": {
      const k = where(d);
      setItem(d, k, pick(rng, ["|", ">-", "|+", "|2"]), kind);
      d.items.splice(k + 1, 0, { s: `${sp(d.itemCol + 2)}1.2.3.4`, tag: kind });
      return;
    }
    case "doc-marker-in-list":
      d.items.splice(where(d), 0, { s: pick(rng, ["---", "...", "--- # c", `${sp(d.itemCol)}---`]), tag: kind });
      return;
    case "decoy-block-scalar": {
      // A copy of a list inside a literal block scalar, before the real one: the first `nets:` line is the decoy's.
      d.meta.push({ s: `${sp(d.metaCol)}annotations:`, tag: kind }, { s: `${sp(d.metaCol + d.u)}copy: |`, tag: kind }, { s: `${sp(d.metaCol + d.u + 2)}nets:`, tag: kind });
      for (let i = 0; i < CUT_MIN_ITEMS + 10; i++) d.meta.push({ s: `${sp(d.metaCol + d.u + 2)}- 10.${i >> 8}.${i & 255}.1`, tag: i === 0 ? kind : undefined });
      return;
    }
    case "empty-or-few": {
      // Just below the cut's minimum, or the list split in two by a comment near the minimum.
      if (rng() < 0.5) d.items.length = CUT_MIN_ITEMS - int(rng, 1, 3);
      else d.items.splice(CUT_MIN_ITEMS - 1 + int(rng, -1, 1), 0, { s: `${sp(d.itemCol)}# split`, tag: kind });
      return;
    }
    case "alias-spec":
      if (rng() < 0.6) d.specVia = "alias";
      else d.afterList.push({ s: `${sp(d.metaCol - d.u)}copy: *s`, tag: kind }), (d.anchorSpec = true);
      return;
    case "merge-spec":
      d.specVia = "merge";
      return;
    case "merge-key":
      d.meta.push({ s: `${sp(d.metaCol)}labels: {<<: {a: b}, c: d}`, tag: kind });
      return;
    case "dup-around": {
      // The same key before and after the list, each a YAML 1.1 note: the duplicate's message names the first's line.
      d.beforeNets.push({ s: `${sp(d.specCol)}x: on`, tag: kind });
      d.afterList.push({ s: `${sp(d.specCol)}x: ${pick(rng, ["010", "yes", "12:30", "[1, 2]"])}`, tag: kind });
      return;
    }
    case "leading-doc": {
      const form = pick(rng, [["---"], ["--- # c"], ["~", "---"], ["# c", "---", "---"], ["%YAML 1.2", "---"], ["...", "---"], [H, "kind: Tier", "metadata: {name: first}", "---"]]);
      d.lead.push(...form.map((s) => ({ s, tag: kind })));
      return;
    }
    case "lone-cr": {
      // A carriage return not followed by a line feed (a line break in YAML 1.2).
      const form = rng();
      if (form < 0.3) d.meta.push({ s: `${sp(d.metaCol)}# a\rb`, tag: kind });
      else if (form < 0.5) d.meta.push({ s: `${sp(d.metaCol)}x: a\r${sp(d.metaCol)}y: b`, tag: kind });
      else if (form < 0.7) {
        const k = where(d);
        d.items[k] = { s: `${d.items[k]!.s} # c\rd`, tag: kind };
      }
      else if (form < 0.85) d.afterList.push({ s: `# end\r`, tag: kind });
      else setItem(d, where(d), "1.2.3.4\r5.6.7.8", kind);
      return;
    }
    case "control-chars": {
      const c = pick(rng, ["\x0c", "\x0b", "\x7f", "\x00", "\x1b", "\x85"]);
      const form = rng();
      if (form < 0.3) d.meta.push({ s: `${sp(d.metaCol)}# ${c}`, tag: kind });
      else if (form < 0.5) d.meta.push({ s: `${sp(d.metaCol)}x: a${c}b`, tag: kind });
      else if (form < 0.85) {
        const k = where(d);
        d.items[k] = { s: `${d.items[k]!.s}${form < 0.7 ? " # " : ""}${c}`, tag: kind };
      }
      else setItem(d, where(d), `"1.2.3.4${c}"`, kind);
      return;
    }
    case "null-sibling":
      d.nullSibling = pick(rng, ["-", "- ~", "- null", "- # nothing"]);
      return;
  }
}

/** The file for `seed`: its layout from the seed, its mutations `kinds` (or drawn from the seed). */
function generate(seed: number, kinds?: readonly Kind[]): Generated {
  const rng = mulberry32Unit(seed);
  const chosen: Kind[] = kinds ? [...kinds] : [];
  if (!kinds) {
    const r = rng();
    if (r < 0.25) {
      // Unmutated: the base layout alone.
    } else if (r < 0.65) {
      for (let t = int(rng, 1, 3); t > 0; t--) chosen.push(pick(rng, BENIGN));
    } else {
      for (let t = int(rng, 1, 4); t > 0; t--) chosen.push(pick(rng, KINDS));
    }
  }
  const u = rng() < 0.7 ? 2 : 4;
  // A null entry needs a sequence to be in.
  const wrappers = chosen.includes("null-sibling") ? (["seq", "list", "typed-list", "list2"] as const) : (["set", "set", "set", "set", "network-set", "list", "list", "typed-list", "seq", "list2", "policy"] as const);
  const wrapper = pick(rng, wrappers);
  // Resource keys' column, and the first line's prefix (a `- ` entry for sequences and lists).
  const resCol = wrapper === "seq" ? 2 : wrapper === "list" || wrapper === "typed-list" || wrapper === "list2" ? u + 2 : 0;
  const specCol = resCol + u;
  const policy = wrapper === "policy";
  const netsCol = policy ? specCol + u + 2 + u : specCol;
  const itemCol = netsCol + pick(rng, [0, 2, 2, 2, 4]);
  const count = int(rng, 1100, 1500);
  const d: Doc = {
    rng, u, metaCol: resCol + u, specCol: netsCol, itemCol,
    items: Array.from({ length: count }, (_, i) => ({ s: `${sp(itemCol)}- ${baseValue(rng, i)}` })),
    top: [], lead: [], meta: [], beforeNets: [], netsKey: "nets:", afterList: [], afterDoc: [],
    last: false, finalNewline: rng() < 0.9, bom: false, crlf: false,
  };
  for (const kind of chosen) applyKind(d, kind);

  const lines: Line[] = [...d.top, ...d.lead];
  const key = (col: number, s: string) => ({ s: `${sp(col)}${s}` });
  const first = wrapper === "seq" ? "- " : wrapper === "list" || wrapper === "typed-list" || wrapper === "list2" ? `${sp(u)}- ` : "";
  if (wrapper === "list" || wrapper === "list2") lines.push({ s: H }, { s: "kind: List" }, { s: "items:" });
  if (wrapper === "typed-list") lines.push({ s: H }, { s: "kind: GlobalNetworkSetList" }, { s: "items:" });
  if (wrapper === "list2") lines.push({ s: `${sp(u)}- ${H}` }, key(resCol, "kind: Tier"), key(resCol, "metadata: {name: t}"), key(resCol, "spec: {order: 1}"));
  const kind = policy ? "GlobalNetworkPolicy" : wrapper === "network-set" ? "NetworkSet" : "GlobalNetworkSet";
  if (d.nullSibling && first) lines.push({ s: `${sp(resCol - 2)}${d.nullSibling}`, tag: "null-sibling" });
  lines.push({ s: `${first}${H}` }, key(resCol, `kind: ${kind}`), key(resCol, "metadata:"), key(resCol + u, `name: big-${seed}`));
  if (wrapper === "network-set") lines.push(key(resCol + u, "namespace: default"));
  lines.push(...d.meta);
  lines.push(d.specVia ? { s: `${sp(resCol)}base: &b`, tag: `${d.specVia}-spec` } : d.anchorSpec ? { s: `${sp(resCol)}spec: &s`, tag: "alias-spec" } : key(resCol, "spec:"));
  if (policy) lines.push(key(specCol, "selector: all()"), key(specCol, "ingress:"), key(specCol + u, "- action: Deny"), key(specCol + u + 2, "source:"));
  lines.push(...d.beforeNets);
  lines.push({ s: `${sp(netsCol)}${d.netsKey}`, tag: d.netsKey === "nets:" ? undefined : "nets-key-forms" });
  const listStart = lines.length;
  lines.push(...d.items);
  const listEnd = lines.length;
  if (!d.last) lines.push(...d.afterList);
  if (d.specVia === "alias") lines.push({ s: `${sp(resCol)}spec: *b`, tag: "alias-spec" });
  if (d.specVia === "merge") lines.push({ s: `${sp(resCol)}spec:`, tag: "merge-spec" }, { s: `${sp(resCol + u)}<<: *b`, tag: "merge-spec" });
  if (!d.last) lines.push(...d.afterDoc);

  // Pad to FAST_PATH_BYTES with a comment: after everything, at the top, in metadata, or just after the list.
  const at = d.last ? pick(rng, ["top", "meta"]) : pick(rng, ["bottom", "bottom", "top", "meta", "after-list"]);
  const padIndex = at === "bottom" ? lines.length : at === "top" ? 0 : at === "after-list" ? listEnd : listStart - 1 - d.beforeNets.length - (policy ? 4 : 0) - 1;
  const padLine: Line = { s: at === "meta" ? `${sp(resCol + u)}#` : "#", tag: `pad@${at}` };
  lines.splice(padIndex, 0, padLine);
  const join = () => (d.bom ? "\uFEFF" : "") + lines.map((l, i) => l.s + (i === lines.length - 1 ? (d.finalNewline ? (d.crlf || l.crlf ? "\r\n" : "\n") : "") : d.crlf || l.crlf ? "\r\n" : "\n")).join("");
  const short = FAST_PATH_BYTES + int(rng, 0, 3000) - join().length;
  if (short > 0) padLine.s += "x".repeat(short);
  const text = join();
  const layout = `${wrapper}/u${u}/nets@${netsCol}/items@${itemCol}/n${count}/pad@${at}${d.finalNewline ? "" : "/no-final-newline"}`;
  return { seed, kinds: chosen, layout, text, lines };
}

// ---------------------------------------------------------------------------------------------
// The comparison (describeResource as in fast-path-parity.test.ts, with long lists sampled)

/** Every path into a value; in an array longer than 64 only the indexes `keep` keeps. */
function paths(value: unknown, keep: ((i: number, xs: unknown[]) => boolean) | undefined, prefix: FieldPath = []): FieldPath[] {
  const out: FieldPath[] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => (!keep || value.length <= 64 || keep(i, value)) && out.push(...paths(v, keep, [...prefix, i])));
  else if (typeof value === "object" && value !== null) for (const [k, v] of Object.entries(value)) out.push(...paths(v, keep, [...prefix, k]));
  return out;
}

/** What a resource says about itself at `at`: its value's place, its key's place and its plain source. */
function describeAt(r: RawResource, at: FieldPath[]): unknown[] {
  return at.map((p) => [p.join("."), r.locate(p), r.locate(p, { key: true }), r.plainSource?.(p)]);
}

/** A plain item as the generator writes it (a long list's other items are sampled). */
const ORDINARY = /^(?:\d+\.\d+\.\d+\.\d+(?:\/\d+)?|[0-9a-f:]+(?:\/\d+)?)$/;

/** Items at the ends, near CUT_MIN_ITEMS, every unusual one and its neighbours, and a seeded sample. */
function sampler(seed: number): (i: number, xs: unknown[]) => boolean {
  let cache: { xs: unknown[]; keep: Set<number> } | undefined;
  return (i, xs) => {
    if (cache?.xs !== xs) {
      const rng = mulberry32Unit(seed ^ 0x5eed);
      const keep = new Set<number>([0, 1, 2, xs.length - 3, xs.length - 2, xs.length - 1]);
      for (let k = CUT_MIN_ITEMS - 3; k <= CUT_MIN_ITEMS + 3; k++) keep.add(k);
      xs.forEach((x, k) => {
        if (typeof x !== "string" || !ORDINARY.test(x)) for (let j = k - 1; j <= k + 1; j++) keep.add(j);
      });
      for (let t = 0; t < 24; t++) keep.add(Math.floor(rng() * xs.length));
      cache = { xs, keep };
    }
    return cache.keep.has(i);
  };
}


/** Lines around `line` (1-based) of the text, each as a JS string, and the mutated lines of the file with their numbers. */
function context(g: Generated, lineNos: number[]): string {
  const textLines = g.text.split("\n");
  const out: string[] = [];
  const wanted = new Set<number>();
  for (const l of lineNos) for (let k = l - 2; k <= l + 2; k++) if (k >= 1 && k <= textLines.length) wanted.add(k);
  for (const k of [...wanted].sort((a, b) => a - b)) out.push(`  ${String(k).padStart(5)}${lineNos.includes(k) ? ">" : " "} ${show(textLines[k - 1]!.slice(0, 160))}`);
  // Only pad lines that got their x's are tagged: g.lines and the text's lines agree (one per line).
  const tagged = g.lines.map((l, i) => [i + 1, l] as const).filter(([, l]) => l.tag && !l.tag.startsWith("pad@"));
  if (tagged.length) {
    out.push("  mutated lines:");
    for (const [k, l] of tagged.slice(0, 12)) out.push(`  ${String(k).padStart(5)}  ${show(l.s.slice(0, 160))} (${l.tag})`);
    if (tagged.length > 12) out.push(`  … and ${tagged.length - 12} more`);
  }
  return out.join("\n");
}


interface Outcome {
  /** parseFast cut the list (cutStats().cut went up and it answered). */
  cut: boolean;
  /** A cut was tried and found not to hold (cutStats().uncut went up). */
  uncut: boolean;
  /** parseFast handed the file to the positioned parser. */
  fallback: boolean;
  /** The first difference, described; undefined when both agree. */
  problem?: string;
}

function compare(g: Generated, full: boolean): Outcome {
  clearParseCache();
  const file = { path: "t.yaml", text: g.text };
  const slow = parseFile(file);
  const before = cutStats();
  const answered = parseFast(file);
  const after = cutStats();
  const fast = answered ?? parseFile(file);
  const outcome: Outcome = { cut: after.cut > before.cut && answered !== undefined, uncut: after.uncut > before.uncut, fallback: answered === undefined };
  const fail = (what: string, lineNos: number[]): Outcome => ({ ...outcome, problem: `${what}\n${context(g, lineNos)}` });

  const diag = (x: Diagnostic | undefined) => x && { code: x.code, severity: x.severity, message: x.message, line: x.line, column: x.column, file: x.file };
  const slowDiags = slow.diagnostics;
  const fastDiags = fast.diagnostics;
  for (let i = 0; i < Math.max(slowDiags.length, fastDiags.length); i++) {
    const a = diag(slowDiags[i]);
    const b = diag(fastDiags[i]);
    if (!Bun.deepEquals(a, b, true)) {
      return fail(`diagnostic #${i} of ${slowDiags.length}/${fastDiags.length} differs:\n  parseFile: ${show(a)}\n  parseFast: ${show(b)}`, [a?.line, b?.line].filter((l): l is number => typeof l === "number"));
    }
  }
  if (slow.resources.length !== fast.resources.length) return fail(`parseFile gives ${slow.resources.length} resources, parseFast ${fast.resources.length}`, [1]);
  const keep = full ? undefined : sampler(g.seed);
  for (let n = 0; n < slow.resources.length; n++) {
    const s = slow.resources[n]!;
    const f = fast.resources[n]!;
    const vd = firstValueDiff(s.value, f.value);
    if (vd) return fail(`resource #${n}: value at ${vd.path.join(".") || "(root)"} differs:\n  parseFile: ${show(vd.a)}\n  parseFast: ${show(vd.b)}`, [s.locate(vd.path).line]);
    const at = paths(s.value, keep);
    const ds = describeAt(s, at);
    const df = describeAt(f, at);
    for (let i = 0; i < ds.length; i++) {
      if (!Bun.deepEquals(ds[i], df[i], true)) {
        const [, sl, sk] = ds[i] as [string, { line: number }, { line: number }];
        const [, fl, fk] = df[i] as [string, { line: number }, { line: number }];
        return fail(`resource #${n}: [path, locate, locate key, plainSource] differs:\n  parseFile: ${show(ds[i])}\n  parseFast: ${show(df[i])}`, [...new Set([sl.line, sk.line, fl.line, fk.line])]);
      }
    }
  }
  return outcome;
}

// ---------------------------------------------------------------------------------------------
// The cases

/** Each kind alone, this many seeds each (base seed 1000 × kind index). */
const SOLO_SEEDS = 4;
/** Random combinations (seeds 1..COMBO). */
const COMBO = Number(process.env.CUT_FUZZ_CASES ?? 260);
/** Every FULL-th case compares every path of every item (~0.15 s a file); the others a sample. */
const FULL = Number(process.env.CUT_FUZZ_FULL_EVERY ?? 10);

interface Case {
  seed: number;
  kinds?: Kind[];
}
const CASES: Case[] = [
  ...KINDS.flatMap((k, ki) => Array.from({ length: SOLO_SEEDS }, (_, s): Case => ({ seed: 1000 * (ki + 1) + s, kinds: [k] }))),
  ...Array.from({ length: COMBO }, (_, i): Case => ({ seed: i + 1 })),
];

const stats = new Map<string, { cases: number; cut: number; uncut: number; fallback: number }>();
let total = { cases: 0, cut: 0, uncut: 0, fallback: 0 };
const count = (key: string, o: Outcome) => {
  const s = stats.get(key) ?? { cases: 0, cut: 0, uncut: 0, fallback: 0 };
  s.cases++;
  if (o.cut) s.cut++;
  if (o.uncut) s.uncut++;
  if (o.fallback) s.fallback++;
  stats.set(key, s);
};
const started = performance.now();

describe("a fuzzed big nets: list reads the same through parseFast (cut or not) as through parseFile", () => {
  CASES.forEach((c, index) => {
    // The kinds are known only after generating (combinations draw them from the seed): generate once for the name.
    const g = generate(c.seed, c.kinds);
    const full = index % FULL === 0;
    test(`seed=${c.seed} [${g.kinds.join(",") || "unmutated"}] ${g.layout}${full ? " (every path)" : ""}`, () => {
      const o = compare(g, full);
      total = { cases: total.cases + 1, cut: total.cut + +o.cut, uncut: total.uncut + +o.uncut, fallback: total.fallback + +o.fallback };
      for (const k of new Set(g.kinds.length ? g.kinds : ["unmutated"])) count(k, o);
      if (g.kinds.length === 1 || g.kinds.length === 0) count(`alone:${g.kinds[0] ?? "unmutated"}`, o);
      expect(o.problem).toBeUndefined();
    }, 30_000);
  });

  test("a good share of the fuzzed files were cut (a fuzz that never cuts proves nothing)", () => {
    expect(total.cases).toBe(CASES.length);
    expect(total.cut / total.cases).toBeGreaterThan(0.25);
    // Every kind that leaves the list as plain item lines, or only changes what is around it, cut at least once alone.
    for (const k of ["trailing-comment", "comments-outside", "extra-keys", "list-last", "quoted", "cidr-oddities", "second-doc", "dup-nets-before"]) expect([k, stats.get(`alone:${k}`)!.cut > 0]).toEqual([k, true]);
  });

  afterAll(() => {
    if (!process.env.CUT_FUZZ_REPORT) return;
    const rows = [...stats].sort(([a], [b]) => a.localeCompare(b)).map(([k, s]) => `${k.padEnd(30)} ${String(s.cases).padStart(5)} ${String(s.cut).padStart(5)} ${String(s.uncut).padStart(6)} ${String(s.fallback).padStart(9)}`);
    console.log(`cut-list fuzz: ${total.cases} files, ${total.cut} cut (${((100 * total.cut) / total.cases).toFixed(0)}%), ${total.uncut} cut tried and undone, ${total.fallback} handed to parseFile; ${((performance.now() - started) / 1000).toFixed(1)} s`);
    console.log(`${"kind".padEnd(30)} cases   cut  uncut  fallback\n${rows.join("\n")}`);
  });
});

// ---------------------------------------------------------------------------------------------
// What the fuzz found, minimised: each failed before its fix in src/config.

describe("divergences the fuzz found, minimised: parseFast reads each as parseFile does", () => {
  /** Padded past FAST_PATH_BYTES with a trailing comment, as a file loadConfig hands to the fast path. */
  const big = (text: string) => `${text}#${"x".repeat(Math.max(0, FAST_PATH_BYTES - text.length))}\n`;
  function read(text: string) {
    clearParseCache();
    const file = { path: "t.yaml", text: big(text) };
    const slow = parseFile(file);
    const before = cutStats().cut;
    const answered = parseFast(file);
    return { slow, fast: answered ?? parseFile(file), cut: cutStats().cut - before === 1 && answered !== undefined };
  }
  const diags = (ds: Diagnostic[]) => ds.map((d) => ({ code: d.code, line: d.line, column: d.column, message: d.message }));

  test("a merge key (<<) pulling in an anchored mapping with a list long enough to cut: not cut (the stub leaked into the value), read as parseFile reads it", () => {
    const text = `kind: GlobalNetworkSet\nb: &b\n  nets:\n${"    - 10.0.0.1\n".repeat(CUT_MIN_ITEMS)}spec: {<<: *b}\n`;
    const { slow, fast, cut } = read(text);
    expect(cut).toBe(false);
    // parseFile: b.nets is the 1024 items, spec is {"<<": {nets: [...]}}; parseFast: b.nets is ["hostwall-cut-list-0d3b7e"], spec.nets the items.
    const b = (r: RawResource) => (r.value as { b: { nets: unknown[] } }).b.nets;
    expect({ length: b(fast.resources[0]!).length, first: b(fast.resources[0]!)[0] }).toEqual({ length: b(slow.resources[0]!).length, first: b(slow.resources[0]!)[0] });
    expect(fast.resources.map((r) => r.value)).toEqual(slow.resources.map((r) => r.value));
  });

  test("a merge key (<<) is a key, as YAML 1.2 reads it (Bun merged it in: the field applied instead of UNKNOWN_FIELD)", () => {
    const { slow, fast } = read(`kind: GlobalNetworkSet\nmetadata: {name: s}\nspec: {<<: {nets: [10.0.0.0/8]}}\n`);
    // parseFile: spec {"<<": {nets: ["10.0.0.0/8"]}} (loadConfig: UNKNOWN_FIELD, no nets); parseFast: spec {nets: ["10.0.0.0/8"]} (enforced).
    expect(fast.resources.map((r) => r.value)).toEqual(slow.resources.map((r) => r.value));
  });

  test("a BOM right before a top-level sequence is a YAML_SYNTAX error (Bun read the entry)", () => {
    const { slow, fast } = read(`\uFEFF- kind: Tier\n`);
    // parseFile: YAML_SYNTAX 1:4 "Unexpected scalar at node end (UNEXPECTED_TOKEN) (under [0])" and 2 more, no resource; parseFast: none, [{kind: "Tier"}].
    expect(diags(fast.diagnostics)).toEqual(diags(slow.diagnostics));
    expect(fast.resources.map((r) => r.value)).toEqual(slow.resources.map((r) => r.value));
  });

  test("a null entry in a top-level sequence is a null resource (Bun's value kept it, flatten dropped it)", () => {
    const { slow, fast } = read(`- kind: Tier\n-\n`);
    // parseFile: [{kind: "Tier"}, null] (loadConfig: MISSING_FIELD "kind is required" at 2:2); parseFast: [{kind: "Tier"}].
    expect(fast.resources.map((r) => r.value)).toEqual(slow.resources.map((r) => r.value));
  });

  test("a YAML 1.1 plain longer than 32 characters is noted (AMBIGUOUS_SCALAR; maybeYaml11 stopped at 32)", () => {
    const { slow, fast } = read(`x: 0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_1\n`);
    // parseFile: AMBIGUOUS_SCALAR at 1:4 "plain 0_0_…_1 is the string … but the octal number 1 …"; parseFast: nothing (key-scan-cursor.ts maybeYaml11 stops at 32). A cut list item `- 1:00:00:00:00:00:00:00:00:00:00:00` loses its note the same way.
    expect(diags(fast.diagnostics)).toEqual(diags(slow.diagnostics));
  });

  test("an implicit key longer than 1024 characters is KEY_OVER_1024_CHARS (Bun read the key)", () => {
    const { slow, fast } = read(`${"a".repeat(1025)}: 1\n`);
    // parseFile: YAML_SYNTAX 1:1 "The : indicator must be at most 1024 chars after the start of an implicit block mapping key (KEY_OVER_1024_CHARS)"; parseFast: none, the key read.
    expect(diags(fast.diagnostics)).toEqual(diags(slow.diagnostics));
  });

  test("a quoted scalar over a CRLF line break folds to a space (Bun kept a line feed)", () => {
    const { slow, fast } = read(`a: '1\r\n 2'\r\n`);
    // parseFile: {a: "1 2"}; parseFast: {a: "1\n2"} (double quotes alike).
    expect(fast.resources.map((r) => r.value)).toEqual(slow.resources.map((r) => r.value));
  });

  test("a document end marker (...) before the first document: one resource, as parseFile reads it (Bun's documents and the key scan's no longer lined up)", () => {
    const { slow, fast } = read(`...\n---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\n`);
    expect(diags(fast.diagnostics)).toEqual(diags(slow.diagnostics));
    expect(fast.resources.map((r) => r.value)).toEqual(slow.resources.map((r) => r.value));
  });

  test("a lone carriage return does not end a comment (it did for Bun)", () => {
    const { slow, fast } = read(`# c\rx: 1\n`);
    // parseFile: no resource (all one comment); parseFast: [{x: 1}]. (`x: a\ry: b`: parseFile BLOCK_AS_IMPLICIT_KEY, parseFast {x: "a", y: "b"}.)
    expect(fast.resources.map((r) => r.value)).toEqual(slow.resources.map((r) => r.value));
  });
});
