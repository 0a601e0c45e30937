/**
 * The pure pipeline of DESIGN.md §7, from files to an nft script:
 *
 *   parse (YAML with positions) → validate + default → resolve → lint → compile (nft IR) → render
 *
 * The lints (src/lint/) warn about a valid config that enforces nothing or less than meant.
 * Each step is a folder (config/, validate/, resolve/, lint/, nft/); src/README.md is the map.
 *
 * No I/O: files, the node name and the interfaces that exist are inputs, so `compile`, `check`,
 * the agent and the golden tests all run exactly the same code.
 */
import { hasErrors, type Diagnostic } from "./diagnostics/diagnostic.ts";
import { loadConfig, refusedFiles } from "./validate/load.ts";
import type { SourceFile } from "./source/source-file.ts";
import type { Cidr } from "./model/cidr.ts";
import type { Model } from "./model/types.ts";
import { compileRuleset } from "./nft/compile.ts";
import type { NftRuleset } from "./nft/ir.ts";
import { renderScript, type RenderedScript } from "./nft/render.ts";
import { resolvePlan, type Plan } from "./resolve/resolve.ts";
import { lintConfig } from "./lint/lint.ts";
import { clearParseCache, forgetTexts, hollowOutCached } from "./config/parse-cache.ts";
import { clearSetMemo } from "./resolve/sets.ts";
import { droppedValueCount } from "./config/list-splice.ts";
import { forgetDerivations } from "./derive.ts";
import { readKept } from "./validate/nets-read.ts";

export interface BuildInput {
  /** Config files. */
  files: readonly SourceFile[];
  /** This node's name. */
  node: string;
  /** Interfaces present now (undefined: render netdev chains for every endpoint). */
  interfaces?: ReadonlySet<string>;
  /** Addresses of the interfaces present now, for endpoints bound by expectedIPs. */
  addresses?: ReadonlyMap<string, readonly Cidr[]>;
  /**
   * The diagnostics of reading the config dir (read-dir.ts), not repeated in the result: the
   * files their errors name were not read, so what those files define is unknown and nothing
   * is reported as missing because of them.
   */
  readDiagnostics?: readonly Diagnostic[];
  /** Give every Deny rule a drop-summary set (nft/drops.ts); default on, off with run --drop-summaries=off. */
  dropSummaries?: boolean;
  /**
   * Leave the script out (`script` undefined): the agent renders it only when it sends or keeps
   * the whole script (agent.ts), since a delta never needs the 14 MB text of a 1M-element set.
   */
  noScript?: boolean;
  /** A monotonic clock in ms (the agent's): with it the result says how long each stage took. */
  clock?: () => number;
  /**
   * Drop the big lists' values as soon as they are validated (the agent), not after the apply
   * (releaseAfterApply): at a 1M start they would otherwise stay through resolve, compile and
   * the kernel's load, ~48 MB at the peak. Their validated reads are kept, so a retry of a
   * failed attempt reads nothing again.
   */
  dropValues?: boolean;
}

/** Milliseconds each stage took (BuildInput.clock); a stage not reached is absent. */
export interface BuildTimings {
  /** Parse and validate (loadConfig). */
  parse: number;
  resolve?: number;
  lint?: number;
  compile?: number;
  render?: number;
}

export interface BuildResult {
  /** Every problem found, errors and warnings. */
  diagnostics: Diagnostic[];
  /** The validated model (present even with errors, holding the valid resources). */
  model: Model;
  /** Present when there were no errors. */
  plan?: Plan;
  /** Present when there were no errors. */
  ruleset?: NftRuleset;
  /** Present when there were no errors (and not BuildInput.noScript). */
  script?: RenderedScript;
  /** Per-stage times, with BuildInput.clock. */
  timings?: BuildTimings;
}

/** A stopwatch on `clock`: each call gives the milliseconds since the one before (the first: since it was made). */
export function lapTimer(clock: () => number): () => number {
  let mark = clock();
  return () => {
    const now = clock();
    const ms = now - mark;
    mark = now;
    return ms;
  };
}

/** A build that drops at least this many values collects the garbage at once (BuildInput.dropValues). */
const COLLECT_AFTER_DROPPING = 500_000;
let collections = 0;

/** How many builds collected garbage after dropping values (tests). */
export function dropCollections(): number {
  return collections;
}

