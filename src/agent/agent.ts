/**
 * The agent's state machine: load → build → check → apply, one attempt at a time.
 *
 * All or nothing (DESIGN.md §5): an attempt applies only when every file is valid and the
 * kernel accepted the script in a dry run (`nft -c`); otherwise the last good ruleset stays
 * in force and the attempt's diagnostics are kept for /status. Reloads are serialised: a
 * request that arrives during an attempt schedules exactly one more attempt afterwards.
 * Files, interfaces, time and nft are injected, so the loop is tested with fakes.
 */
import { createHash } from "node:crypto";
import { formatDiagnostic, hasErrors, type Diagnostic } from "../config/diagnostics.ts";
import type { SourceFile } from "../config/parse.ts";
import { buildRuleset } from "../pipeline.ts";
import type { EndpointPlan, Plan } from "../resolve/resolve.ts";
import { mapNftErrors, type NftRunner } from "../nft/runner.ts";
import type { Logger } from "./log.ts";

export interface AgentDeps {
  /** This node's name. */
  node: string;
  /** Config dir, for status. */
  configDir: string;
  /** Reads the config dir. */
  readConfig(): { files: SourceFile[]; diagnostics: Diagnostic[] };
  /** Interfaces that exist now. */
  listInterfaces(): Set<string>;
  /** The nft runner. */
  runner: NftRunner;
  /** Clock. */
  now(): Date;
  /** Monotonic milliseconds, for durations. */
  clock(): number;
  /** Log sink. */
  logger: Logger;
}

/** The ruleset in force. */
export interface Applied {
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
  policies: {
    ingress: { untracked: string[]; preDNAT: string[]; normal: string[]; forward: string[] };
    egress: { untracked: string[]; normal: string[]; forward: string[] };
  };
  profiles: string[];
}

export class Agent {
  generation = 0;
  applied?: Applied;
  lastAttempt?: Attempt;
  applyCount = 0;
  failureCount = 0;
  private plan?: Plan;
  private running?: Promise<Attempt>;
  private queued?: Promise<Attempt>;

  constructor(private readonly deps: AgentDeps) {}

  /**
   * Runs an attempt now, or once more after the one in progress (any number of requests
   * during an attempt coalesce into one). `force` applies even when the script is unchanged
   * (SIGHUP, POST /reload, drift repair).
   */
  reload(reason: string, opts: { force?: boolean } = {}): Promise<Attempt> {
    if (!this.running) {
      this.running = this.attempt(reason, opts.force ?? false).finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.queued ??= this.running.then(() => {
      this.queued = undefined;
      return this.reload(reason, opts);
    });
    return this.queued;
  }

  /** Whether the interfaces that matter changed since the last apply (netdev chains need their device). */
  interfacesChanged(): boolean {
    if (!this.applied || !this.plan) return false;
    return interfaceKey(this.plan, this.deps.listInterfaces()) !== this.applied.interfaces.join(",");
  }

  endpoints(): EndpointStatus[] {
    const present = this.deps.listInterfaces();
    return (this.plan?.endpoints ?? []).map((ep) => endpointStatus(ep, present.has(ep.interfaceName)));
  }

  private async attempt(reason: string, force: boolean): Promise<Attempt> {
    const started = this.deps.clock();
    const at = this.deps.now().toISOString();
    const read = this.deps.readConfig();
    const interfaces = this.deps.listInterfaces();
    const built = buildRuleset({ files: read.files, node: this.deps.node, interfaces });
    const diagnostics = [...read.diagnostics, ...built.diagnostics];
    const fail = (diags: Diagnostic[], what: string): Attempt => {
      this.failureCount++;
      this.deps.logger.log("error", `${what}; keeping ${this.applied ? `generation ${this.generation} in force` : "no ruleset (none applied yet)"}`);
      for (const d of diags) if (d.severity === "error") this.deps.logger.log("error", formatDiagnostic(d));
      return (this.lastAttempt = { at, ok: false, reason, diagnostics: diags });
    };
    for (const d of diagnostics) if (d.severity === "warning") this.deps.logger.log("warning", formatDiagnostic(d));
    if (hasErrors(diagnostics) || !built.script || !built.plan) return fail(diagnostics, `config rejected (${reason})`);

    const script = built.script;
    const hash = createHash("sha256").update(script.text).digest("hex").slice(0, 16);
    if (!force && this.applied?.hash === hash) {
      this.plan = built.plan;
      return (this.lastAttempt = { at, ok: true, reason, unchanged: true, diagnostics });
    }
    for (const check of [true, false]) {
      const result = await this.deps.runner.apply(script.text, { check });
      if (!result.ok) {
        const errors = mapNftErrors(result.stderr, script.origins).map((e): Diagnostic => ({
          code: "NFT_REJECTED",
          severity: "error",
          message: `nft ${check ? "check" : "apply"} failed: ${e.message}${e.line ? ` (script line ${e.line}${e.origin ? `, from ${e.origin.id}` : ""})` : ""}`,
          file: e.origin?.file,
          line: e.origin?.line,
          column: e.origin?.column,
        }));
        return fail([...diagnostics, ...errors], `kernel rejected the ruleset (${reason})`);
      }
    }
    const durationMs = Math.round((this.deps.clock() - started) * 100) / 100;
    this.generation++;
    this.applyCount++;
    this.plan = built.plan;
    this.applied = { at, hash, durationMs, resources: built.model.counts, script: script.text, interfaces: interfaceKey(built.plan, interfaces).split(",") };
    this.deps.logger.log("info", `applied generation ${this.generation} (${reason}): ${built.plan.endpoints.length} endpoint(s), ${script.text.length} bytes, ${durationMs} ms`);
    return (this.lastAttempt = { at, ok: true, reason, diagnostics });
  }
}

function interfaceKey(plan: Plan, present: ReadonlySet<string>): string {
  return plan.endpoints.filter((ep) => present.has(ep.interfaceName)).map((ep) => ep.interfaceName).join(",");
}

function endpointStatus(ep: EndpointPlan, active: boolean): EndpointStatus {
  const names = (stage: keyof EndpointPlan["stages"], dir: "ingress" | "egress") => ep.stages[stage][dir].flatMap((t) => t.policies.map((p) => p.meta.name));
  return {
    name: ep.hep.meta.name,
    interface: ep.interfaceName,
    active,
    policies: {
      ingress: { untracked: names("untracked", "ingress"), preDNAT: names("preDNAT", "ingress"), normal: names("normal", "ingress"), forward: names("forward", "ingress") },
      egress: { untracked: names("untracked", "egress"), normal: names("normal", "egress"), forward: names("forward", "egress") },
    },
    profiles: ep.profiles.map((p) => (p.kind === "profile" ? p.profile.meta.name : p.kind === "missing" ? p.name : "projectcalico-default-allow")),
  };
}
