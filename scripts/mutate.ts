/**
 * Mutation check (`npm run mutate`, run by .ci/run after the tests): does the fast suite
 * notice when the compiler, the evaluator or the model code they share is wrong? Each
 * mutation below is a deliberate bug (a flipped verdict, a dropped rule, swapped priorities,
 * a selector term ignored, ...). One at a time, in a copy of the repo (never the working
 * tree: src/, test/, scripts/, rules/, package.json, tsconfig.json, node_modules linked), the
 * mutation is applied and the fast pure tests run (unit, golden, the differential generator's
 * checks; no kernel, no binary). The suite must fail: the mutation is killed. A table of
 * mutations, the test files that killed each, and the kill rate are printed; any survivor,
 * a failing unmutated baseline, or a mutation whose text no longer occurs in its file exits 1.
 *
 *   bun run scripts/mutate.ts [--only id,id] [--head] [--list]
 *
 * --head copies the last commit (git archive HEAD) instead of the working tree: for a shared
 * tree where someone else's unfinished edit fails the baseline.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseJunit } from "./skips.ts";

interface Mutation {
  id: string;
  /** The bug, as a reviewer would describe it. */
  what: string;
  /** Repo-relative file. */
  file: string;
  /** Text that must occur exactly once in the file, and what replaces it. */
  find: string;
  replace: string;
}

export const MUTATIONS: Mutation[] = [
  { id: "compile-verdict", what: "compiler: the default-allow profile drops instead of accepting", file: "src/nft/sequences.ts", find: 'rule([counter(), verdict("accept")], "profile projectcalico-default-allow"', replace: 'rule([counter(), verdict("drop")], "profile projectcalico-default-allow"' },
  { id: "compile-deny", what: "compiler: a Deny rule accepts (its drop-summary chain, on by default)", file: "src/nft/table-builder.ts", find: "setUpdate(t.dropSet(origin, family), remote), verdict(ctx.deny)", replace: 'setUpdate(t.dropSet(origin, family), remote), verdict("accept")' },
  { id: "compile-drop-rule", what: "compiler: the last rule of every policy and profile is not rendered", file: "src/nft/table-builder.ts", find: "export function compileRules(t: TableBuilder, chain: string, rules: Rule[], owner: RuleOwner, ctx: MatchContext): NftRule[] {", replace: "export function compileRules(t: TableBuilder, chain: string, rules: Rule[], owner: RuleOwner, ctx: MatchContext): NftRule[] {\n  rules = rules.slice(0, -1);" },
  { id: "priority-swap", what: "compiler: the raw chains get the mangle priority (-150 for -300)", file: "src/nft/names.ts", find: "export const PRIORITY_RAW = -300;", replace: "export const PRIORITY_RAW = -150;" },
  { id: "policy-order", what: "resolver: policies of a tier in reverse order", file: "src/resolve/resolve.ts", find: "if (oa !== ob) return oa < ob ? -1 : 1;", replace: "if (oa !== ob) return oa < ob ? 1 : -1;" },
  { id: "selector-and", what: "selectors: `a && b` looks at `a` only", file: "src/model/selector.ts", find: "for (const operand of s.operands) if (!evaluate(operand, lookup)) return false;", replace: "for (const operand of s.operands.slice(0, 1)) if (!evaluate(operand, lookup)) return false;" },
  { id: "cidr-normalise", what: "CIDRs: normalising a lone IPv4 prefix widens it by one bit", file: "src/model/cidr-normalize.ts", find: "    emit(out, 4, single, s);", replace: "    emit(out, 4, single - 1, s);" },
  { id: "evaluator-verdict", what: "evaluator: an Allow rule of a tier denies", file: "src/explain/walk.ts", find: 'if (rule.action === "Allow") return { outcome: "allow", reason };', replace: 'if (rule.action === "Allow") return { outcome: "deny", reason };' },
  { id: "mark-bit", what: "compiler: the ACCEPT mark bit moves (0x10000 to 0x80000)", file: "src/nft/names.ts", find: "export const MARK_ACCEPT = 0x10000;", replace: "export const MARK_ACCEPT = 0x80000;" },
  { id: "failsafe-empty", what: "model: Calico's default inbound failsafe ports are empty", file: "src/validate/felix.ts", find: "failsafeInbound: [tcp(22), udp(68), ...CONTROL_PLANE.map(tcp)],", replace: "failsafeInbound: []," },
];

/** The fast, pure test files: the compiler, the evaluator, the model; nothing that needs root or dist/hostwall. */
export const FAST_TESTS = [
  "test/golden",
  "test/golden-plan",
  "test/unit/evaluate.test.ts",
  "test/unit/selector.test.ts",
  "test/unit/cidr.test.ts",
  "test/unit/validate.test.ts",
  "test/unit/ordering.test.ts",
  "test/unit/injection.test.ts",
  "test/unit/guides.test.ts",
  "test/unit/hostile-values.test.ts",
  "test/kernel/differential-gen.test.ts",
];

