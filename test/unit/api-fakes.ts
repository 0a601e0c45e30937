/**
 * Fakes for the agent's I/O in unit tests: a fake kernel that "applies" the rendered nft
 * script (reading its structure: tables, sets, chains, rules with comments and counters) and
 * lists it the way `NftRunner.list` does, with handles and counters a test can change.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Agent, type BootPolicy } from "../../src/agent/agent.ts";
import type { LastGood, StateStore } from "../../src/agent/state.ts";
import { memoryLogger } from "../../src/agent/log.ts";
import type { SourceFile } from "../../src/config/parse.ts";
import type { Cidr } from "../../src/model/cidr.ts";
import type { ListedTable, NftListing, NftResult, NftRunner } from "../../src/nft/runner.ts";

const RULES = join(import.meta.dir, "../../rules");
export const exampleFiles = (): SourceFile[] => readdirSync(RULES).map((f) => ({ path: join("/etc/hostwall", f), text: readFileSync(join(RULES, f), "utf8") }));

/**
 * Reads the structure of a script as render.ts writes it: `table F N {` opens a definition,
 * `\tset`/`\tchain` blocks inside, one rule per line. Handles come from `nextHandle`.
 */
export function structureOf(script: string, nextHandle: () => number): (ListedTable & { comment?: string })[] {
  const tables: (ListedTable & { comment?: string })[] = [];
  let table: ListedTable | undefined;
  let block: "set" | "chain" | undefined;
  for (const line of script.split("\n")) {
    const t = /^table (\w+) (\S+) \{(?: comment "([^"]*)";)?$/.exec(line);
    if (t) {
      table = { family: t[1]!, name: t[2]!, handle: nextHandle(), sets: [], chains: [], ...(t[3] !== undefined ? { comment: t[3] } : {}) };
      tables.push(table);
      continue;
    }
    if (!table) continue;
    const s = /^\tset (\S+) \{$/.exec(line);
    const c = /^\tchain (\S+) \{$/.exec(line);
    if (s) {
      table.sets.push(s[1]!);
      block = "set";
    } else if (c) {
      table.chains.push({ name: c[1]!, handle: nextHandle(), rules: [] });
      block = "chain";
    } else if (line === "\t}") {
      block = undefined;
    } else if (line === "}") {
      table = undefined;
    } else if (block === "chain") {
      const chain = table.chains.at(-1)!;
      const hook = /^\t\ttype filter hook (\w+)/.exec(line);
      if (hook) chain.hook = hook[1];
      else {
        const comment = / comment "([^"]*)"$/.exec(line)?.[1];
        chain.rules.push({ handle: nextHandle(), ...(comment !== undefined ? { comment } : {}), ...(/\bcounter\b/.test(line) ? { counter: { packets: 0, bytes: 0 } } : {}) });
      }
    }
  }
  return tables;
}

/** A script without the generation stamps on its table lines (render.ts stampScript). */
export const unstamped = (script: string) => script.replace(/ comment "hostwall generation \d+ hash [0-9a-f]+";$/gm, "");

/** A kernel that holds the tables of the last applied script, and a runner on top of it. */
export function fakeKernel() {
  let handle = 1;
  const kernel = {
    tables: [] as (ListedTable & { comment?: string })[],
    /** Every script applied (not checks). */
    applied: [] as string[],
    checks: 0,
    /** Make the next check fail with this stderr. */
    failCheck: undefined as string | undefined,
    /** Make list() fail with this error. */
    listError: undefined as string | undefined,
    /** Adds to the counters of every rule with this comment. */
    count(comment: string, packets: number, bytes: number): void {
      for (const t of kernel.tables) for (const c of t.chains) for (const r of c.rules) if (r.comment === comment && r.counter) r.counter = { packets: r.counter.packets + packets, bytes: r.counter.bytes + bytes };
    },
    drop(family: string): void {
      kernel.tables = kernel.tables.filter((t) => t.family !== family);
    },
  };
  const runner: NftRunner = {
    async apply(script, opts) {
      if (opts?.check) {
        kernel.checks++;
        const stderr = kernel.failCheck;
        kernel.failCheck = undefined;
        return { ok: stderr === undefined, stdout: "", stderr: stderr ?? "" } satisfies NftResult;
      }
      kernel.applied.push(script);
      const fresh = structureOf(script, () => handle++);
      kernel.tables = [...kernel.tables.filter((t) => !fresh.some((f) => f.family === t.family && f.name === t.name)), ...fresh];
      return { ok: true, stdout: "", stderr: "" };
    },
    async command() {
      return { ok: true, stdout: "", stderr: "" };
    },
    async list(): Promise<NftListing> {
      if (kernel.listError) return { ok: false, error: kernel.listError };
      return { ok: true, tables: structuredClone(kernel.tables).map(({ comment: _comment, ...t }) => t) };
    },
    async tables() {
      if (kernel.listError) return { ok: false as const, error: kernel.listError };
      return { ok: true as const, tables: new Map(kernel.tables.map((t) => [`${t.family} ${t.name}`, t.comment])) };
    },
  };
  return { kernel, runner };
}

/** An agent on the fake kernel, in-memory files, interfaces and addresses, and a fake clock. */
export function fakeAgent(opts: { files?: SourceFile[]; interfaces?: string[]; runner?: NftRunner; netdevAbsentDevices?: boolean; state?: StateStore; bootPolicy?: BootPolicy; kernel?: ReturnType<typeof fakeKernel> } = {}) {
  const state = { files: opts.files ?? exampleFiles(), interfaces: new Set(opts.interfaces ?? ["lo", "eth0"]), addresses: new Map<string, Cidr[]>() };
  const { kernel, runner: kernelRunner } = opts.kernel ?? fakeKernel();
  const runner = opts.runner ?? kernelRunner;
  const logger = memoryLogger();
  let t = 0;
  const agent = new Agent({
    node: "jasper",
    configDir: "/etc/hostwall",
    readConfig: () => ({ files: state.files, diagnostics: [] }),
    listInterfaces: () => state.interfaces,
    listAddresses: () => state.addresses,
    runner,
    netdevAbsentDevices: opts.netdevAbsentDevices,
    now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, t)),
    clock: () => (t += 1) * 1000,
    logger,
    state: opts.state,
    bootPolicy: opts.bootPolicy,
  });
  return { agent, kernel, runner, state, logger };
}

/** One more deny-list entry: a config change that really changes the ruleset (a reload of an unchanged config applies nothing). */
export const MORE_DENY: SourceFile = { path: "/etc/hostwall/50-more.yaml", text: "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: more, labels: {dos-deny-list: 'true'}}\nspec: {nets: [198.51.100.7/32]}\n" };

/** A state store in memory (state.ts has the file-backed one). */
export function memoryState(): StateStore & { record?: LastGood; saves: number } {
  const store = {
    path: "/var/lib/hostwall/last-good-netns-1.json",
    record: undefined as LastGood | undefined,
    saves: 0,
    async load() {
      return store.record ? structuredClone(store.record) : undefined;
    },
    async save(r: LastGood) {
      store.saves++;
      store.record = structuredClone(r);
    },
  };
  return store;
}
