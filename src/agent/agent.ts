/**
 * The agent's state machine: load → build → check → apply, one attempt at a time.
 *
 * All or nothing (DESIGN.md §5): an attempt applies only when every file is valid and the
 * kernel accepted the script in a dry run (`nft -c`); otherwise the last good ruleset stays
 * in force and the attempt's diagnostics are kept for /status. Reloads are serialised: a
 * request that arrives during an attempt schedules exactly one more attempt afterwards.
 * Files, interfaces, time and nft are injected, so the loop is tested with fakes.
 *
 * After each apply the agent lists its tables once (terse: no set elements) and keeps that
 * listing as the reference for the drift check and for mapping rule counters to policy rules
 * (shape.ts, metrics.ts). A drift repair re-applies with force; if the config has become
 * invalid meanwhile, it restores the last good script instead, so an outside `nft flush
 * ruleset` never leaves the host open because somebody is half-way through an edit.
 */
import { createHash } from "node:crypto";
import { formatDiagnostic, hasErrors, type Diagnostic } from "../diagnostics/diagnostic.ts";
import type { SourceFile } from "../source/source-file.ts";
import { buildFailsafeRuleset, buildRuleset } from "../pipeline.ts";
import { endpointNames, WILDCARD, type EndpointPlan, type EndpointPolicies, type Plan } from "../resolve/resolve.ts";
import { formatCidr, type Cidr } from "../model/cidr.ts";
import { mapNftErrors, type NftListing, type NftRunner } from "../nft/runner.ts";
import { TABLE } from "../nft/names.ts";
import { parseStamp, stampScript, type TableStamp } from "../nft/render.ts";
import type { LastGood, StateStore } from "./state.ts";
import { describeChange, describeFiles, snapshot, type Snapshot } from "./change.ts";
import type { Logger } from "./log.ts";
import { APPLY_BUCKETS, Histogram, ruleSamples, type RuleSample } from "./metrics.ts";
import { expectedTables, findDrift, observedTables, type ExpectedTable } from "./shape.ts";

export interface AgentDeps {
  /** This node's name. */
  node: string;
  /** Config dir, for status. */
  configDir: string;
  /** Reads the config dir (asynchronously: a large dir must not block the API or the timers). */
  readConfig(): Promise<{ files: SourceFile[]; diagnostics: Diagnostic[] }> | { files: SourceFile[]; diagnostics: Diagnostic[] };
  /** Interfaces that exist now. */
  listInterfaces(): Set<string>;
  /** Addresses per interface, for endpoints bound by expectedIPs (optional: without it they bind nothing). */
  listAddresses?(): Map<string, Cidr[]>;
  /** The nft runner. */
  runner: NftRunner;
  /**
   * The kernel attaches a netdev chain to its device whenever the device appears (6.16+,
   * see netdevAttachesLater): netdev chains are then rendered for every endpoint interface,
   * present or not, so an interface is policed from its first packet, and its coming and
   * going needs no re-apply. Otherwise only for the interfaces present at apply time. A
   * promise (the kernel probe, started with the agent) is awaited by the first attempt,
   * after the config was read, so the probe's nft spawn overlaps that work.
   */
  netdevAbsentDevices?: boolean | Promise<boolean>;
  /** Clock. */
  now(): Date;
  /** Monotonic milliseconds, for durations. */
  clock(): number;
  /** Log sink. */
  logger: Logger;
  /** Called after every attempt (systemd STATUS=, for instance). */
  onAttempt?(attempt: Attempt): void;
  /** Where the last good ruleset is kept across restarts (state.ts); without it nothing is kept. */
  state?: StateStore;
  /**
   * What to enforce when the config is rejected at start, no hostwall ruleset is in the kernel
   * and no last good one is saved: nothing (`open`, the default), or the failsafe ports on every
   * interface but loopback and the rest denied (`failsafe`).
   */
  bootPolicy?: BootPolicy;
}

export type BootPolicy = "open" | "failsafe";

/** Where the ruleset in force came from. */
export type AppliedSource = "config" | "kernel" | "last-good" | "failsafe";

