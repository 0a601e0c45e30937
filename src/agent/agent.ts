/**
 * The agent's state machine: load → build → check → apply, one attempt at a time.
 *
 * All or nothing (DESIGN.md §5): an attempt applies only when every file is valid and the
 * kernel accepted the script in a dry run (`nft -c`); otherwise the last good ruleset stays
 * in force and the attempt's diagnostics are kept for /status. Reloads are serialised: a
 * request that arrives during an attempt schedules exactly one more attempt afterwards.
 * Files, interfaces, time and nft are injected, so the loop is tested with fakes.
 *
 * After each apply the agent lists its tables once and keeps that listing as the reference
 * for the drift check and the rule counters (tables.ts). A drift repair re-applies with force;
 * if the config has become invalid meanwhile, it restores the last good script instead, so an
 * outside `nft flush ruleset` never leaves the host open because somebody is half-way through
 * an edit. What the first attempt does about the kernel's tables, and when its config is
 * rejected, is boot.ts; the agent's types are types.ts.
 */
import { removeStaleTrace } from "./trace-cleanup.ts";
import { TRACE_TABLE } from "../trace/table.ts";
import { traceServer, type TraceContext } from "../trace/serve.ts";
import { formatCidr } from "../model/cidr.ts";
import type { Model } from "../model/types.ts";
import { formatDiagnostic, hasErrors, type Diagnostic } from "../diagnostics/diagnostic.ts";
import { buildRuleset, forgetIncrementalState, lapTimer, releaseAfterApply } from "../pipeline.ts";
import { readDrops } from "./drops.ts";
import { endpointNames, WILDCARD, type EndpointPlan, type Plan } from "../resolve/resolve.ts";
import type { NftRuleset } from "../nft/ir.ts";
import { renderScript, scriptChunks, stampScript, type RenderedScript } from "../nft/render.ts";
import { rulesetHash } from "../nft/ruleset-hash.ts";
import { addressKey, applyScript, describeSent, interfaceKey, newEngineState, nftRejections, sendRuleset, sendScript } from "./apply.ts";
import { formatStages, type Stages } from "./stages.ts";
import { ConfirmWindow, mergeRequests, type InForce } from "./confirm.ts";
import { diffRulesets, type DiffDocument } from "../diff/diff.ts";
import { rulesetView } from "../diff/view.ts";
import { kernelView, normalisedView } from "../diff/kernel.ts";
import { lockoutGate } from "./lockout.ts";
import { adoptAsRecorded, adoptionBase, bootFallback, lookAtKernel, stampOf, type Adopted } from "./boot.ts";
import { buildIdentity, configDigest } from "./config-digest.ts";
import { RecordWriter, type RecordHead, type SavedEndpoint } from "./state.ts";
import { adoptionRecord } from "../nft/delta-adopt.ts";
import { computeDelta } from "../nft/delta.ts";
import { findSetDrift } from "./set-drift.ts";
import type { TableStamp } from "../nft/render.ts";
import { describeChange, describeFiles, snapshot, type Snapshot } from "./change.ts";
import { APPLY_BUCKETS, Histogram } from "./metrics.ts";
import { expectedTables } from "./shape.ts";
import { coldRefillDue, collectAfterEdits, refillSpare } from "../spares.ts";
import { prepareSpareBuffer } from "../source/source-file.ts";
import { AppliedTables } from "./tables.ts";
import type { AgentDeps, Applied, ApplyRequest, Attempt, BootRecord, DriftCheck, DriftState, EndpointStatus, InKernel, RuleCounters } from "./types.ts";

