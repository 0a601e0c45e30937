/**
 * The agent's types: what it is given (AgentDeps) and what it reports (the ruleset in force,
 * the last attempt, endpoints, drift, counters), for agent.ts and the status API.
 */
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import type { Cidr } from "../model/cidr.ts";
import type { TableStamp } from "../nft/render.ts";
import type { NftRunner } from "../nft/runner.ts";
import type { EndpointPolicies } from "../resolve/resolve.ts";
import type { SourceFile } from "../source/source-file.ts";
import type { Session, SessionTable } from "./sessions.ts";
import type { Logger } from "./log.ts";
import type { RuleSample } from "./metrics.ts";
import type { StateStore } from "./state.ts";

export interface AgentDeps {
  /** This node's name. */
  node: string;
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
  /**
   * Monotonic milliseconds for the per-stage split of an apply's log line (agent/stages.ts);
   * without it the line has no split. Apart from `clock`, whose fakes count calls.
   */
  stageClock?(): number;
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
  /** The live inbound TCP sessions (lockout.ts readSessions), checked before each apply; without it only a request's own sessions are. */
  liveSessions?(): SessionTable;
  /** Apply configs that would cut a live session (run --allow-lockout). */
  allowLockout?: boolean;
  /** run --confirm-changes: every watched change is provisional for this long, in ms (confirm.ts). */
  confirmChangesMs?: number;
  /** run --drop-summaries on|off (on unless off is given): every Deny rule keeps the addresses it denied, with counters (GET /drops). */
  dropSummaries?: boolean;
  /** The identity of the code that compiles (config-digest.ts buildIdentity; tests give one): without it a restart always compiles before it is ready. */
  build?: string;
}

/** What one reload request asks for beyond the reload (POST /reload's body). */
export interface ApplyRequest {
  /** Make the apply provisional for this long, in ms (hostwall reload --confirm). */
  confirmMs?: number;
  /** Apply even when it would cut a live session (--allow-lockout). */
  allowLockout?: boolean;
  /** Sessions to check beside the socket table: the SSH session of the command that asked. */
  sessions?: Session[];
  /** Asked by the operator (POST /reload): a config that was reverted is applied again too. */
  explicit?: boolean;
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

/** What the start did when the first config was rejected, for /status. */
export interface BootRecord {
  /** kept-kernel: hostwall's tables in the kernel stay; last-good: the saved ruleset was applied; failsafe: --boot-policy failsafe applied; open: nothing is enforced; failed: the failsafe ruleset was refused. */
  action: "kept-kernel" | "last-good" | "failsafe" | "open" | "failed";
  /** The same in words, as logged. */
  detail: string;
}

/** hostwall's tables found in the kernel at start, with the stamp an earlier agent wrote on them. */
export interface InKernel {
  tables: string[];
  stamp?: TableStamp;
}