/** The ruleset in force. */
export interface Applied {
  /** config: compiled from the config dir; kernel: found in force at start (same content, or the saved last good); last-good: restored from the state dir at start; failsafe: --boot-policy failsafe. */
  source: AppliedSource;
  at: string;
  hash: string;
  durationMs: number;
  resources: Record<string, number>;
  script: string;
  interfaces: string[];
}

/** The most recent attempt. */
export interface Attempt {
  at: string;
  ok: boolean;
  reason: string;
  /** True when the rendered script equalled the one in force, so nothing was sent to the kernel. */
  unchanged?: boolean;
  diagnostics: Diagnostic[];
}

/** Endpoint view for /status. */
export interface EndpointStatus {
  name: string;
  interface: string;
  active: boolean;
  policies: EndpointPolicies;
  profiles: string[];
}

/** Drift checks and repairs, for /status and /metrics. */
export interface DriftState {
  /** Checks that listed the tables and compared them. */
  checks: number;
  /** Times the live tables differed from what was applied (each one re-applied). */
  count: number;
  /** Drifts that were repaired (re-applied, or the last good script restored). */
  repairs: number;
  /** The last drift found. */
  last?: { at: string; differences: string[]; repaired: boolean };
}

/** Result of a drift check: skipped (nothing applied, an attempt running, no listing), clean, or repaired. */
export type DriftCheck = { state: "skipped"; why: string } | { state: "clean" } | { state: "drift"; differences: string[]; repaired: boolean };

/** Per-rule counters read from the kernel, or why they could not be read. */
export type RuleCounters = { ok: true; samples: RuleSample[] } | { ok: false; error: string };

export class Agent {
  generation = 0;
  /** Whether an endpoint of this node is bound by expectedIPs (then address changes matter). */
  private boundByAddress = false;
  /** The resolved AgentDeps.netdevAbsentDevices. */
  private absent = false;
  /** The interface addresses the ruleset in force was resolved with. */
  private appliedAddresses = "";
  applied?: Applied;
  lastAttempt?: Attempt;
  applyCount = 0;
  failureCount = 0;
  /** Seconds per successful apply (build, check and apply). */
  readonly applyDurations = new Histogram(APPLY_BUCKETS);
  readonly drift: DriftState = { checks: 0, count: 0, repairs: 0 };
  private plan?: Plan;
  private running?: Promise<Attempt>;
  private queued?: Promise<Attempt>;
  /** What the queued attempt will do: the requests that coalesced into it. */
  private pending?: { reasons: string[]; force: boolean; restore: boolean };
  /** The applied ruleset as rendered, and as listed right after the apply (with handles). */
  private expected?: ExpectedTable[];
  private observed?: ExpectedTable[];
  private listing?: Promise<NftListing>;
  /** Drift repairs that restored the script in force because the new config was rejected. */
  private restores = 0;
  /** The config as last applied (or found unchanged), to say what the next apply changes. */
  private snap?: Snapshot;
  /** The warnings of the last attempt, as logged. */
  private warned = new Set<string>();
  /** The first attempt has looked at the kernel. */
  private started = false;
  /**
   * hostwall's tables found in the kernel at start, with the stamp an earlier agent wrote on
   * them; null when there were none, undefined when they could not be listed.
   */
  inKernel?: { tables: string[]; stamp?: TableStamp } | null;
  /** What the start did when the first config was rejected, for /status. */
  boot?: { action: "kept-kernel" | "last-good" | "failsafe" | "open" | "failed"; detail: string };

  constructor(private readonly deps: AgentDeps) {}

  /** Netdev chains are rendered for absent interfaces too (AgentDeps.netdevAbsentDevices); known after the first attempt. */
  get netdevAbsentDevices(): boolean {
    return this.absent;
  }

