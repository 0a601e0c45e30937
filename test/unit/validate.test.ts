/**
 * Table-driven validation tests: YAML in, exact diagnostics out (code, line, column, severity,
 * and the path or hint word where it matters). The tables live in fixtures/validate/, one
 * file per area; this file runs them, checks the model defaults some cases promise, pins the
 * known validator bugs as todo tests, and ends with a check that every diagnostic code the
 * loader can emit is exercised by at least one row.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { formatDiagnostic, sortDiagnostics, type Diagnostic } from "../../src/diagnostics/diagnostic.ts";
import { loadConfig } from "../../src/validate/load.ts";
import type { Case, Want } from "./fixtures/validate/case.ts";
import { endpointCases } from "./fixtures/validate/endpoints.ts";
import { envelopeCases } from "./fixtures/validate/envelope.ts";
import { constraintCases } from "./fixtures/validate/constraints.ts";
import { felixCases } from "./fixtures/validate/felix.ts";
import { fileCases } from "./fixtures/validate/files.ts";
import { hintCases } from "./fixtures/validate/hints.ts";
import { nameCases } from "./fixtures/validate/names.ts";
import { policyCases } from "./fixtures/validate/policies.ts";
import { portCases } from "./fixtures/validate/ports.ts";
import { ruleCases } from "./fixtures/validate/rules.ts";
import { suggestionCases } from "./fixtures/validate/suggestions.ts";
import { tierCases } from "./fixtures/validate/tiers.ts";
import { fixedBugs, knownBugs } from "./fixtures/validate/todo.ts";
import { validCases } from "./fixtures/validate/valid.ts";

const TABLE: Case[] = [
  ...envelopeCases,
  ...nameCases,
  ...endpointCases,
  ...policyCases,
  ...tierCases,
  ...ruleCases,
  ...portCases,
  ...felixCases,
  ...fileCases,
  ...hintCases,
  ...constraintCases,
  ...suggestionCases,
  ...validCases,
];

function filesOf(c: Case): { path: string; text: string }[] {
  return typeof c.yaml === "string" ? [{ path: "t.yaml", text: c.yaml }] : c.yaml;
}

/** Projects actual diagnostics onto exactly the fields the expected ones assert. */
function compare(c: Case, actual: readonly Diagnostic[]): { got: object[]; want: object[] } {
  const firstFile = filesOf(c)[0]!.path;
  const wants = sortDiagnostics(c.want.map((w) => ({ ...w, file: w.file ?? firstFile, message: "" }))) as (Want & Diagnostic)[];
  const shape = (d: Diagnostic, w: Want | undefined, message?: string) => ({
    code: d.code,
    file: d.file,
    line: d.line,
    column: d.column,
    severity: d.severity,
    ...(w?.path !== undefined ? { path: d.path } : {}),
    ...(w?.hint !== undefined ? { hint: message === undefined || message.includes(w.hint) ? w.hint : message } : {}),
  });
  return {
    got: actual.map((d, i) => shape(d, wants[i], d.message)),
    want: wants.map((w) => shape(w, w)),
  };
}

function numbered(c: Case): string {
  return filesOf(c)
    .map((f) => `== ${f.path}\n${f.text.split("\n").map((l, i) => `${String(i + 1).padStart(4)} | ${l}`).join("\n")}`)
    .join("\n");
}

function check(c: Case): void {
  const { model, diagnostics } = loadConfig(filesOf(c), { node: c.node ?? "node1", refused: c.refused });
  const { got, want } = compare(c, diagnostics);
  if (!Bun.deepEquals(got, want)) {
    console.error(`${c.name}\n${numbered(c)}\n-- actual:\n${diagnostics.map(formatDiagnostic).join("\n")}`);
  }
  expect(got).toEqual(want);
  c.model?.(model);
}

