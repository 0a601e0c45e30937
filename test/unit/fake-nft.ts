/**
 * A fake kernel for unit tests, behind the NftRunner interface. It checks what it is given
 * the way the kernel would, only stricter: each script must be in the exact grammar render.ts
 * writes (test/support/nft-script.ts: only hostwall's tables, blocks balanced, every jump,
 * goto and @set resolving in its table), and it runs as one transaction over the tables it
 * holds (`delete table` of a missing table fails, a failure changes nothing). Every call is
 * recorded, checks and applies can be made to fail, and the tables are listed the way
 * `NftRunner.list` does, with handles and counters a test can change.
 *
 * With HOSTWALL_FAKE_NFT_CHECK=1 (root, nft and unshare needed) every script the fake accepts
 * is also given to the real `nft -c` in a throwaway namespace, and a disagreement throws.
 */
import { ruleDigest, type ListedTable, type NftListing, type NftResult, type NftRunner } from "../../src/nft/runner.ts";
import { realNftCheck } from "../support/nft-check.ts";
import { formatProblems, parseScript, type ScriptProblem, type Statement } from "../support/nft-script.ts";

/** A table as the fake kernel holds it: the listing plus the table's comment. */
export type FakeTable = ListedTable & { comment?: string };

/** One call of the runner, in order. */
export type NftCall =
  | { op: "check"; script: string; ok: boolean; stderr: string }
  | { op: "apply"; script: string; ok: boolean; stderr: string }
  | { op: "list" | "tables"; ok: boolean };

/**
 * The tables a script defines, the way the kernel would list them right after applying it
 * to an empty ruleset. Throws on a script outside the renderer's grammar.
 */
export function structureOf(script: string, nextHandle: () => number): FakeTable[] {
  const parsed = parseScript(script);
  if (!parsed.ok) throw new Error(`not a script render.ts writes:\n${formatProblems(parsed.problems)}`);
  const r = execute([], parsed.statements, nextHandle);
  if (!r.ok) throw new Error(r.stderr);
  return r.tables;
}

/** Runs the statements as one transaction over a copy of `tables`; the original is never changed. */
function execute(tables: readonly FakeTable[], statements: readonly Statement[], nextHandle: () => number): { ok: true; tables: FakeTable[] } | { ok: false; stderr: string } {
  const out = structuredClone(tables) as FakeTable[];
  const find = (family: string, name: string) => out.findIndex((t) => t.family === family && t.name === name);
  const fail = (line: number, message: string) => ({ ok: false as const, stderr: `/dev/stdin:${line}:1-1: Error: Could not process rule: ${message}\n` });
  for (const s of statements) {
    const at = find(s.family, s.name);
    if (s.kind === "add") {
      if (at < 0) out.push({ family: s.family, name: s.name, handle: nextHandle(), sets: [], chains: [] });
    } else if (s.kind === "delete") {
      if (at < 0) return fail(s.line, "No such file or directory");
      out.splice(at, 1);
    } else {
      let table = out[at];
      if (!table) out.push((table = { family: s.family, name: s.name, handle: nextHandle(), sets: [], chains: [] }));
      if (s.comment !== undefined) table.comment = s.comment;
      for (const set of s.sets) if (!table.sets.includes(set.name)) table.sets.push(set.name);
      for (const c of s.chains) {
        let chain = table.chains.find((x) => x.name === c.name);
        if (chain && chain.hook !== c.hook?.hook) return fail(c.line, "Device or resource busy");
        if (!chain) table.chains.push((chain = { name: c.name, handle: nextHandle(), ...(c.hook ? { hook: c.hook.hook } : {}), rules: [] }));
        // The digest stands for what the rule does, as runner.ts derives it from a real listing.
        for (const r of c.rules) chain.rules.push({ handle: nextHandle(), ...(r.comment !== undefined ? { comment: r.comment } : {}), ...(r.counter ? { counter: { packets: 0, bytes: 0 } } : {}), digest: ruleDigest([{ rule: r.text }]) });
      }
    }
  }
  return { ok: true, tables: out };
}