  /**
   * Runs an attempt now, or once more after the one in progress (any number of requests
   * during an attempt coalesce into one, which forces if any of them did). `force` applies
   * even when the script is unchanged (SIGHUP, POST /reload, drift repair); `restore` re-applies
   * the script in force when the new config is rejected (drift repair).
   */
  reload(reason: string, opts: { force?: boolean; restore?: boolean } = {}): Promise<Attempt> {
    if (!this.running) {
      this.running = this.attempt(reason, opts.force ?? false, opts.restore ?? false)
        .then((attempt) => {
          this.deps.onAttempt?.(attempt);
          return attempt;
        })
        .finally(() => {
          this.running = undefined;
        });
      return this.running;
    }
    if (this.pending) {
      if (!this.pending.reasons.includes(reason)) this.pending.reasons.push(reason);
      this.pending.force ||= opts.force ?? false;
      this.pending.restore ||= opts.restore ?? false;
    } else {
      this.pending = { reasons: [reason], force: opts.force ?? false, restore: opts.restore ?? false };
    }
    this.queued ??= this.running.then(() => {
      const next = this.pending!;
      this.pending = undefined;
      this.queued = undefined;
      return this.reload(next.reasons.join(", "), next);
    });
    return this.queued;
  }

  /** Whether the interfaces that matter changed since the last apply (netdev chains need their device). */
  interfacesChanged(): boolean {
    if (!this.applied || !this.plan) return false;
    if (!this.absent && interfaceKey(this.plan, this.deps.listInterfaces()) !== this.applied.interfaces.join(",")) return true;
    // Endpoints bound by expectedIPs follow addresses: re-resolve only when such an endpoint exists.
    return this.boundByAddress && addressKey(this.deps.listAddresses?.()) !== this.appliedAddresses;
  }

  /** True while an attempt runs or is queued. */
  get busy(): boolean {
    return this.running !== undefined || this.queued !== undefined;
  }

  /** Resolves when no attempt is running or queued (for a clean shutdown). */
  async idle(): Promise<void> {
    while (this.running || this.queued) await (this.queued ?? this.running)!.catch(() => undefined);
  }

  /**
   * Compares hostwall's live tables with what was applied (shape.ts) and repairs drift with a
   * forced re-apply. Skipped while an attempt runs: an apply replaces the tables anyway.
   */
  async checkDrift(): Promise<DriftCheck> {
    if (!this.applied || !this.expected) return { state: "skipped", why: "nothing applied yet" };
    if (!this.deps.runner.list) return { state: "skipped", why: "the nft runner cannot list" };
    if (this.running) return { state: "skipped", why: "an attempt is running" };
    const generation = this.generation;
    const live = await this.list();
    if (!live.ok) return { state: "skipped", why: `cannot list the ruleset: ${live.error}` };
    if (this.running || generation !== this.generation) return { state: "skipped", why: "an attempt ran meanwhile" };
    this.drift.checks++;
    const differences = findDrift(this.observed ?? this.expected, live.tables);
    if (differences.length === 0) return { state: "clean" };
    this.drift.count++;
    const at = this.deps.now().toISOString();
    const restores = this.restores;
    this.deps.logger.log("warning", `drift: the live hostwall tables differ from generation ${this.generation}: ${differences.join("; ")}; re-applying`);
    const attempt = await this.reload("drift repair", { force: true, restore: true });
    const repaired = attempt.ok || this.restores > restores;
    if (repaired) this.drift.repairs++;
    this.drift.last = { at, differences, repaired };
    return { state: "drift", differences, repaired };
  }

  /** Per-rule packet and byte counters of the ruleset in force, labelled by origin. */
  async ruleCounters(): Promise<RuleCounters> {
    if (!this.expected) return { ok: true, samples: [] };
    if (!this.deps.runner.list) return { ok: false, error: "the nft runner cannot list" };
    const live = await this.list();
    if (!live.ok) return live;
    return { ok: true, samples: ruleSamples(this.observed ?? this.expected, live.tables) };
  }

  /** One listing at a time; concurrent callers (scrapes, drift checks) share it. */
  private list(): Promise<NftListing> {
    this.listing ??= this.deps.runner
      .list!()
      .catch((e: Error): NftListing => ({ ok: false, error: e.message }))
      .finally(() => {
        this.listing = undefined;
      });
    return this.listing;
  }

