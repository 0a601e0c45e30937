/**
 * Fakes for the agent's I/O in unit tests: the agent on the fake kernel (fake-nft.ts, which
 * checks every script against the renderer's grammar, runs it as one transaction and records
 * every call), in-memory files, interfaces and a fake clock.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Agent } from "../../src/agent/agent.ts";
import type { BootPolicy } from "../../src/agent/types.ts";
import type { LastGood, StateStore } from "../../src/agent/state.ts";
import { memoryLogger } from "../../src/agent/log.ts";
import type { SourceFile } from "../../src/source/source-file.ts";
import { readConfigDir } from "../../src/source/read-dir.ts";
import type { Cidr } from "../../src/model/cidr.ts";
import type { NftRunner } from "../../src/nft/runner.ts";
import { fakeKernel } from "./fake-nft.ts";

export { fakeKernel, structureOf, type FakeTable, type NftCall } from "./fake-nft.ts";

const RULES = join(import.meta.dir, "../../rules");
export const exampleFiles = (): SourceFile[] => readdirSync(RULES).map((f) => ({ path: join("/etc/hostwall", f), text: readFileSync(join(RULES, f), "utf8") }));

/** A script without the generation stamps on its table lines (render.ts stampScript). */
export const unstamped = (script: string) => script.replace(/ comment "hostwall generation \d+ hash [0-9a-f]+";$/gm, "");

/**
 * An agent on the fake kernel, in-memory files, interfaces and addresses, and a fake clock.
 * With `configDir`, each attempt reads that real directory (read-dir.ts) and adds
 * `state.files` to what it holds. `state.reads` counts the attempts' config reads.
 */
export function fakeAgent(opts: { files?: SourceFile[]; interfaces?: string[]; runner?: NftRunner; netdevAbsentDevices?: boolean; state?: StateStore; bootPolicy?: BootPolicy; kernel?: ReturnType<typeof fakeKernel>; configDir?: string; build?: string; dropSummaries?: boolean } = {}) {
  const state = { files: opts.files ?? (opts.configDir ? [] : exampleFiles()), interfaces: new Set(opts.interfaces ?? ["lo", "eth0"]), addresses: new Map<string, Cidr[]>(), reads: 0 };
  const dir = opts.configDir;
  const { kernel, runner: kernelRunner } = opts.kernel ?? fakeKernel();
  const runner = opts.runner ?? kernelRunner;
  const logger = memoryLogger();
  let t = 0;
  const agent = new Agent({
    node: "jasper",
    readConfig: async () => {
      state.reads++;
      if (!dir) return { files: state.files, diagnostics: [] };
      const read = await readConfigDir(dir);
      return { files: [...read.files, ...state.files], diagnostics: read.diagnostics };
    },
    listInterfaces: () => state.interfaces,
    listAddresses: () => state.addresses,
    runner,
    netdevAbsentDevices: opts.netdevAbsentDevices,
    now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, t)),
    clock: () => (t += 1) * 1000,
    logger,
    state: opts.state,
    bootPolicy: opts.bootPolicy,
    build: opts.build,
    dropSummaries: opts.dropSummaries,
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