const REPO = join(import.meta.dir, "..");
const COPY = ["src", "test", "scripts", "rules", "package.json", "tsconfig.json"];
const TIMEOUT_MS = 120_000;

interface RunResult {
  code: number | null;
  ms: number;
  pass: number;
  failedFiles: string[];
  timedOut: boolean;
}

function runFast(dir: string): RunResult {
  const junit = join(dir, ".mutate-junit.xml");
  rmSync(junit, { force: true });
  const started = performance.now();
  const r = Bun.spawnSync([process.execPath, "test", "--reporter=junit", `--reporter-outfile=${junit}`, ...FAST_TESTS], { cwd: dir, stdout: "pipe", stderr: "pipe", timeout: TIMEOUT_MS, env: { ...process.env, CI: "", UPDATE_GOLDEN: "" } });
  const cases = existsSync(junit) ? parseJunit(readFileSync(junit, "utf8")) : [];
  return {
    code: r.exitCode,
    ms: performance.now() - started,
    pass: cases.filter((c) => c.status === "pass").length,
    failedFiles: [...new Set(cases.filter((c) => c.status === "fail").map((c) => c.file))].sort(),
    timedOut: r.exitCode === null,
  };
}

function main(): number {
  const args = process.argv.slice(2);
  if (args.includes("--list")) {
    for (const m of MUTATIONS) console.log(`${m.id.padEnd(18)} ${m.file.padEnd(24)} ${m.what}`);
    return 0;
  }
  const onlyAt = args.indexOf("--only");
  const only = onlyAt >= 0 ? new Set((args[onlyAt + 1] ?? "").split(",")) : undefined;
  const selected = MUTATIONS.filter((m) => !only || only.has(m.id));
  if (only && selected.length !== only.size) {
    console.error(`unknown mutation id in --only; known: ${MUTATIONS.map((m) => m.id).join(", ")}`);
    return 2;
  }

  const dir = mkdtempSync(join(tmpdir(), "hw-mutate-"));
  try {
    if (args.includes("--head")) {
      const archive = Bun.spawnSync(["git", "-C", REPO, "archive", "--format=tar", "HEAD", ...COPY], { stdout: "pipe", stderr: "pipe" });
      const untar = Bun.spawnSync(["tar", "-x", "-C", dir], { stdin: archive.stdout, stdout: "pipe", stderr: "pipe" });
      if (archive.exitCode !== 0 || untar.exitCode !== 0) throw new Error(`git archive HEAD: ${archive.stderr.toString()}${untar.stderr.toString()}`);
    } else {
      for (const entry of COPY) cpSync(join(REPO, entry), join(dir, entry), { recursive: true });
    }
    symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
    const started = performance.now();

    const baseline = runFast(dir);
    console.log(`baseline (no mutation): exit ${baseline.code}, ${baseline.pass} passed, ${(baseline.ms / 1000).toFixed(1)} s`);
    if (baseline.code !== 0) {
      console.error(`the unmutated fast suite fails (${baseline.failedFiles.join(", ") || "see bun test output"}): fix that first; no mutation can be judged`);
      return 1;
    }

    const rows: string[][] = [];
    let killed = 0;
    let broken = 0;
    for (const m of selected) {
      const path = join(dir, m.file);
      const original = readFileSync(path, "utf8");
      const count = original.split(m.find).length - 1;
      if (count !== 1) {
        broken++;
        rows.push([m.id, m.file, `STALE: text found ${count} times`, "", ""]);
        continue;
      }
      writeFileSync(path, original.replace(m.find, m.replace));
      let r: RunResult;
      try {
        r = runFast(dir);
      } finally {
        writeFileSync(path, original);
      }
      const dead = r.code !== 0;
      if (dead) killed++;
      const by = r.timedOut ? "timeout" : r.failedFiles.length ? r.failedFiles.map((f) => f.replace(/^test\//, "")).join(", ") : dead ? "(load error)" : "-";
      rows.push([m.id, m.file, dead ? "killed" : "SURVIVED", `${(r.ms / 1000).toFixed(1)} s`, by]);
    }

    const head = ["mutation", "file", "result", "time", "killed by (failing test files)"];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
    console.log(["", line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n"));
    for (const m of selected) console.log(`  ${m.id}: ${m.what}`);
    const judged = selected.length - broken;
    console.log(`\nkill rate: ${killed}/${judged} (${judged ? Math.round((100 * killed) / judged) : 0}%)${broken ? `; ${broken} stale mutation(s): update scripts/mutate.ts` : ""}; ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return killed === judged && broken === 0 ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) process.exit(main());