/** A kernel that holds tables, and a runner on top of it that checks and records everything. */
export function fakeKernel() {
  let handle = 1;
  const nextHandle = () => handle++;
  const realCheck = process.env.HOSTWALL_FAKE_NFT_CHECK === "1";
  const kernel = {
    /** The tables in the kernel, hostwall's and any other a test puts there. */
    tables: [] as FakeTable[],
    /** Every script the kernel applied (not checks, not refused applies). */
    applied: [] as string[],
    /** Every call of the runner, in order. */
    calls: [] as NftCall[],
    /** Scripts refused for being outside the renderer's grammar (a correct agent never sends one). */
    malformed: [] as { script: string; problems: ScriptProblem[] }[],
    /** Dry runs (`nft -c`) asked for. */
    checks: 0,
    /** Make the next check fail with this stderr. */
    failCheck: undefined as string | undefined,
    /** Make the next apply (not check) fail with this stderr; the tables stay as they are. */
    failApply: undefined as string | undefined,
    /** Make list() and tables() fail with this error. */
    listError: undefined as string | undefined,
    /** Adds to the counters of every rule with this comment. */
    count(comment: string, packets: number, bytes: number): void {
      for (const t of kernel.tables) for (const c of t.chains) for (const r of c.rules) if (r.comment === comment && r.counter) r.counter = { packets: r.counter.packets + packets, bytes: r.counter.bytes + bytes };
    },
    /** Deletes the tables of a family (an outside `nft delete table`). */
    drop(family: string): void {
      kernel.tables = kernel.tables.filter((t) => t.family !== family);
    },
    /** Calls of these kinds, in order. */
    callsOf<K extends NftCall["op"]>(...ops: K[]): Extract<NftCall, { op: K }>[] {
      return kernel.calls.filter((c): c is Extract<NftCall, { op: K }> => (ops as string[]).includes(c.op));
    },
  };
  const transact = async (script: string, check: boolean): Promise<NftResult> => {
    const op = check ? "check" : "apply";
    const done = (ok: boolean, stderr: string): NftResult => {
      kernel.calls.push({ op, script, ok, stderr });
      return { ok, stdout: "", stderr };
    };
    if (check) kernel.checks++;
    const parsed = parseScript(script);
    if (!parsed.ok) {
      kernel.malformed.push({ script, problems: parsed.problems });
      return done(false, formatProblems(parsed.problems));
    }
    if (realCheck) {
      const real = await realNftCheck(script);
      if (!real.ok) throw new Error(`fake nft accepted a script that nft -c refuses:\n${real.stderr}`);
    }
    const injected = check ? kernel.failCheck : kernel.failApply;
    if (check) kernel.failCheck = undefined;
    else kernel.failApply = undefined;
    if (injected !== undefined) return done(false, injected);
    const r = execute(kernel.tables, parsed.statements, nextHandle);
    if (!r.ok) return done(false, r.stderr);
    if (!check) {
      kernel.tables = r.tables;
      kernel.applied.push(script);
    }
    return done(true, "");
  };
  const runner: NftRunner = {
    apply: (script, opts) => transact(script, opts?.check ?? false),
    async list(): Promise<NftListing> {
      kernel.calls.push({ op: "list", ok: !kernel.listError });
      if (kernel.listError) return { ok: false, error: kernel.listError };
      return { ok: true, tables: structuredClone(kernel.tables).map(({ comment: _comment, ...t }) => t) };
    },
    async tables() {
      kernel.calls.push({ op: "tables", ok: !kernel.listError });
      if (kernel.listError) return { ok: false as const, error: kernel.listError };
      return { ok: true as const, tables: new Map(kernel.tables.map((t) => [`${t.family} ${t.name}`, t.comment])) };
    },
  };
  return { kernel, runner };
}
