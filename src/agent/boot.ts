/**
 * The start: what is in force before the agent applies anything, and what to enforce when its
 * first config is rejected (DESIGN.md §5). Fail safe, in order: keep hostwall's tables if the
 * kernel holds them; else apply the last good ruleset from the state dir; else apply the
 * failsafe-only ruleset if --boot-policy failsafe; else nothing (and say so loudly).
 */
import { buildFailsafeRuleset } from "../pipeline.ts";
import { TABLE } from "../nft/names.ts";
import { believedRuleset, heldAsRecorded } from "../nft/delta-adopt.ts";
import type { DeltaUnknowns } from "../nft/delta.ts";
import type { NftRuleset } from "../nft/ir.ts";
import { parseStamp, stampScript, type TableStamp } from "../nft/render.ts";
import type { NftListing } from "../nft/runner.ts";
import type { NftRunner } from "../nft/runner.ts";
import type { Plan } from "../resolve/resolve.ts";
import { applyScript, interfaceKey, scriptHash } from "./apply.ts";
import type { Logger } from "./log.ts";
import { expectedTables, type ExpectedTable } from "./shape.ts";
import type { LastGood, RecordHead, SavedEndpoint } from "./state.ts";
import type { AgentDeps, Applied, AppliedSource, BootRecord, InKernel } from "./types.ts";

/**
 * Which hostwall tables the kernel holds, and the stamp an earlier agent wrote on them: both
 * tables or none (someone deleted one half: not a ruleset in force); undefined when the
 * runner cannot tell or listing failed (logged).
 */
export async function lookAtKernel(runner: NftRunner, logger: Logger): Promise<InKernel | null | undefined> {
  if (!runner.tables) return undefined;
  const r = await runner.tables();
  if (!r.ok) {
    logger.log("warning", `cannot list the ruleset to see what is in force: ${r.error}`);
    return undefined;
  }
  const ours = [`netdev ${TABLE}`, `inet ${TABLE}`].filter((t) => r.tables.has(t));
  const stamps = ours.map((t) => parseStamp(r.tables.get(t)));
  const stamp = stamps.length === 2 && stamps[0] && stamps[1] && stamps[0].hash === stamps[1].hash && stamps[0].generation === stamps[1].generation ? stamps[0] : undefined;
  const inKernel = ours.length === 2 ? { tables: ours, stamp } : null;
  if (inKernel) logger.log("info", `found hostwall's tables in the kernel: ${stamp ? `generation ${stamp.generation}, hash ${stamp.hash}` : "without a stamp (written by an older hostwall)"}`);
  return inKernel;
}

/**
 * Adoption at start (nft/delta-adopt.ts): what the kernel's hostwall tables hold as far as the
 * saved record and a terse listing tell, for the first apply to send only the difference to
 * `next`; undefined (a full replace, as without a record) when they cannot be adopted.
 */
export async function adoptionBase(deps: Pick<AgentDeps, "state" | "logger">, inKernel: InKernel | null | undefined, list: () => Promise<NftListing>, next: NftRuleset): Promise<{ from: NftRuleset; unknown: DeltaUnknowns; generation: number } | undefined> {
  const stamp = inKernel?.stamp;
  if (!stamp || !deps.state) return undefined;
  let saved: LastGood | undefined;
  try {
    saved = await deps.state.load();
  } catch (e) {
    deps.logger.log("warning", `cannot read the last good record to adopt the tables in the kernel: ${(e as Error).message}; replacing them whole`);
    return undefined;
  }
  if (!saved?.engine) return undefined;
  const live = await list();
  if (!live.ok) {
    deps.logger.log("warning", `cannot list the tables in the kernel to adopt them: ${live.error}; replacing them whole`);
    return undefined;
  }
  const believed = believedRuleset(saved.engine, stamp, live.tables, next);
  if ("why" in believed) {
    deps.logger.log("info", `not adopting hostwall's tables in the kernel (${believed.why}): replacing them whole`);
    return undefined;
  }
  const { refill, rewrite } = believed.unknown;
  const sets = believed.from.tables.reduce((n, t) => n + t.sets.length, 0);
  const chains = believed.from.tables.reduce((n, t) => n + t.chains.length, 0);
  deps.logger.log("info", `adopting hostwall's tables in the kernel (generation ${saved.generation}, stamped ${stamp.generation}): ${sets - refill.size} of ${sets} set(s) and ${chains - rewrite.size} of ${chains} chain(s) hold what was recorded; the first apply sends the difference`);
  return { ...believed, generation: saved.generation };
}

/**
 * A restart with the config the record was compiled from (config-digest.ts) whose kernel holds
 * the recorded tables (delta-adopt.ts heldAsRecorded): the record, for the agent to be ready on
 * without compiling first; undefined (logged, but for the plain absence of a record or stamp)
 * when anything disagrees, and the start takes the usual path (build, adopt, delta).
 */
export async function adoptAsRecorded(deps: Pick<AgentDeps, "state" | "logger" | "node">, inKernel: InKernel | null | undefined, list: () => Promise<NftListing>, digest: () => string, preloaded?: Promise<RecordHead | undefined>): Promise<RecordHead | undefined> {
  const stamp = inKernel?.stamp;
  const store = deps.state;
  if (!stamp || !store) return undefined;
  let saved: RecordHead | undefined;
  try {
    // Without decoding its script: this start may never need it (14 MB at a million elements).
    saved = preloaded ? await preloaded : store.loadHead ? await store.loadHead() : await store.load().then((r) => r && { ...r, script: () => r.script });
  } catch {
    return undefined; // the usual path reads it again and says why
  }
  if (!saved?.engine || !saved.config || saved.node !== deps.node) return undefined;
  const why = (reason: string) => {
    deps.logger.log("info", `the start compiles the config before it is ready: ${reason}`);
    return undefined;
  };
  if (saved.config !== digest()) return why("the config (its files, this hostwall's build, the node, options, interfaces or addresses) is not the one the last good record was compiled from");
  const live = await list();
  if (!live.ok) return why(`cannot list the tables in the kernel: ${live.error}`);
  const not = heldAsRecorded(saved.engine, stamp, live.tables.filter((t) => t.name === TABLE));
  if (not) return why(not);
  return saved;
}

