/**
 * Sending a whole script to the kernel: a dry run (`nft -c`), then the apply, each one
 * transaction, so a rejected script never changes the live tables; nft's refusal as
 * diagnostics; and the keys that say what a ruleset was applied for (its hash, interfaces and
 * addresses). Used by every attempt (agent.ts) and by the start's fallbacks (boot.ts).
 */
import { createHash } from "node:crypto";
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import { formatCidr, type Cidr } from "../model/cidr.ts";
import { computeDelta, type DeltaSummary, type DeltaUnknowns } from "../nft/delta.ts";
import type { NftRuleset, RuleOrigin } from "../nft/ir.ts";
import { renderFlush, renderScript, renderStagedTables, stagedKey, type StagedSets, type TableStamp } from "../nft/render.ts";
import type { SetElements } from "../nft/netlink.ts";
import { IN_PROCESS_MAX_BYTES, mapNftErrors, type NftRunner } from "../nft/runner.ts";
import { lapTimer } from "../pipeline.ts";
import type { Plan } from "../resolve/resolve.ts";
import type { Logger } from "./log.ts";

/**
 * Scripts up to this size get a dry run (`nft -c`) before the real apply. The apply is one
 * transaction either way, so a rejected script never changes the live tables; the dry run
 * only costs as much as the apply itself, so scripts big enough to go to a spawned nft
 * (runner.ts IN_PROCESS_MAX_BYTES) go straight to the (equally atomic) apply: at 4 MiB a
 * 100,000-address start spent twice a bare `nft -f` in its send (946 ms against 413).
 */
export const DRY_RUN_MAX_BYTES = IN_PROCESS_MAX_BYTES;

/** The passes a script goes through: check then apply, or the apply alone for a big one. */
function passes(script: string): boolean[] {
  return script.length > DRY_RUN_MAX_BYTES ? [false] : [true, false];
}

/** The hash a ruleset is stamped and compared with: the first 16 hex digits of its SHA-256. */
export function scriptHash(script: string): string {
  return createHash("sha256").update(script).digest("hex").slice(0, 16);
}

/** Checks and applies a whole script; on a refusal, which pass refused it and nft's error text. */
export async function sendScript(runner: NftRunner, script: string): Promise<{ ok: true } | { ok: false; check: boolean; stderr: string }> {
  for (const check of passes(script)) {
    const result = await runner.apply(script, { check });
    if (!result.ok) return { ok: false, check, stderr: result.stderr };
  }
  return { ok: true };
}

/** Checks and applies a whole script; false (logged) when nft refuses it. */
export async function applyScript(runner: NftRunner, logger: Logger, script: string, what: string): Promise<boolean> {
  const sent = await sendScript(runner, script);
  if (!sent.ok) logger.log("error", `cannot apply ${what}: nft ${sent.check ? "check" : "apply"} failed: ${sent.stderr.trim().split("\n")[0]}`);
  return sent.ok;
}

/** The endpoint interfaces of a plan that are present, comma-joined: what a ruleset was applied for. */
export function interfaceKey(plan: Plan, present: ReadonlySet<string>): string {
  return plan.endpoints.filter((ep) => present.has(ep.interfaceName)).map((ep) => ep.interfaceName).join(",");
}

/** A stable text form of the interface addresses, to notice changes. */
export function addressKey(addresses: Map<string, Cidr[]> | undefined): string {
  if (!addresses) return "";
  return [...addresses.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, list]) => `${n}=${list.map(formatCidr).sort().join(",")}`).join(";");
}

/** nft's refusal of a script as NFT_REJECTED diagnostics, each placed at the YAML rule its script line came from. */
export function nftRejections(stderr: string, origins: ReadonlyMap<number, RuleOrigin>, check: boolean): Diagnostic[] {
  return mapNftErrors(stderr, origins).map((e): Diagnostic => ({
    code: "NFT_REJECTED",
    severity: "error",
    message: `nft ${check ? "check" : "apply"} failed: ${e.message}${e.line ? ` (script line ${e.line}${e.origin ? `, from ${e.origin.id}` : ""})` : ""}`,
    file: e.origin?.file,
    line: e.origin?.line,
    column: e.origin?.column,
  }));
}

/** Consecutive refused deltas after which the agent recreates its tables (full replaces) for a while, as Felix does. */
export const DELTA_FAILURES_MAX = 3;
/** How many applies are full replaces after that, before deltas are tried again. */
export const FULL_APPLIES_AFTER_FAILURES = 8;

