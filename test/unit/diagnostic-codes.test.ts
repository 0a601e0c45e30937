/**
 * The diagnostic code table (src/diagnostics/codes.ts) against the source: every code in it is
 * reported somewhere, every code-like string the source quotes is in it (or a known non-code),
 * every meaning is one line; and diagnostics sort by code point, the same on every machine.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DIAGNOSTIC_CODES } from "../../src/diagnostics/codes.ts";
import { sortDiagnostics, type Diagnostic } from "../../src/diagnostics/diagnostic.ts";
import { compareCodePoints } from "../../src/order.ts";

const SRC = join(import.meta.dir, "../../src");

/** Quoted UPPER_SNAKE strings in src/ that are not diagnostic codes, and where they come from. */
const NOT_CODES: Record<string, string> = {
  BLOCK_AS_IMPLICIT_KEY: "a yaml library error code (config/parse.ts)",
  BUN_BE_BUN: "an environment variable the binary refuses (cli/environment.ts)",
  BUN_CRASH_REPORT_URL: "an environment variable the binary refuses (cli/environment.ts)",
  BUN_INSPECT: "an environment variable the binary refuses (cli/environment.ts)",
  BUN_OPTIONS: "an environment variable the binary refuses (cli/environment.ts)",
  LD_AUDIT: "an environment variable the binary refuses (cli/environment.ts)",
  LD_LIBRARY_PATH: "an environment variable the binary refuses (cli/environment.ts)",
  LD_PRELOAD: "an environment variable the binary refuses (cli/environment.ts)",
  NODE_OPTIONS: "an environment variable the binary refuses (cli/environment.ts)",
  HOSTWALL_PER_LENGTH_THRESHOLD: "a test knob: the member count from which a selector set uses per-length sets (nft/names.ts)",
  HOSTWALL_PER_LENGTH_RARE: "a test knob: lengths with fewer members go to the interval set (nft/names.ts)",
  ETCD_CA_CERT_FILE: "calicoctl's etcd connection variable (cli/datastore-args.ts)",
  ETCD_CERT_FILE: "calicoctl's etcd connection variable (cli/datastore-args.ts)",
  ETCD_ENDPOINTS: "calicoctl's etcd connection variable (cli/datastore-args.ts)",
  ETCD_KEY_FILE: "calicoctl's etcd connection variable (cli/datastore-args.ts)",
  ETCD_PASSWORD: "calicoctl's etcd connection variable (cli/datastore-args.ts)",
  ETCD_USERNAME: "calicoctl's etcd connection variable (cli/datastore-args.ts)",
};

/** Quoted UPPER_SNAKE strings of every src/ module but the table itself. */
function quotedInSource(): Set<string> {
  const files = readdirSync(SRC, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts") && f !== join("diagnostics", "codes.ts"));
  const found = new Set<string>();
  for (const f of files) for (const m of readFileSync(join(SRC, f), "utf8").matchAll(/"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"/g)) found.add(m[1]!);
  return found;
}

describe("diagnostic codes", () => {
  const codes = Object.keys(DIAGNOSTIC_CODES);
  const quoted = quotedInSource();

  test("every code in the table is reported somewhere in src/", () => {
    expect(codes.filter((c) => !quoted.has(c))).toEqual([]);
  });

  test("every code-like string in src/ is in the table or a known non-code", () => {
    expect([...quoted].filter((q) => !(q in DIAGNOSTIC_CODES) && !(q in NOT_CODES)).sort()).toEqual([]);
    expect(Object.keys(NOT_CODES).filter((n) => !quoted.has(n) || n in DIAGNOSTIC_CODES)).toEqual([]);
  });

  test("every meaning is one short line", () => {
    const bad = Object.entries(DIAGNOSTIC_CODES).filter(([, meaning]) => meaning.length < 10 || meaning.length > 120 || /[\n.]$/.test(meaning) || meaning.includes("\n"));
    expect(bad).toEqual([]);
  });
});

describe("diagnostic order", () => {
  const d = (file: string | undefined, line: number, column: number, code: Diagnostic["code"]): Diagnostic => ({ file, line, column, code, severity: "error", message: "" });

  test("file, line, column, then code; strings by code point, not by locale", () => {
    const sorted = sortDiagnostics([
      d("a.yaml", 1, 1, "WRONG_TYPE"),
      d("B.yaml", 2, 1, "WRONG_TYPE"),
      d("a.yaml", 1, 1, "INVALID_PORT_NAME"),
      d("a.yaml", 1, 1, "INVALID_PORT"),
      d("a.yaml", 1, 2, "AMBIGUOUS_SCALAR"),
      d(undefined, 0, 0, "REFERENCES_UNCHECKED"),
      d("é.yaml", 1, 1, "WRONG_TYPE"),
      d("z.yaml", 1, 1, "WRONG_TYPE"),
      d("a.yaml", 10, 1, "AMBIGUOUS_SCALAR"),
    ]);
    expect(sorted.map((x) => `${x.file ?? ""}:${x.line}:${x.column}:${x.code}`)).toEqual([
      ":0:0:REFERENCES_UNCHECKED",
      "B.yaml:2:1:WRONG_TYPE",
      "a.yaml:1:1:INVALID_PORT",
      "a.yaml:1:1:INVALID_PORT_NAME",
      "a.yaml:1:1:WRONG_TYPE",
      "a.yaml:1:2:AMBIGUOUS_SCALAR",
      "a.yaml:10:1:AMBIGUOUS_SCALAR",
      "z.yaml:1:1:WRONG_TYPE",
      "é.yaml:1:1:WRONG_TYPE",
    ]);
  });

  test("characters above U+FFFF sort after U+E000-U+FFFF, as their code points do", () => {
    const pairs: [string, string][] = [
      ["\uff5e", "\u{1f600}"],
      ["\ue000", "\u{10000}"],
      ["a", "ab"],
      ["Z", "a"],
      ["\u{1f600}", "\u{1f601}"],
    ];
    for (const [lo, hi] of pairs) {
      expect([lo, hi, compareCodePoints(lo, hi) < 0]).toEqual([lo, hi, true]);
      expect([hi, lo, compareCodePoints(hi, lo) > 0]).toEqual([hi, lo, true]);
      expect(lo.codePointAt(0)! <= hi.codePointAt(0)!).toBe(true);
    }
    expect(compareCodePoints("same", "same")).toBe(0);
  });
});