describe("validation table", () => {
  for (const c of TABLE) test(c.name, () => check(c));

  test("case names are unique", () => {
    const names = TABLE.map((c) => c.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });
});

describe("known validator bugs", () => {
  for (const c of knownBugs) test.todo(`${c.name} (${c.why})`, () => check(c));
  for (const c of fixedBugs) test(`fixed: ${c.name}`, () => check(c));
});

/**
 * Codes that cannot appear in this table, and why. Each must come only from the file named,
 * so this list cannot hide a validator code.
 */
const OUTSIDE_TABLE: Record<string, { file: string; why: string }> = {
  READ_ERROR: { file: "src/source/read-dir.ts", why: "file-system errors while reading the config dir; loadConfig takes file contents" },
  INSECURE_PERMISSIONS: { file: "src/source/read-dir.ts", why: "owner and mode checks on real files; loadConfig takes file contents" },
  FILE_TOO_LARGE: { file: "src/source/read-dir.ts", why: "stat-based size limit (256 MiB) before reading; loadConfig takes file contents" },
  INSECURE_PATH: { file: "src/source/read-dir.ts", why: "owner and mode of the directories on the way to the config dir and symlink targets" },
  DIRECTORY_LOOP: { file: "src/source/read-dir.ts", why: "a directory reached twice while walking (symlink loops)" },
  TOO_MANY_FILES: { file: "src/source/read-dir.ts", why: "cap on files and directories walked (10,000)" },
  CONFIG_TOO_LARGE: { file: "src/source/read-dir.ts", why: "cap on bytes read across all files (512 MiB)" },
  YAML_TOO_DEEP: { file: "src/validate/load.ts", why: "a nesting guard before parsing; test/unit/parse-limits.test.ts covers it with generated deep files" },
};

/** Quoted UPPER_SNAKE strings that are not hostwall codes: names from the yaml library. */
const NOT_CODES: Record<string, { file: string; why: string }> = {
  BLOCK_AS_IMPLICIT_KEY: { file: "src/config/parse.ts", why: "a yaml library error code, matched to add a selector hint to YAML_SYNTAX" },
};

const ROOT = join(import.meta.dir, "../..");

/** Every quoted UPPER_SNAKE string in the loader (src/source/read-dir.ts, src/config, src/model, src/validate), with the files it occurs in. */
function emittableCodes(): Map<string, string[]> {
  const codes = new Map<string, string[]>();
  const loader = ["src/config", "src/model", "src/validate"].flatMap((dir) => readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" }).filter((n) => n.endsWith(".ts")).sort().map((name) => `${dir}/${name}`));
  for (const file of ["src/source/read-dir.ts", ...loader]) {
    for (const m of readFileSync(join(ROOT, file), "utf8").matchAll(/"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"/g)) {
      const files = codes.get(m[1]!) ?? [];
      if (!files.includes(file)) files.push(file);
      codes.set(m[1]!, files);
    }
  }
  return codes;
}

describe("coverage", () => {
  const emitted = emittableCodes();
  const tabled = new Set<string>(TABLE.flatMap((c) => c.want.map((w) => w.code)));

  test("the table has at least 200 cases (issue #3)", () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(200);
  });

  test("every code the loader can emit appears in an expected result", () => {
    const missing = [...emitted.keys()].filter((code) => !tabled.has(code) && !(code in OUTSIDE_TABLE) && !(code in NOT_CODES)).sort();
    expect(missing).toEqual([]);
  });

  test("codes left out of the table come only from the file that explains why", () => {
    for (const [code, { file }] of Object.entries(OUTSIDE_TABLE)) {
      expect({ code, files: emitted.get(code) }).toEqual({ code, files: [file] });
      expect(tabled.has(code)).toBe(false);
    }
  });

  test("names that are not codes come only from the file that explains why", () => {
    for (const [code, { file }] of Object.entries(NOT_CODES)) expect({ code, files: emitted.get(code) }).toEqual({ code, files: [file] });
  });

  test("every code in the table is one the source can emit", () => {
    expect([...tabled].filter((code) => !emitted.has(code)).sort()).toEqual([]);
  });

  test("both severities and valid inputs are exercised", () => {
    const severities = new Set(TABLE.flatMap((c) => c.want.map((w) => w.severity)));
    expect([...severities].sort()).toEqual(["error", "warning"]);
    expect(TABLE.filter((c) => c.want.length === 0).length).toBeGreaterThanOrEqual(20);
  });
});