/** How the agent's applies went, for /status and /metrics. */
export interface EngineState {
  /** Applies sent as a delta of the ruleset in force. */
  deltas: number;
  /** Applies sent as a full replace of hostwall's tables. */
  fullApplies: number;
  /** Deltas the kernel refused (each followed by a full replace). */
  deltasRejected: number;
  /** Refused deltas in a row. */
  consecutiveRejected: number;
  /** Applies left that are full replaces whatever changed (after DELTA_FAILURES_MAX refusals). */
  fullOnlyLeft: number;
}

export const newEngineState = (): EngineState => ({ deltas: 0, fullApplies: 0, deltasRejected: 0, consecutiveRejected: 0, fullOnlyLeft: 0 });

/** Milliseconds an apply spent computing the delta, rendering the whole script and sending (nft's check and apply). */
export interface SendTimings {
  delta?: number;
  render?: number;
  send: number;
}

/** How an apply reached the kernel. */
export type SentRuleset = ({ ok: true; mode: "delta"; summary: DeltaSummary; bytes: number } | { ok: true; mode: "full"; why: string; bytes: number } | { ok: false; check: boolean; stderr: string }) & { timings?: SendTimings };

/**
 * Puts `next` in force: as a delta of `inForce` when there is one (the first apply after start,
 * a forced apply (drift repair) and the applies after repeated refusals are full replaces),
 * else, or when the kernel refuses the delta (which changes nothing), the whole script, which
 * `full` renders only then (a delta never needs the text of every element). With `clock`, the
 * result says where the time went.
 */
export async function sendRuleset(runner: NftRunner, logger: Logger, engine: EngineState, opts: { inForce?: NftRuleset; unknown?: DeltaUnknowns; next: NftRuleset; full: string | (() => string); force: boolean; stamp?: TableStamp; clock?: () => number }): Promise<SentRuleset> {
  const clock = opts.clock ?? (() => 0);
  const timings: SendTimings = { send: 0 };
  const lap = lapTimer(clock);
  const done = <T extends SentRuleset>(r: T): T => (opts.clock ? { ...r, timings } : r);
  let why = !runner.deltas ? "the runner takes whole tables only" : !opts.inForce ? "first apply" : opts.force ? "forced" : engine.fullOnlyLeft > 0 ? `recreating the tables after ${DELTA_FAILURES_MAX} refused deltas` : "";
  const recreating = why.startsWith("recreating");
  if (why === "") {
    const plan = computeDelta(opts.inForce!, opts.next, opts.unknown, opts.stamp);
    timings.delta = lap();
    if (plan.kind === "none") {
      // Rendered differently (e.g. element order) but the same objects: the kernel holds it already.
      engine.deltas++;
      engine.consecutiveRejected = 0;
      return done({ ok: true, mode: "delta", summary: computeDeltaSummaryNone(), bytes: 0 });
    }
    if (plan.kind === "delta") {
      const sent = await sendScript(runner, plan.script.text);
      timings.send += lap();
      if (sent.ok) {
        engine.deltas++;
        engine.consecutiveRejected = 0;
        return done({ ok: true, mode: "delta", summary: plan.summary, bytes: plan.script.text.length });
      }
      engine.deltasRejected++;
      engine.consecutiveRejected++;
      const first = mapNftErrors(sent.stderr, plan.script.origins)[0];
      logger.log("warning", `the kernel refused the delta (nft ${sent.check ? "check" : "apply"}: ${first?.message ?? "no message"}${first?.origin ? `, from ${first.origin.id}` : ""}); nothing changed, applying the whole ruleset instead`);
      if (engine.consecutiveRejected >= DELTA_FAILURES_MAX) {
        engine.fullOnlyLeft = FULL_APPLIES_AFTER_FAILURES;
        engine.consecutiveRejected = 0;
        logger.log("warning", `${DELTA_FAILURES_MAX} deltas refused in a row: the next ${FULL_APPLIES_AFTER_FAILURES} applies recreate hostwall's tables whole`);
      }
      why = "the delta was refused";
    } else why = plan.why;
  }
  const staged = await stagedLoad(runner, logger, opts.next, opts.stamp);
  if (staged) {
    timings.send += lap();
    if (!staged.ok) return done(staged);
    engine.fullApplies++;
    if (recreating) engine.fullOnlyLeft--;
    return done({ ok: true, mode: "full", why: `${why}; ${staged.elements} elements of ${staged.sets} big set(s) loaded over netlink first`, bytes: staged.bytes });
  }
  const full = typeof opts.full === "string" ? opts.full : opts.full();
  timings.render = lap();
  const sent = await sendScript(runner, full);
  timings.send += lap();
  if (!sent.ok) return done(sent);
  engine.fullApplies++;
  if (recreating) engine.fullOnlyLeft--;
  return done({ ok: true, mode: "full", why, bytes: full.length });
}