/** The stamp a full script writes on the tables (render.ts stampScript), if it has one. */
export function stampOf(script: string): TableStamp | undefined {
  return parseStamp(/ comment "(hostwall generation \d+ hash [0-9a-f]{16})";$/m.exec(script)?.[1]);
}

/** A ruleset the start put in force (or found in force), for the agent to take as its own. */
export interface Adopted {
  applied: Applied;
  expected: ExpectedTable[];
  generation: number;
  /** The failsafe ruleset's plan (its endpoint); a restored ruleset keeps none. */
  plan?: Plan;
  /** A restored ruleset's endpoints, as saved with it (state.ts). */
  endpoints?: SavedEndpoint[];
}

export interface BootContext {
  deps: Pick<AgentDeps, "node" | "state" | "bootPolicy" | "logger" | "now" | "runner">;
  inKernel: InKernel | null | undefined;
  /** The agent's generation so far (from the kernel's stamp, if any). */
  generation: number;
  /** Netdev chains are rendered for absent interfaces too. */
  absent: boolean;
  interfaces: Set<string>;
  /** Takes a ruleset in force as the agent's own and lists it as the drift reference. */
  adopt(a: Adopted): Promise<void>;
}

/** The first config was rejected and nothing of this run is in force: what to enforce, in the order above. */
export async function bootFallback(ctx: BootContext): Promise<BootRecord> {
  const { deps, inKernel } = ctx;
  const log = deps.logger;
  let saved: LastGood | undefined;
  try {
    saved = await deps.state?.load();
  } catch (e) {
    log.log("warning", `cannot use the last good ruleset: ${(e as Error).message}`);
  }
  const stamp = inKernel?.stamp;
  if (inKernel) {
    // The record names the stamp on the tables (engine.stamp) also when its own hash moved on without rewriting it (an adoption that sent nothing).
    const same = saved && stamp && (saved.hash === stamp.hash || (saved.engine?.stamp.hash === stamp.hash && saved.engine.stamp.generation === stamp.generation));
    if (same) await ctx.adopt(fromRecord(saved!, "kernel", ctx.generation));
    const detail = `the hostwall ruleset found in the kernel (${stamp ? `generation ${stamp.generation}` : "unstamped"}) stays in force${same ? "" : "; it is not the saved last good ruleset, so drift cannot be repaired until a config applies"}`;
    log.log("warning", detail);
    return { action: "kept-kernel", detail };
  }
  if (saved && (await applyScriptOf(ctx, saved.script, `the last good ruleset from ${deps.state!.path}`))) {
    await ctx.adopt(fromRecord(saved, "last-good", Math.max(ctx.generation, saved.generation)));
    const boot: BootRecord = { action: "last-good", detail: `applied the last good ruleset (generation ${saved.generation} of ${saved.at}) from ${deps.state!.path}` };
    log.log("warning", `${boot.detail}; fix the config to replace it`);
    return boot;
  }
  if (deps.bootPolicy === "failsafe") {
    const built = buildFailsafeRuleset(deps.node, ctx.absent ? undefined : ctx.interfaces);
    if (built.script && built.ruleset && built.plan) {
      const hash = scriptHash(built.script.text);
      const script = stampScript(built.script.text, { generation: ctx.generation + 1, hash });
      if (await applyScriptOf(ctx, script, "the failsafe-only ruleset")) {
        const applied: Applied = { source: "failsafe", at: deps.now().toISOString(), hash, durationMs: 0, resources: {}, script, interfaces: interfaceKey(built.plan, ctx.interfaces).split(",") };
        await ctx.adopt({ applied, expected: expectedTables(built.ruleset), generation: ctx.generation + 1, plan: built.plan });
        const boot: BootRecord = { action: "failsafe", detail: "applied the failsafe-only ruleset (--boot-policy failsafe): failsafe ports open on every interface but lo, everything else denied" };
        log.log("warning", boot.detail);
        return boot;
      }
    }
    const boot: BootRecord = { action: "failed", detail: "the failsafe-only ruleset could not be applied; nothing is enforced" };
    log.log("error", boot.detail);
    return boot;
  }
  const boot: BootRecord = { action: "open", detail: `nothing is enforced: no hostwall ruleset in the kernel, no usable last good ruleset${deps.state ? ` in ${deps.state.path}` : ""}, and --boot-policy is open` };
  log.log("error", boot.detail);
  return boot;
}

function applyScriptOf(ctx: BootContext, script: string, what: string): Promise<boolean> {
  return applyScript(ctx.deps.runner, ctx.deps.logger, script, what);
}

/** The saved last good ruleset as the ruleset in force. */
function fromRecord(saved: LastGood, source: AppliedSource, generation: number): Adopted {
  return { applied: { source, at: saved.at, hash: saved.hash, durationMs: 0, resources: saved.resources, script: saved.script, interfaces: saved.interfaces }, expected: saved.expected, generation, endpoints: saved.endpoints };
}