  /**
   * Endpoints of the plan in force. `active`: its interface exists and the ruleset in force
   * enforces it (has its netdev chain); an interface that just appeared is inactive until
   * the re-apply it triggers is done, one that vanished is inactive at once.
   */
  endpoints(): EndpointStatus[] {
    const present = this.deps.listInterfaces();
    const enforced = new Set(this.applied?.interfaces ?? []);
    const attached = (name: string) => present.has(name) && (this.absent || enforced.has(name));
    return (this.plan?.endpoints ?? []).map((ep) => endpointStatus(ep, ep.interfaceName === WILDCARD || attached(ep.interfaceName)));
  }

  /**
   * One attempt. Whatever goes wrong inside (a bug in a stage, a spawn that throws) is a
   * failed attempt like a rejected config: reported, counted, and the ruleset in force stays
   * (or is restored, for a drift repair). It never escapes to the caller.
   */
  private async attempt(reason: string, force: boolean, restore: boolean): Promise<Attempt> {
    const at = this.deps.now().toISOString();
    try {
      return await this.tryAttempt(reason, force, restore, at);
    } catch (e) {
      const diag: Diagnostic = { code: "INTERNAL_ERROR", severity: "error", message: `the attempt failed unexpectedly: ${(e as Error).message}` };
      const attempt = this.fail([diag], `attempt failed (${reason})`, at, reason);
      if (restore && this.applied) await this.restoreApplied().catch((err: Error) => this.deps.logger.log("error", `cannot restore generation ${this.generation}: ${err.message}`));
      return attempt;
    }
  }

  private fail(diags: Diagnostic[], what: string, at: string, reason: string): Attempt {
    this.failureCount++;
    const kept = this.applied ? `generation ${this.generation} in force` : this.inKernel ? "the hostwall ruleset found in the kernel in force" : "no ruleset (none applied yet)";
    this.deps.logger.log("error", `${what}; keeping ${kept}`);
    for (const d of diags) if (d.severity === "error") this.deps.logger.log("error", formatDiagnostic(d));
    return (this.lastAttempt = { at, ok: false, reason, diagnostics: diags });
  }