/** Hash sets of at least this many elements are loaded over netlink when their tables are new (stagedLoad). */
export const STAGE_MIN_ELEMENTS = 20_000;

/**
 * A full replace of tables the kernel does not hold yet, with big hash sets, in three steps
 * (issue #13: a million-address start spent ~4 s in nft's parse of the elements and ~370 MB in
 * its process; the kernel takes them over netlink in ~1.5-2.5 s):
 *
 *   1. one nft transaction makes the tables with their big sets, empty, and nothing else: no
 *      chain, so no hook, and no packet meets them;
 *   2. one netlink transaction fills those sets (nft/netlink.ts);
 *   3. one nft transaction adds everything else (renderScript with `staged`: the full script
 *      without the big sets' elements and without deleting those tables first): the moment the
 *      base chains are hooked, the whole ruleset is in force, big sets full.
 *
 * Until step 3 commits, nothing of hostwall's filters a packet, exactly as before step 1 (the
 * tables were not there). A failure at step 1 or 2 removes what step 1 made and says so, and the
 * caller sends the whole script the usual way; a failure at step 3 removes them too and is the
 * answer (nft refused the ruleset itself; its error lines are the full script's). Undefined when
 * the load is not staged: no big set, a runner without netlink, or any of the tables present
 * (replacing tables in force must stay one transaction).
 */
async function stagedLoad(runner: NftRunner, logger: Logger, next: NftRuleset, stamp: TableStamp | undefined): Promise<({ ok: true; elements: number; sets: number; bytes: number } | { ok: false; check: boolean; stderr: string }) | undefined> {
  if (!runner.loadElements || !runner.tables) return undefined;
  const sets: SetElements[] = [];
  const staged = new Set<string>();
  for (const t of next.tables) {
    for (const s of t.sets) {
      if (s.dynamic || s.interval || s.elements.length < STAGE_MIN_ELEMENTS || (s.type !== "ipv4_addr" && s.type !== "ipv6_addr")) continue;
      sets.push({ family: t.family, table: t.name, set: s.name, type: s.type, elements: s.elements });
      staged.add(stagedKey(t, s));
    }
  }
  if (sets.length === 0) return undefined;
  const present = await runner.tables();
  if (!present.ok || next.tables.some((t) => present.tables.has(`${t.family} ${t.name}`))) return undefined;
  const made = next.tables.filter((t) => t.sets.some((s) => staged.has(stagedKey(t, s))));
  const undo = async (why: string) => {
    const removed = await runner.apply(renderFlush(made));
    if (!removed.ok) logger.log("error", `staged load: cannot remove the tables it made after ${why}: ${removed.stderr.trim().split("\n")[0]}`);
  };
  const created = await sendScript(runner, renderStagedTables(next, staged, stamp));
  if (!created.ok) {
    logger.log("warning", `staged load: nft refused the empty tables (${created.stderr.trim().split("\n")[0]}); sending the whole script instead`);
    await undo("that refusal");
    return undefined;
  }
  const loaded = await runner.loadElements(sets);
  if (!loaded.ok) {
    logger.log("warning", `staged load: ${loaded.error}; sending the whole script instead`);
    await undo("the netlink refusal");
    return undefined;
  }
  const rest = renderScript(next, stamp, staged as StagedSets).text;
  const sent = await sendScript(runner, rest);
  if (!sent.ok) {
    await undo("nft refused the ruleset");
    return sent;
  }
  return { ok: true, elements: sets.reduce((n, s) => n + s.elements.length, 0), sets: sets.length, bytes: rest.length + loaded.bytes };
}

function computeDeltaSummaryNone(): DeltaSummary {
  return { setsAdded: 0, setsRemoved: 0, elementsAdded: 0, elementsRemoved: 0, chainsAdded: 0, chainsRemoved: 0, chainsRewritten: 0, rules: 0 };
}

/** A delta in words, for the log. */
export function describeSent(sent: Extract<SentRuleset, { ok: true }>): string {
  if (sent.mode === "full") return `full replace (${sent.why}), ${sent.bytes} bytes`;
  const s = sent.summary;
  const parts = [
    s.elementsAdded || s.elementsRemoved ? `+${s.elementsAdded}/-${s.elementsRemoved} set elements` : "",
    s.setsAdded || s.setsRemoved ? `+${s.setsAdded}/-${s.setsRemoved} sets` : "",
    s.chainsAdded || s.chainsRemoved ? `+${s.chainsAdded}/-${s.chainsRemoved} chains` : "",
    s.chainsRewritten ? `${s.chainsRewritten} chain(s) rewritten` : "",
  ].filter(Boolean);
  return `delta (${parts.join(", ") || "nothing to change"}), ${sent.bytes} bytes`;
}