/** How long after the last attempt (its spares made) the garbage of big-list edits is collected. */
const QUIET_COLLECT_MS = 1000;

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
  /** Deltas, full replaces and refused deltas (apply.ts sendRuleset). */
  readonly engine = newEngineState();
  /**
   * The IR of the ruleset in force, when this agent put it there from a config: the next apply
   * sends the difference to it (nft/delta.ts). Undefined before the first apply and after the
   * start adopted or restored a ruleset it has no IR of (the next apply is then a full replace).
   */
  irInForce?: NftRuleset;
  /** Of the drifts found, those in set contents (set-drift.ts), for /metrics. */
  setDrifts = 0;
  /** The stamp on hostwall's tables as the start reads it: the table comment of a full replace, or a delta's stamp counter (nft/delta.ts). */
  private tableStamp?: TableStamp;
  /** Confirm or revert (confirm.ts): the provisional apply pending, how the last window ended. */
  readonly confirm: ConfirmWindow<InForce>;
  private plan?: Plan;
  private running?: Promise<Attempt>;
  private queued?: Promise<Attempt>;
  /** What the queued attempt will do: the requests that coalesced into it. */
  private pending?: { reasons: string[]; force: boolean; restore: boolean; request?: ApplyRequest };
  /** The applied tables as rendered and as listed: the drift reference. */
  private readonly tables: AppliedTables;
  /** The last good record of the ruleset in force is still to be written (tryAttempt). */
  private saveOwed = false;
  /** Writes the last good records, one at a time, newest wins. */
  private readonly records = new RecordWriter();
  /** The config ruleset `applied` was put in force from, with its stamp: the record's script is rendered from it in pieces. */
  private appliedFrom?: { applied: Applied; ruleset: NftRuleset; stamp: TableStamp; config?: () => string };
  /**
   * The start adopted the kernel's tables on the record alone (its config digest is this one,
   * config-digest.ts): ready without the IR, plan or model, which the build queued right after
   * it provides (unchanged path of tryAttempt); `owed`: that build is still to be queued.
   */
  private unbuilt?: { digest: string; owed: boolean };
  /** Drift repairs that restored the script in force because the new config was rejected. */
  private restores = 0;
  /** The config as last applied (or found unchanged), to say what the next apply changes. */
  private snap?: Snapshot;
  /** The next step of preparing spare arrays (refillSpares), when one is scheduled. */
  private refilling?: ReturnType<typeof setTimeout>;
  /** The collection after a pause in edits (collectWhenQuiet), when one is scheduled. */
  private quiet?: ReturnType<typeof setTimeout>;
  /** An attempt failed on an internal error and was run again from nothing; cleared by one that succeeds. */
  private retriedFromNothing = false;
  /** The warnings of the last attempt, as logged. */
  private warned = new Set<string>();
  /** The first attempt has looked at the kernel. */
  private started = false;
  /**
   * hostwall's tables found in the kernel at start, with the stamp an earlier agent wrote on
   * them; null when there were none, undefined when they could not be listed.
   */
  inKernel?: InKernel | null;
  /** What the start did when the first config was rejected, for /status. */
  boot?: BootRecord;
  /** The endpoints of a ruleset restored at start (no plan of it here), as saved with it. */
  private restoredEndpoints?: SavedEndpoint[];
  /** The model of the last successful attempt: GET /trace maps and self-checks with it (no config read per request). */
  model?: Model;

  constructor(private readonly deps: AgentDeps) {
    this.tables = new AppliedTables(deps.runner, deps.logger);
    this.confirm = new ConfirmWindow<InForce>({ logger: deps.logger, now: () => deps.now(), changesWindowMs: deps.confirmChangesMs, revert: (b, why, due) => this.revertTo(b, why, due), confirmed: () => this.saveLastGood() });
  }

  /** Which nft backend sends the scripts, and why not the library when it is not. */
  get nftBackend(): { backend: string; note?: string } {
    const r = this.deps.runner;
    return { backend: r.backend ?? "custom", ...(r.backendNote ? { note: r.backendNote } : {}) };
  }

  /** Netdev chains are rendered for absent interfaces too (AgentDeps.netdevAbsentDevices); known after the first attempt. */
  get netdevAbsentDevices(): boolean {
    return this.absent;
  }

  /**
   * Runs an attempt now, or once more after the one in progress (any number of requests
   * during an attempt coalesce into one, which forces if any of them did). `force` applies
   * even when the script is unchanged (drift repair, a re-created interface on old kernels; SIGHUP
   * and POST /reload do not force: an unchanged result keeps its counters); `restore` re-applies
   * the script in force when the new config is rejected (drift repair).
   */
  reload(reason: string, opts: { force?: boolean; restore?: boolean; request?: ApplyRequest } = {}): Promise<Attempt> {
    if (!this.running) {
      this.running = this.attempt(reason, opts.force ?? false, opts.restore ?? false, opts.request)
        .then((attempt) => {
          // Its stages have read what each made from the last attempt's lists: the earlier generation and the big lists' values can go.
          if (attempt.ok) releaseAfterApply();
          this.deps.onAttempt?.(attempt);
          this.afterInternalError(attempt, reason, opts);
          return attempt;
        })
        .finally(() => {
          this.running = undefined;
          this.refillSpares();
        });
      return this.running;
    }
    if (this.pending) {
      if (!this.pending.reasons.includes(reason)) this.pending.reasons.push(reason);
      this.pending.force ||= opts.force ?? false;
      this.pending.restore ||= opts.restore ?? false;
      this.pending.request = mergeRequests(this.pending.request, opts.request);
    } else {
      this.pending = { reasons: [reason], force: opts.force ?? false, restore: opts.restore ?? false, request: opts.request };
    }
    this.queued ??= this.running.then(() => {
      const next = this.pending!;
      this.pending = undefined;
      this.queued = undefined;
      return this.reload(next.reasons.join(", "), next);
    });
    return this.queued;
  }

  /**
   * An attempt that failed on a bug (INTERNAL_ERROR) may have failed on what the incremental
   * stages kept from earlier builds: they are dropped, and the attempt runs once more from
   * nothing (queued behind this one). A second internal error in a row is left as it is (the
   * last good ruleset stays in force, as after any failure); a success re-arms the retry.
   */
  private afterInternalError(attempt: Attempt, reason: string, opts: { force?: boolean; restore?: boolean; request?: ApplyRequest }): void {
    if (attempt.ok) {
      this.retriedFromNothing = false;
      return;
    }
    if (!attempt.diagnostics.some((d) => d.code === "INTERNAL_ERROR")) return;
    forgetIncrementalState();
    if (this.retriedFromNothing) {
      this.deps.logger.log("error", "an internal error again after a build from nothing: not retried; the next change or reload tries again");
      return;
    }
    this.retriedFromNothing = true;
    this.deps.logger.log("warning", "an internal error: what earlier builds kept is dropped, and the attempt runs again from nothing");
    void this.reload(`${reason}; again from nothing after an internal error`, opts);
  }

  /** The state store writes a record whose script comes in pieces (state.ts saveStreamed): then it can be written in the background. */
  private get streamsRecords(): boolean {
    return this.deps.state?.saveStreamed !== undefined;
  }

  /** Whether the interfaces that matter changed since the last apply (netdev chains need their device). */
  interfacesChanged(): boolean {
    if (!this.applied || !this.plan) return false;
    if (!this.absent && interfaceKey(this.plan, this.deps.listInterfaces()) !== this.applied.interfaces.join(",")) return true;
    // Endpoints bound by expectedIPs follow addresses: re-resolve only when such an endpoint exists.
    return this.boundByAddress && addressKey(this.deps.listAddresses?.()) !== this.appliedAddresses;
  }

  /**
   * Prepares the spare arrays the next edit's patches take (spares.ts: ~23 ms each at a million
   * items, the page faults an edit would otherwise pay) and the buffer its read takes
   * (source-file.ts prepareSpareBuffer), one per turn of the event loop and only
   * while no attempt runs or waits: an attempt that comes meanwhile waits for one spare at most,
   * and schedules the rest again when it ends.
   */
  private refillSpares(): void {
    if (this.refilling) return;
    this.refilling = setTimeout(() => {
      this.refilling = undefined;
      if (this.busy) return;
      // After a build from nothing the refill collects first: after the record of that build is
      // written, so its garbage goes too (MEASURED at 1M: ~40 MB, the peak of a start otherwise).
      if (coldRefillDue() && this.records.writing) {
        const again = () => this.refillSpares();
        void this.records.idle().then(again, again);
        return;
      }
      if (prepareSpareBuffer() || refillSpare()) this.refillSpares();
      else this.collectWhenQuiet();
    }, 0);
    this.refilling.unref?.();
  }

  /**
   * Once the spares are ready, and no attempt came for QUIET_COLLECT_MS, collects the garbage an
   * edit of a big list left (spares.ts collectAfterEdits): a burst of edits pays no collection,
   * and one follows the burst.
   */
  private collectWhenQuiet(): void {
    // Every attempt ends by refilling, which comes here again: the timer restarts after each.
    clearTimeout(this.quiet);
    this.quiet = setTimeout(() => {
      this.quiet = undefined;
      if (!this.busy) collectAfterEdits();
    }, QUIET_COLLECT_MS);
    this.quiet.unref?.();
  }

  /** True while an attempt runs or is queued. */
  get busy(): boolean {
    return this.running !== undefined || this.queued !== undefined;
  }

  /** Resolves when no attempt is running or queued (for a clean shutdown). */
  async idle(): Promise<void> {
    while (this.running || this.queued) await (this.queued ?? this.running)!.catch(() => undefined);
    await this.records.idle();
  }

  /**
   * Compares hostwall's live tables with what was applied (shape.ts) and repairs drift with a
   * forced re-apply. Skipped while an attempt runs: an apply replaces the tables anyway.
   */
  async checkDrift(): Promise<DriftCheck> {
    if (!this.applied || !this.tables.expected) return { state: "skipped", why: "nothing applied yet" };
    if (!this.deps.runner.list) return { state: "skipped", why: "the nft runner cannot list" };
    if (this.running) return { state: "skipped", why: "an attempt is running" };
    const generation = this.generation;
    const live = await this.tables.list();
    if (!live.ok) return { state: "skipped", why: `cannot list the ruleset: ${live.error}` };
    // The agent's own pid holds the table while it serves GET /trace: not stale then.
    if (live.tables.some((t) => t.name === TRACE_TABLE) && !traceServer(this).busy) await removeStaleTrace(this.deps.runner, this.deps.logger);
    if (this.running || generation !== this.generation) return { state: "skipped", why: "an attempt ran meanwhile" };
    this.drift.checks++;
    const differences = this.tables.drift(live.tables);
    if (differences.length === 0) return this.checkSetContents(generation);
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

  /**
   * The structure is clean: compare set contents (set-drift.ts) and refill drifted sets from
   * the IR in force, as one attempt (so no apply runs between the comparison and the repair).
   */
  private async checkSetContents(generation: number): Promise<DriftCheck> {
    const ir = this.irInForce;
    if (!ir) return { state: "clean" };
    const found = await findSetDrift(this.deps.runner, ir, this.drift.checks);
    for (const e of found.errors) this.deps.logger.log("warning", `drift check: cannot list ${e}`);
    if (found.drifted.length === 0) return { state: "clean" };
    if (this.running || generation !== this.generation || ir !== this.irInForce) return { state: "skipped", why: "an attempt ran meanwhile" };
    const differences = found.drifted.map((d) => `set ${d.key}: ${d.missing} element(s) missing, ${d.extra} unexpected`);
    this.drift.count++;
    this.setDrifts++;
    const at = this.deps.now().toISOString();
    this.deps.logger.log("warning", `drift: set contents differ from generation ${this.generation}: ${differences.join("; ")}; refilling them`);
    const repair = (async () => {
      const plan = computeDelta(ir, ir, { refill: new Set(found.drifted.map((d) => d.key)) });
      if (plan.kind !== "delta") return false;
      const sent = await sendScript(this.deps.runner, plan.script.text);
      if (!sent.ok) this.deps.logger.log("error", `cannot refill the drifted sets: nft ${sent.check ? "check" : "apply"} failed: ${sent.stderr.trim().split("\n")[0]}`);
      return sent.ok;
    })();
    // Held as the running attempt: reloads queue behind the repair.
    this.running = repair.then(() => this.lastAttempt!).finally(() => {
      this.running = undefined;
    });
    const repaired = await repair;
    if (repaired) this.drift.repairs++;
    this.drift.last = { at, differences, repaired };
    return { state: "drift", differences, repaired };
  }

  /** What GET /trace needs: the last good model, this node, the interfaces and their addresses now. */
  traceContext(): TraceContext | undefined {
    if (!this.model) return undefined;
    const addresses = this.deps.listAddresses?.() ?? new Map();
    return { model: this.model, node: this.deps.node, interfaces: [...this.deps.listInterfaces()], interfaceAddresses: Object.fromEntries([...addresses].map(([name, list]) => [name, list.map(formatCidr)])) };
  }

  /** Per-rule packet and byte counters of the ruleset in force, labelled by origin. */
  ruleCounters(): Promise<RuleCounters> {
    return this.tables.counters();
  }

  /** What each Deny rule of the ruleset in force dropped, and from where (run --drop-summaries; drops.ts). */
  drops(top: number): ReturnType<typeof readDrops> {
    return readDrops(this.deps.runner, this.irInForce, this.deps.dropSummaries ?? false, top);
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
    if (!this.plan && this.restoredEndpoints) return this.restoredEndpoints.map((ep) => ({ ...ep, active: ep.interface === WILDCARD || attached(ep.interface) }));
    return (this.plan?.endpoints ?? []).map((ep) => endpointStatus(ep, ep.interfaceName === WILDCARD || attached(ep.interfaceName)));
  }

  /**
   * One attempt. Whatever goes wrong inside (a bug in a stage, a spawn that throws) is a
   * failed attempt like a rejected config: reported, counted, and the ruleset in force stays
   * (or is restored, for a drift repair). It never escapes to the caller.
   */
  private async attempt(reason: string, force: boolean, restore: boolean, request: ApplyRequest = {}): Promise<Attempt> {
    const at = this.deps.now().toISOString();
    try {
      const attempt = await this.tryAttempt(reason, force, restore, at, request);
      // Adopted on the record alone: compiled next, an edit or reload meanwhile queues behind it.
      if (this.unbuilt?.owed) {
        this.unbuilt.owed = false;
        void this.reload("startup: compiling the adopted config");
      }
      // A record an earlier attempt left to this one (no further attempt queued now): what is in force.
      if (this.saveOwed && !this.pending && !this.confirm.pending) await this.saveLastGood(this.streamsRecords);
      return attempt;
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

  private async tryAttempt(reason: string, force: boolean, restore: boolean, at: string, request: ApplyRequest): Promise<Attempt> {
    const started = this.deps.clock();
    // The per-stage split of the log line, when the deps give a clock for it (stages.ts).
    const stageClock = this.deps.stageClock?.bind(this.deps);
    const clock = stageClock ?? (() => 0);
    const stagesFrom = clock();
    const first = !this.started;
    this.started = true;
    const build = this.deps.build ?? buildIdentity();
    // The record, read beside the config for a start that may adopt on it alone (below); its script is not decoded.
    const head = first && !force && !request.explicit && build !== undefined ? this.deps.state?.loadHead?.().catch(() => undefined) : undefined;
    const [read] = await Promise.all([this.deps.readConfig(), first ? this.lookAtKernel() : undefined, head]);
    const interfaces = this.deps.listInterfaces();
    const addresses = this.deps.listAddresses?.();
    this.absent = (await this.deps.netdevAbsentDevices) ?? false;
    // Where the attempt's time goes, stage by stage, for its log line (stages.ts).
    const stages: Stages = [["read", clock() - stagesFrom]];
    // What the config digest (config-digest.ts) is computed from, computed at most once: at start, and for the last good record (in its background write).
    let digested: string | undefined;
    // Taken now: the digest may be computed later (the record's write), when the live sets have moved on.
    const [absent, ifaces, addrs] = [this.absent, new Set(interfaces), addresses && new Map(addresses)];
    const digest = build === undefined ? undefined : () => (digested ??= configDigest({ build, node: this.deps.node, dropSummaries: this.deps.dropSummaries ?? false, absent, interfaces: ifaces, addresses: addrs, files: read.files, diagnostics: read.diagnostics }));
    // A restart with the config the record was compiled from, its tables in the kernel as recorded: ready now, compiled next.
    if (first && !force && !request.explicit && digest && !hasErrors(read.diagnostics)) {
      const quick = await this.adoptAsRecorded(at, reason, digest, clock() - stagesFrom, head);
      if (quick) return quick;
    }
    // No script: a delta never needs it; the whole script is rendered only to be sent or kept.
    const built = buildRuleset({ files: read.files, readDiagnostics: read.diagnostics, node: this.deps.node, dropSummaries: this.deps.dropSummaries, interfaces: this.absent ? undefined : interfaces, addresses, noScript: true, dropValues: true, clock: stageClock });
    const t = built.timings;
    if (t) stages.push(["parse+validate", t.parse], ["resolve", t.resolve], ["lint", t.lint], ["compile", t.compile]);
    const diagnostics = [...read.diagnostics, ...built.diagnostics];
    const failAndRestore = async (diags: Diagnostic[], what: string): Promise<Attempt> => {
      const attempt = this.fail(diags, what, at, reason);
      // The attempt has failed and is counted once: what follows only logs its own failures.
      try {
        if (first && !this.applied) this.boot = await bootFallback({ deps: this.deps, inKernel: this.inKernel, generation: this.generation, absent: this.absent, interfaces, adopt: (a) => this.adopt(a) });
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
    if (hasErrors(diagnostics) || !built.plan || !built.ruleset) return failAndRestore(diagnostics, `config rejected (${reason})`);

    const ruleset = built.ruleset;
    const since = lapTimer(clock);
    // The content hash follows a change of a few set elements in the time the change takes (ruleset-hash.ts).
    const hash = rulesetHash(ruleset);
    stages.push(["hash", since()]);
    const snap = snapshot(read.files, ruleset, built.plan.endpoints.map((ep) => `${ep.hep.meta.name}@${ep.interfaceName}`));
    const files = describeFiles(this.snap, snap);
    stages.push(["snapshot", since()]);
    const wasRejected = this.lastAttempt?.ok === false;
    if (!force && this.applied?.hash === hash) {
      if (this.unbuilt) this.takeBuilt(ruleset, built.model, addresses, started);
      this.plan = built.plan;
      this.model = built.model;
      this.snap = snap;
      if (wasRejected) this.deps.logger.log("notice", `config valid again (${reason}${files ? `; ${files}` : ""}): generation ${this.generation} stays in force, nothing to change`);
      else if (files) this.deps.logger.log("info", `${reason} (${files}): the compiled ruleset is unchanged; nothing applied`);
      return (this.lastAttempt = { at, ok: true, reason, unchanged: true, diagnostics });
    }
    // A config reverted for want of a confirmation is not put back by the watcher, a link
    // change or a drift repair (which restores what is in force): only by an edit or a reload.
    if (hash === this.confirm.revertedHash && !request.explicit) {
      if (force && this.applied) await this.restoreApplied();
      this.deps.logger.log("info", `${reason}: the config on disk is the one reverted for want of a confirmation; not applied again (edit it, or hostwall reload)`);
      return (this.lastAttempt = { at, ok: true, reason, unchanged: true, diagnostics });
    }
    // Would it cut a live session (lockout.ts)? Refused unless allowed or provisional.
    const windowMs = this.applied ? this.confirm.windowFor(reason, request.confirmMs) : undefined;
    const allowed = windowMs !== undefined ? `a confirm window of ${windowMs / 1000} s is in use` : request.allowLockout || this.deps.allowLockout ? "--allow-lockout" : undefined;
    // The daemon's start (nothing applied yet, nobody asked) is not checked: what the kernel holds is unknown, and a refusal would keep it.
    const gate = this.applied?.hash === hash || (!this.applied && !request.explicit) ? undefined : lockoutGate({ model: built.model, node: this.deps.node, addresses: addresses ?? new Map(), table: this.deps.liveSessions?.(), extra: request.sessions, allowed, before: this.model });
    for (const d of gate?.diagnostics ?? []) if (d.severity === "warning") this.deps.logger.log("warning", formatDiagnostic(d));
    diagnostics.push(...(gate?.diagnostics ?? []));
    if (gate?.refuse) return failAndRestore(diagnostics, `lockout check refused the ruleset (${reason})`);
    const baseline = windowMs !== undefined ? this.captureInForce() : undefined;
    // Applies are deltas of the IR in force (or the full script when refused, forced or first).
    // The stamp alone says nothing of a rule replaced in place (same comment, same handle), so a
    // restarted agent adopts the kernel's tables only where the listed rules' digests match the
    // record (boot.ts adoptionBase); elsewhere it rewrites.
    const adopted = (first || this.unbuilt) && !force && !this.irInForce && this.deps.runner.deltas ? await adoptionBase(this.deps, this.inKernel, () => this.tables.list(), built.ruleset) : undefined;
    if (adopted) this.generation = Math.max(this.generation, adopted.generation);
    const stamp = { generation: this.generation + 1, hash };
    // The whole script, stamped, only when it is sent (first apply, forced, refused delta).
    let full: RenderedScript | undefined;
    const fullScript = () => (full ??= renderScript(ruleset, stamp));
    // The lockout check, and at start the adoption of the kernel's tables.
    stages.push(["checks", since()]);
    let sent;
    try {
      sent = await sendRuleset(this.deps.runner, this.deps.logger, this.engine, { inForce: adopted?.from ?? this.irInForce, unknown: adopted?.unknown, next: ruleset, full: () => fullScript().text, force, stamp, clock: stageClock });
    } catch (e) {
      // A bug in the delta or the renderer (it refuses what it should never have been given): a rejected config, never a crash.
      return failAndRestore([...diagnostics, { code: "INTERNAL_ERROR", severity: "error", message: `hostwall cannot render this config (a bug, please report it): ${(e as Error).message}; nothing is applied` }], `config rejected (${reason})`);
    }
    if (!sent.ok) return failAndRestore([...diagnostics, ...nftRejections(sent.stderr, fullScript().origins, sent.check)], `kernel rejected the ruleset (${reason})`);
    full = undefined; // not kept: Applied.script renders it again when asked (14 MB at 1M elements)
    if (sent.timings) stages.push(["delta", sent.timings.delta], ["render", sent.timings.render], ["send", sent.timings.send]);
    this.irInForce = ruleset;
    this.unbuilt = undefined;
    // A delta writes its stamp on the tables' stamp counter; one with nothing to send leaves the stamp as it was.
    if (sent.mode === "full") this.tableStamp = stamp;
    else if (sent.bytes > 0) this.tableStamp = stamp;
    else if (adopted) this.tableStamp = this.inKernel?.stamp;
    const durationMs = Math.round((this.deps.clock() - started) * 100) / 100;
    this.generation++;
    this.applyCount++;
    this.applyDurations.observe(durationMs / 1000);
    this.plan = built.plan;
    this.model = built.model;
    this.boundByAddress = built.model.hostEndpoints.some((h) => h.interfaceName === undefined && h.node === this.deps.node);
    this.appliedAddresses = addressKey(addresses);
    // The script in force is rendered when asked (GET /ruleset, a restore, the last good record), not kept.
    this.applied = {
      source: "config",
      at,
      hash,
      durationMs,
      resources: built.model.counts,
      get script() {
        return renderScript(ruleset, stamp).text;
      },
      interfaces: interfaceKey(built.plan, interfaces).split(","),
    };
    this.appliedFrom = { applied: this.applied, ruleset, stamp, config: digest };
    // What follows runs after the kernel has the ruleset: it is the line's "after" part, not the apply's time.
    since();
    const after: Stages = [];
    this.tables.expected = expectedTables(ruleset);
    const change = describeChange(this.snap, snap);
    after.push(["describe", since()]);
    const before = this.snap?.endpoints.length;
    this.snap = snap;
    await this.tables.observe();
    after.push(["observe", since()]);
    if (baseline) this.confirm.open({ baseline, baselineGeneration: baseline.generation, generation: this.generation, windowMs: windowMs!, reason });
    // A provisional ruleset is not the last good one until it is confirmed. The record is
    // written after the kernel has the ruleset, never before; when another attempt is already
    // asked for, that one writes it (attempt()): a burst of edits of a big set writes it once.
    if (!this.confirm.pending) {
      if (this.pending) this.saveOwed = true;
      else {
        // Written in the background when the store takes the script in pieces: the next edit
        // (and at start, readiness) need not wait for a 14 MB record; idle() does (stop, run --once).
        const background = this.streamsRecords;
        await this.saveLastGood(background);
        if (this.deps.state) after.push([background ? "save queued" : "save", since()]);
      }
    }
    this.deps.logger.log(wasRejected ? "notice" : "info", `${wasRejected ? "config valid again: " : ""}applied generation ${this.generation} (${reason}${files ? `; ${files}` : ""}): ${change}; ${describeSent(sent)}, ${durationMs} ms${stageClock ? ` ${formatStages(stages, after)}` : ""}`);
    const enforced = built.plan.endpoints.length;
    if (enforced === 0) this.deps.logger.log("warning", `generation ${this.generation} enforces no endpoint on node ${this.deps.node}: nothing is protected (see the NO_ENDPOINT_ON_NODE warning, or hostwall plan)`);
    else if (before !== undefined && enforced < before) this.deps.logger.log("warning", `generation ${this.generation} enforces ${enforced} endpoint(s), ${before - enforced} fewer than before`);
    return (this.lastAttempt = { at, ok: true, reason, diagnostics });
  }

  /** At start: which hostwall tables the kernel holds (boot.ts); their stamp carries the generation on. */
  private async lookAtKernel(): Promise<void> {
    const found = await lookAtKernel(this.deps.runner, this.deps.logger);
    await removeStaleTrace(this.deps.runner, this.deps.logger); // a SIGKILLed hostwall trace's table
    if (found === undefined) return;
    this.inKernel = found;
    if (found?.stamp) this.generation = Math.max(this.generation, found.stamp.generation);
  }

  /**
   * The start, when the record says the kernel holds what this config compiles to (boot.ts
   * adoptAsRecorded): the record's ruleset is the one in force, ready now; the build is owed.
   */
  private async adoptAsRecorded(at: string, reason: string, digest: () => string, readMs: number, head?: Promise<RecordHead | undefined>): Promise<Attempt | undefined> {
    const clock = () => this.deps.clock();
    const t0 = clock();
    // Where the time went, for the log line: the digest and the listing timed, the record is the rest.
    let [digestMs, listMs] = [0, 0];
    const timedDigest = () => {
      const t = clock();
      const d = digest();
      digestMs += clock() - t;
      return d;
    };
    const timedList = async () => {
      const t = clock();
      const l = await this.tables.list();
      listMs += clock() - t;
      return l;
    };
    const saved = await adoptAsRecorded(this.deps, this.inKernel, timedList, timedDigest, head);
    if (!saved?.engine || !this.inKernel?.stamp) return undefined;
    const recordMs = clock() - t0 - digestMs - listMs;
    this.generation = Math.max(this.generation, saved.generation);
    this.tableStamp = this.inKernel.stamp;
    this.restoredEndpoints = saved.endpoints;
    // The record's script, decoded only if asked before the build replaces it (GET /ruleset, a restore).
    this.applied = { source: "config", at: saved.at, hash: saved.hash, durationMs: 0, resources: saved.resources, get script() { return saved.script(); }, interfaces: saved.interfaces };
    this.tables.expected = saved.expected;
    const t1 = clock();
    await this.tables.observe();
    const observeMs = clock() - t1;
    this.unbuilt = { digest: saved.config!, owed: true };
    const sets = saved.engine.tables.reduce((n, t) => n + t.sets.length, 0);
    const chains = saved.engine.tables.reduce((n, t) => n + t.chains.length, 0);
    const ms = Math.round((clock() - t0 + readMs) * 10) / 10;
    const split = formatStages([["read", readMs], ["record", recordMs], ["digest", digestMs], ["list", listMs], ["observe", observeMs]]);
    this.deps.logger.log("info", `adopting hostwall's tables in the kernel (generation ${saved.generation}, stamped ${this.tableStamp.generation}): ${sets} of ${sets} set(s) and ${chains} of ${chains} chain(s) hold what was recorded, and the config is the one they were compiled from: ready in ${ms} ms ${split}, compiling it in the background`);
    return (this.lastAttempt = { at, ok: true, reason, unchanged: true, diagnostics: [] });
  }

  /** The build after such a start compiled the ruleset in force: its IR, for deltas, drift checks and records from now on. */
  private takeBuilt(ruleset: NftRuleset, model: Model, addresses: ReturnType<NonNullable<AgentDeps["listAddresses"]>> | undefined, started: number): void {
    const stamp = this.tableStamp!;
    const digest = this.unbuilt!.digest;
    this.unbuilt = undefined;
    this.irInForce = ruleset;
    this.restoredEndpoints = undefined;
    this.boundByAddress = model.hostEndpoints.some((h) => h.interfaceName === undefined && h.node === this.deps.node);
    this.appliedAddresses = addressKey(addresses);
    // Rendered when asked, as for an apply: the record's 14 MB script is not kept.
    const { script: _, ...rest } = Object.getOwnPropertyDescriptors(this.applied!);
    const applied = Object.defineProperties({}, rest) as Applied;
    Object.defineProperty(applied, "script", { enumerable: true, get: () => renderScript(ruleset, stamp).text });
    this.applied = applied;
    this.appliedFrom = { applied, ruleset, stamp, config: () => digest };
    this.deps.logger.log("info", `compiled the config of the adopted tables (generation ${this.generation}) in ${Math.round(this.deps.clock() - started)} ms: edits are deltas from here on`);
  }

  /** Takes a ruleset the start put in force (or found in force) as this agent's own. */
  private async adopt(a: Adopted): Promise<void> {
    this.generation = a.generation;
    this.irInForce = undefined; // no IR of it: the next apply replaces it whole
    this.tableStamp = stampOf(a.applied.script);
    if (a.plan) this.plan = a.plan;
    this.restoredEndpoints = a.plan ? undefined : a.endpoints;
    this.applied = a.applied;
    this.tables.expected = a.expected;
    await this.tables.observe();
  }

  /** Keeps the ruleset just applied as the last good one; a failure is a warning, the apply stands. */
  /**
   * Keeps the ruleset in force as the last good one; a failure is a warning, the apply stands.
   * The record is taken now and written after the writes before it (state.ts RecordWriter);
   * `background`: not waited for (the next edit need not wait for a 14 MB record; idle() does).
   */
  private saveLastGood(background = false): Promise<void> {
    this.saveOwed = false;
    const a = this.applied;
    const expected = this.tables.expected;
    const store = this.deps.state;
    if (!store || !a || !expected) return Promise.resolve();
    const failed = (e: Error) => this.deps.logger.log("warning", `cannot save the last good ruleset to ${store.path}: ${e.message}; a restart with a rejected config will not find it`);
    let job: () => Promise<void>;
    try {
      // With the IR in force and the stamp on the tables, a restarted agent can adopt them (delta-adopt.ts).
      const engine = this.irInForce && this.tableStamp ? adoptionRecord(this.irInForce, this.tableStamp, this.tables.reference) : undefined;
      const endpoints = this.plan ? this.plan.endpoints.map((ep) => { const { active: _, ...saved } = endpointStatus(ep, false); return saved; }) : this.restoredEndpoints;
      const record = { format: 1 as const, node: this.deps.node, generation: this.generation, hash: a.hash, at: a.at, expected, resources: a.resources, interfaces: a.interfaces, ...(engine ? { engine } : {}), ...(endpoints ? { endpoints } : {}) };
      // A config's ruleset is rendered piece by piece into the file, never whole.
      const from = this.appliedFrom?.applied === a ? this.appliedFrom : undefined;
      // The config digest is computed here, in the background write, not on the way to enforcement.
      const config = () => (from?.config ? { config: from.config() } : {});
      job = async () => {
        try {
          await (store.saveStreamed && from ? store.saveStreamed({ ...record, ...config() }, scriptChunks(from.ruleset, from.stamp)) : store.save({ ...record, ...config(), script: a.script }));
        } catch (e) {
          failed(e as Error);
        }
      };
    } catch (e) {
      failed(e as Error);
      return Promise.resolve();
    }
    const written = this.records.write(job);
    return background ? Promise.resolve() : written;
  }

  /**
   * What applying the config dir now would change against the ruleset in force (POST /diff):
   * the config is read and built as an attempt would, nothing is applied. Undefined `doc` when
   * the config is rejected (its diagnostics say why).
   */
  async diff(): Promise<{ diagnostics: Diagnostic[]; doc?: DiffDocument }> {
    const read = await this.deps.readConfig();
    const built = buildRuleset({ files: read.files, readDiagnostics: read.diagnostics, node: this.deps.node, dropSummaries: this.deps.dropSummaries, interfaces: this.absent ? undefined : this.deps.listInterfaces(), addresses: this.deps.listAddresses?.(), noScript: true });
    const diagnostics = [...read.diagnostics, ...built.diagnostics];
    if (hasErrors(diagnostics) || !built.ruleset) return { diagnostics };
    if (this.irInForce) return { diagnostics, doc: diffRulesets(rulesetView(this.irInForce), rulesetView(built.ruleset), `generation ${this.generation} in force (this agent's)`) };
    // Restored or found at start: no IR of it here, so the kernel's listing is the other side.
    const listed = await this.deps.runner.listJson?.();
    const kernel = listed?.ok ? kernelView(listed.stdout) : undefined;
    if (kernel?.ok) return { diagnostics, doc: diffRulesets(kernel.view, normalisedView(built.ruleset), kernel.view ? "the kernel's hostwall tables (this agent applied none from its config)" : "nothing in force") };
    const why = listed?.ok === false ? listed.stderr.trim().split("\n")[0] : kernel && !kernel.ok ? kernel.error : "this nft runner cannot list";
    return { diagnostics, doc: diffRulesets(undefined, rulesetView(built.ruleset), "nothing this agent applied from a config", [`the kernel's tables could not be read (${why}): everything shows as added`]) };
  }

  /** What is in force now, to go back to when a confirm window expires. */
  private captureInForce(): InForce {
    return { generation: this.generation, applied: this.applied!, irInForce: this.irInForce, plan: this.plan, model: this.model, expected: this.tables.expected, snap: this.snap, boundByAddress: this.boundByAddress, appliedAddresses: this.appliedAddresses };
  }

  /**
   * Puts a captured state back in force, as one attempt once no other runs (confirm.ts, when a
   * window expires): its script again, whole, under a new generation, whatever the config on
   * disk says. `due` is asked right before: a window re-opened meanwhile cancels the revert.
   */
  async revertTo(b: InForce, why: string, due: () => boolean): Promise<boolean | "not-due"> {
    while (this.running || this.queued) await this.idle();
    if (!due()) return "not-due";
    const run = this.revertNow(b, why);
    this.running = run.finally(() => {
      this.running = undefined;
    });
    const attempt = await this.running;
    this.deps.onAttempt?.(attempt);
    return attempt.ok;
  }

  private async revertNow(b: InForce, why: string): Promise<Attempt> {
    const at = this.deps.now().toISOString();
    const reason = `confirm window expired: back to generation ${b.generation}'s ruleset`;
    try {
      const script = stampScript(b.applied.script.replace(/ comment "hostwall generation \d+ hash [0-9a-f]+";$/gm, ""), { generation: this.generation + 1, hash: b.applied.hash });
      const sent = await sendScript(this.deps.runner, script);
      if (!sent.ok) return this.fail([{ code: "NFT_REJECTED", severity: "error", message: `the revert was refused: nft ${sent.check ? "check" : "apply"} failed: ${sent.stderr.trim().split("\n")[0]}` }], `cannot revert (${why})`, at, reason);
      this.confirm.revertedHash = this.applied?.hash;
      this.generation++;
      this.applyCount++;
      this.irInForce = b.irInForce;
      this.plan = b.plan;
      this.model = b.model;
      this.snap = b.snap;
      this.boundByAddress = b.boundByAddress;
      this.appliedAddresses = b.appliedAddresses;
      this.applied = { ...b.applied, at, script };
      this.tableStamp = stampOf(script);
      this.tables.expected = b.expected;
      this.deps.logger.log("notice", `reverted: ${why}; generation ${this.generation} is generation ${b.generation}'s ruleset again`);
      await this.tables.observe();
      await this.saveLastGood();
      return (this.lastAttempt = { at, ok: true, reason, diagnostics: [] });
    } catch (e) {
      return this.fail([{ code: "INTERNAL_ERROR", severity: "error", message: `the revert failed unexpectedly: ${(e as Error).message}` }], `cannot revert (${why})`, at, reason);
    }
  }

  /** Re-applies the script in force (a drift repair whose new config was rejected). */
  private async restoreApplied(): Promise<void> {
    const script = this.applied!.script; // rendered once (a getter for a config's ruleset)
    if (!(await applyScript(this.deps.runner, this.deps.logger, script, `generation ${this.generation} again`))) return;
    this.tableStamp = stampOf(script);
    this.restores++;
    this.deps.logger.log("notice", `restored the ruleset of generation ${this.generation} (the config on disk was rejected)`);
    await this.tables.observe();
  }
}

function endpointStatus(ep: EndpointPlan, active: boolean): EndpointStatus {
  const { policies, profiles } = endpointNames(ep);
  return { name: ep.hep.meta.name, interface: ep.interfaceName, active, policies, profiles };
}