  private async tryAttempt(reason: string, force: boolean, restore: boolean, at: string): Promise<Attempt> {
    const started = this.deps.clock();
    const first = !this.started;
    this.started = true;
    const [read] = await Promise.all([this.deps.readConfig(), first ? this.lookAtKernel() : undefined]);
    const interfaces = this.deps.listInterfaces();
    const addresses = this.deps.listAddresses?.();
    this.absent = (await this.deps.netdevAbsentDevices) ?? false;
    const built = buildRuleset({ files: read.files, readDiagnostics: read.diagnostics, node: this.deps.node, interfaces: this.absent ? undefined : interfaces, addresses });
    const diagnostics = [...read.diagnostics, ...built.diagnostics];
    const failAndRestore = async (diags: Diagnostic[], what: string): Promise<Attempt> => {
      const attempt = this.fail(diags, what, at, reason);
      // The attempt has failed and is counted once: what follows only logs its own failures.
      try {
        if (first && !this.applied) await this.bootFallback(interfaces);
        else if (restore && this.applied) await this.restoreApplied();
      } catch (e) {
        this.deps.logger.log("error", `cannot ${this.applied ? `restore generation ${this.generation}` : "enforce anything at start"}: ${(e as Error).message}`);
      }
      return attempt;
    };
    // Warnings are logged when they first appear, not again at every attempt with the same config.
    const warnings = new Set(diagnostics.filter((d) => d.severity === "warning").map(formatDiagnostic));
    for (const w of warnings) if (!this.warned.has(w)) this.deps.logger.log("warning", w);
    this.warned = warnings;
    if (hasErrors(diagnostics) || !built.script || !built.plan || !built.ruleset) return failAndRestore(diagnostics, `config rejected (${reason})`);

    const hash = scriptHash(built.script.text);
    const done = (source: AppliedSource, script: string, durationMs: number) => {
      this.plan = built.plan;
      this.boundByAddress = built.model.hostEndpoints.some((h) => h.interfaceName === undefined && h.node === this.deps.node);
      this.appliedAddresses = addressKey(addresses);
      this.applied = { source, at, hash, durationMs, resources: built.model.counts, script, interfaces: interfaceKey(built.plan!, interfaces).split(",") };
      this.expected = expectedTables(built.ruleset!);
    };
    const snap = snapshot(read.files, built.ruleset, built.plan.endpoints.map((ep) => `${ep.hep.meta.name}@${ep.interfaceName}`));
    const files = describeFiles(this.snap, snap);
    const wasRejected = this.lastAttempt?.ok === false;
    if (!force && this.applied?.hash === hash) {
      this.plan = built.plan;
      this.snap = snap;
      if (wasRejected) this.deps.logger.log("notice", `config valid again (${reason}${files ? `; ${files}` : ""}): generation ${this.generation} stays in force, nothing to change`);
      else if (files) this.deps.logger.log("info", `${reason} (${files}): the compiled ruleset is unchanged; nothing applied`);
      return (this.lastAttempt = { at, ok: true, reason, unchanged: true, diagnostics });
    }
    // A restarted agent whose tables are still in force with this very content adopts them:
    // nothing is sent to the kernel (a million-entry set is not loaded again), counters go on.
    const stamp = this.inKernel?.stamp;
    if (first && !force && stamp?.hash === hash && (await this.intact(expectedTables(built.ruleset)))) {
      done("kernel", stampScript(built.script.text, stamp), 0);
      this.deps.logger.log("info", `adopted generation ${this.generation} found in the kernel: its content equals the config (${built.plan.endpoints.length} endpoint(s)); nothing re-applied`);
      await this.observe();
      return (this.lastAttempt = { at, ok: true, reason, unchanged: true, diagnostics });
    }
    const script = stampScript(built.script.text, { generation: this.generation + 1, hash });
    for (const check of passes(script)) {
      const result = await this.deps.runner.apply(script, { check });
      if (!result.ok) {
        const errors = mapNftErrors(result.stderr, built.script.origins).map((e): Diagnostic => ({
          code: "NFT_REJECTED",
          severity: "error",
          message: `nft ${check ? "check" : "apply"} failed: ${e.message}${e.line ? ` (script line ${e.line}${e.origin ? `, from ${e.origin.id}` : ""})` : ""}`,
          file: e.origin?.file,
          line: e.origin?.line,
          column: e.origin?.column,
        }));
        return failAndRestore([...diagnostics, ...errors], `kernel rejected the ruleset (${reason})`);
      }
    }
    const durationMs = Math.round((this.deps.clock() - started) * 100) / 100;
    this.generation++;
    this.applyCount++;
    this.applyDurations.observe(durationMs / 1000);
    done("config", script, durationMs);
    const change = describeChange(this.snap, snap);
    const before = this.snap?.endpoints.length;
    this.snap = snap;
    this.deps.logger.log(wasRejected ? "notice" : "info", `${wasRejected ? "config valid again: " : ""}applied generation ${this.generation} (${reason}${files ? `; ${files}` : ""}): ${change}; ${script.length} bytes, ${durationMs} ms`);
    const enforced = built.plan.endpoints.length;
    if (enforced === 0) this.deps.logger.log("warning", `generation ${this.generation} enforces no endpoint on node ${this.deps.node}: nothing is protected (see the NO_ENDPOINT_ON_NODE warning, or hostwall plan)`);
    else if (before !== undefined && enforced < before) this.deps.logger.log("warning", `generation ${this.generation} enforces ${enforced} endpoint(s), ${before - enforced} fewer than before`);
    await this.observe();
    await this.saveLastGood();
    return (this.lastAttempt = { at, ok: true, reason, diagnostics });
  }