/**
 * Drops what the stages keep from build to build (the parse cache, the set memo, the records of
 * what each list was made from): the next build starts from nothing. The agent calls it after
 * an internal error, where a kept structure may be what went wrong.
 */
export function forgetIncrementalState(): void {
  clearParseCache();
  clearSetMemo();
  forgetDerivations();
}

/**
 * What the agent lets go once an attempt has applied (issue #13 item 7): the records of what
 * each list was made from, which this run's stages have read (derive.ts: the earlier
 * generation of every big list goes with them), and the values of the big network set lists
 * the parse cache holds, whose validated reads are kept (list-splice.ts hollowOut: ~40 MB of
 * strings at a million entries; an edit splices the read, a full read takes them from the file),
 * and the decoded text of each kept file whose text is kept as bytes or pieces (~19 MB at a
 * million entries: parse-cache.ts forgetTexts). Returns how many lists it emptied.
 */
export function releaseAfterApply(): number {
  forgetDerivations();
  forgetTexts();
  return hollowOutCached(readKept);
}

export function buildRuleset(input: BuildInput): BuildResult {
  const clock = input.clock;
  const lap = lapTimer(clock ?? (() => 0));
  const timed = <T extends BuildResult>(r: T, t: BuildTimings | undefined): T => (clock && t ? { ...r, timings: t } : r);
  const { model, diagnostics } = loadConfig(input.files, { node: input.node, refused: refusedFiles(input.readDiagnostics ?? []) });
  if (input.dropValues) {
    const before = droppedValueCount();
    hollowOutCached(readKept);
    // A big list read from nothing: its values are garbage now; collected before resolve and
    // compile allocate on top of them (MEASURED at a 1M start: the agent's VmHWM 354 → 304 MB,
    // for ~80 ms). An edit drops only the values it read, and does not collect.
    if (droppedValueCount() - before >= COLLECT_AFTER_DROPPING) {
      Bun.gc(true);
      collections++;
    }
  }
  const timings: BuildTimings | undefined = clock ? { parse: lap() } : undefined;
  // A file that could not be read is an error (all or nothing): nothing is compiled without it.
  if (hasErrors(diagnostics) || hasErrors(input.readDiagnostics ?? [])) return timed({ diagnostics, model }, timings);
  const resolved = resolvePlan(model, input.node, { addresses: input.addresses });
  if (timings) timings.resolve = lap();
  diagnostics.push(...resolved.diagnostics);
  if (hasErrors(diagnostics)) return timed({ diagnostics, model }, timings);
  diagnostics.push(...lintConfig({ model, plan: resolved.plan, node: input.node, files: input.files.length, addresses: input.addresses }));
  if (timings) timings.lint = lap();
  // The compiler and renderer throw only on their own bugs (two objects of one name, an
  // identifier they should never have produced): that is a rejected config, never a crash.
  try {
    const ruleset = compileRuleset(resolved.plan, { interfaces: input.interfaces, dropSummaries: input.dropSummaries });
    if (timings) timings.compile = lap();
    if (input.noScript) return timed({ diagnostics, model, plan: resolved.plan, ruleset }, timings);
    const script = renderScript(ruleset);
    if (timings) timings.render = lap();
    return timed({ diagnostics, model, plan: resolved.plan, ruleset, script }, timings);
  } catch (e) {
    diagnostics.push({ code: "INTERNAL_ERROR", severity: "error", message: `hostwall cannot compile this config (a bug, please report it): ${(e as Error).message}; nothing is applied` });
    return timed({ diagnostics, model }, timings);
  }
}

/**
 * The failsafe-only ruleset of `--boot-policy failsafe` (the config was rejected at start and
 * nothing else can be enforced): one `interfaceName: "*"` endpoint without policy or profile,
 * so every interface but loopback accepts established traffic and Calico's default failsafe
 * ports (SSH among them), and denies everything else in and out.
 */
export function buildFailsafeRuleset(node: string, interfaces?: ReadonlySet<string>): BuildResult {
  const text = `apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {name: hostwall-boot-failsafe}\nspec: {node: ${JSON.stringify(node)}, interfaceName: "*"}\n`;
  return buildRuleset({ files: [{ path: "(boot failsafe)", text }], node, interfaces });
}