  /** At start: which hostwall tables the kernel holds, and the stamp an earlier agent wrote on them. */
  private async lookAtKernel(): Promise<void> {
    if (!this.deps.runner.tables) return;
    const r = await this.deps.runner.tables();
    if (!r.ok) {
      this.deps.logger.log("warning", `cannot list the ruleset to see what is in force: ${r.error}`);
      return;
    }
    const ours = [`netdev ${TABLE}`, `inet ${TABLE}`].filter((t) => r.tables.has(t));
    const stamps = ours.map((t) => parseStamp(r.tables.get(t)));
    const stamp = stamps.length === 2 && stamps[0] && stamps[1] && stamps[0].hash === stamps[1].hash && stamps[0].generation === stamps[1].generation ? stamps[0] : undefined;
    // Both tables, or it is not a ruleset in force (someone deleted one half).
    this.inKernel = ours.length === 2 ? { tables: ours, stamp } : null;
    if (stamp) this.generation = Math.max(this.generation, stamp.generation);
    if (this.inKernel) this.deps.logger.log("info", `found hostwall's tables in the kernel: ${stamp ? `generation ${stamp.generation}, hash ${stamp.hash}` : "without a stamp (written by an older hostwall)"}`);
  }

  /** Whether the live tables have exactly the structure of `expected` (no drift), for adopting them. */
  private async intact(expected: ExpectedTable[]): Promise<boolean> {
    if (!this.deps.runner.list) return false;
    const live = await this.list();
    return live.ok && findDrift(expected, live.tables).length === 0;
  }

  /**
   * The first config was rejected and nothing of this run is in force. Fail safe, in order:
   * keep hostwall's tables if the kernel holds them; else apply the last good ruleset from the
   * state dir; else apply the failsafe-only ruleset if --boot-policy failsafe; else nothing.
   */
  private async bootFallback(interfaces: Set<string>): Promise<void> {
    const log = this.deps.logger;
    let saved: LastGood | undefined;
    try {
      saved = await this.deps.state?.load();
    } catch (e) {
      log.log("warning", `cannot use the last good ruleset: ${(e as Error).message}`);
    }
    const stamp = this.inKernel?.stamp;
    if (this.inKernel) {
      const same = saved && stamp && saved.hash === stamp.hash;
      if (same) {
        this.adoptRecord(saved!, "kernel");
        await this.observe();
      }
      const detail = `the hostwall ruleset found in the kernel (${stamp ? `generation ${stamp.generation}` : "unstamped"}) stays in force${same ? "" : "; it is not the saved last good ruleset, so drift cannot be repaired until a config applies"}`;
      this.boot = { action: "kept-kernel", detail };
      log.log("warning", detail);
      return;
    }
    if (saved) {
      if (await this.applyScript(saved.script, `the last good ruleset from ${this.deps.state!.path}`)) {
        this.generation = Math.max(this.generation, saved.generation);
        this.adoptRecord(saved, "last-good");
        await this.observe();
        this.boot = { action: "last-good", detail: `applied the last good ruleset (generation ${saved.generation} of ${saved.at}) from ${this.deps.state!.path}` };
        log.log("warning", `${this.boot.detail}; fix the config to replace it`);
        return;
      }
    }
    if (this.deps.bootPolicy === "failsafe") {
      const built = buildFailsafeRuleset(this.deps.node, this.absent ? undefined : interfaces);
      if (built.script && built.ruleset && built.plan) {
        const hash = scriptHash(built.script.text);
        const script = stampScript(built.script.text, { generation: this.generation + 1, hash });
        if (await this.applyScript(script, "the failsafe-only ruleset")) {
          this.generation++;
          this.plan = built.plan;
          this.applied = { source: "failsafe", at: this.deps.now().toISOString(), hash, durationMs: 0, resources: {}, script, interfaces: interfaceKey(built.plan, interfaces).split(",") };
          this.expected = expectedTables(built.ruleset);
          await this.observe();
          this.boot = { action: "failsafe", detail: "applied the failsafe-only ruleset (--boot-policy failsafe): failsafe ports open on every interface but lo, everything else denied" };
          log.log("warning", this.boot.detail);
          return;
        }
      }
      this.boot = { action: "failed", detail: "the failsafe-only ruleset could not be applied; nothing is enforced" };
      log.log("error", this.boot.detail);
      return;
    }
    this.boot = { action: "open", detail: `nothing is enforced: no hostwall ruleset in the kernel, no usable last good ruleset${this.deps.state ? ` in ${this.deps.state.path}` : ""}, and --boot-policy is open` };
    log.log("error", this.boot.detail);
  }

  private adoptRecord(saved: LastGood, source: AppliedSource): void {
    this.applied = { source, at: saved.at, hash: saved.hash, durationMs: 0, resources: saved.resources, script: saved.script, interfaces: saved.interfaces };
    this.expected = saved.expected;
  }

  /** Checks and applies a whole script; false (logged) when nft refuses it. */
  private async applyScript(script: string, what: string): Promise<boolean> {
    for (const check of passes(script)) {
      const result = await this.deps.runner.apply(script, { check });
      if (!result.ok) {
        this.deps.logger.log("error", `cannot apply ${what}: nft ${check ? "check" : "apply"} failed: ${result.stderr.trim().split("\n")[0]}`);
        return false;
      }
    }
    return true;
  }

  /** Keeps the ruleset just applied as the last good one; a failure is a warning, the apply stands. */
  private async saveLastGood(): Promise<void> {
    const a = this.applied;
    if (!this.deps.state || !a || !this.expected) return;
    try {
      await this.deps.state.save({ format: 1, node: this.deps.node, generation: this.generation, hash: a.hash, at: a.at, script: a.script, expected: this.expected, resources: a.resources, interfaces: a.interfaces });
    } catch (e) {
      this.deps.logger.log("warning", `cannot save the last good ruleset to ${this.deps.state.path}: ${(e as Error).message}; a restart with a rejected config will not find it`);
    }
  }

  /**
   * Lists the tables just applied and keeps them as the drift reference. If the listing does
   * not match the rendered structure, the listing still becomes the reference (nft may print
   * a comment differently), and the log says so once per apply.
   */
  private async observe(): Promise<void> {
    this.observed = undefined;
    if (!this.deps.runner.list || !this.expected) return;
    const live = await this.list();
    if (!live.ok) {
      this.deps.logger.log("warning", `cannot list the applied tables (drift check falls back to their rendered structure): ${live.error}`);
      return;
    }
    const differences = findDrift(this.expected, live.tables);
    if (differences.length > 0) this.deps.logger.log("warning", `the tables listed right after the apply differ from the rendered script: ${differences.join("; ")}`);
    this.observed = observedTables(this.expected, live.tables);
  }

  /** Re-applies the script in force (a drift repair whose new config was rejected). */
  private async restoreApplied(): Promise<void> {
    if (!(await this.applyScript(this.applied!.script, `generation ${this.generation} again`))) return;
    this.restores++;
    this.deps.logger.log("notice", `restored the ruleset of generation ${this.generation} (the config on disk was rejected)`);
    await this.observe();
  }
}

/**
 * Scripts up to this size get a dry run (`nft -c`) before the real apply. The apply is one
 * transaction either way, so a rejected script never changes the live tables; the dry run
 * only costs as much as the apply itself, which for million-element sets is seconds, so big
 * scripts go straight to the (equally atomic) apply.
 */
export const DRY_RUN_MAX_BYTES = 4 * 1024 * 1024;

function passes(script: string): boolean[] {
  return script.length > DRY_RUN_MAX_BYTES ? [false] : [true, false];
}

/** A stable text form of the interface addresses, to notice changes. */
function scriptHash(script: string): string {
  return createHash("sha256").update(script).digest("hex").slice(0, 16);
}

function addressKey(addresses: Map<string, Cidr[]> | undefined): string {
  if (!addresses) return "";
  return [...addresses.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, list]) => `${n}=${list.map(formatCidr).sort().join(",")}`).join(";");
}

function interfaceKey(plan: Plan, present: ReadonlySet<string>): string {
  return plan.endpoints.filter((ep) => present.has(ep.interfaceName)).map((ep) => ep.interfaceName).join(",");
}

function endpointStatus(ep: EndpointPlan, active: boolean): EndpointStatus {
  const { policies, profiles } = endpointNames(ep);
  return { name: ep.hep.meta.name, interface: ep.interfaceName, active, policies, profiles };
}
