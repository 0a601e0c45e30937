/**
 * The documents of the status API as types shared by both ends: the agent's API builds them
 * (app.ts), `hostwall status` and `hostwall reload` read them (cli/api-client.ts). GET /status
 * answers a StatusDocument, POST /reload a ReloadAnswer, and every refusal an ErrorAnswer.
 */
import type { Agent } from "../agent/agent.ts";
import type { Applied, Attempt, BootRecord, DriftState, EndpointStatus } from "../agent/types.ts";
import type { DatastoreStatus } from "../datastore/sync.ts";
import type { ConfirmStatus } from "../agent/confirm.ts";
import { hasStaged, stagedStatus, type StagedStatus } from "./staged-status.ts";

/** State of the running service that the API reports (absent in `app.request()` tests). */
export interface ServiceState {
  /** Shutdown has begun: POST /reload answers 503. */
  stopping: boolean;
  /** The link monitor (`ip monitor link`): running, restarting or unavailable. */
  linkMonitor?: LinkMonitorStatus;
  /** Interface appearances, disappearances and renames seen. */
  interfaceChanges?: number;
  /** The etcd datastore (--datastore etcdv3). */
  datastore?: DatastoreStatus;
}

/** The link monitor as /status shows it. */
export interface LinkMonitorStatus {
  /** running, restarting or unavailable. */
  state: string;
  /** Link notifications seen. */
  events: number;
  /** Address notifications seen. */
  addressEvents: number;
  /** Restarts of `ip monitor` after it exited. */
  restarts: number;
}

/** GET /status. */
export interface StatusDocument {
  /** The agent's version. */
  version: string;
  /** The node it enforces for. */
  node: string;
  /** The config dir it reads; absent when it reads a datastore (`datastore` says which). */
  configDir?: string;
  /** Generation of the ruleset in force (+1 per successful apply). */
  generation: number;
  /** The ruleset this agent put in force, or null. */
  applied: Pick<Applied, "source" | "at" | "hash" | "durationMs" | "resources"> | null;
  /** hostwall's tables found in the kernel at start, with their stamp when they carry one, or null. */
  inKernel: { tables: string[]; generation: number | null; hash: string | null } | null;
  /** What the start did when the first config was rejected. */
  boot?: BootRecord;
  /** The most recent attempt, or null before the first one. */
  lastAttempt: Attempt | null;
  /** HostEndpoints of this node enforced now (0: nothing is protected). */
  enforcedEndpoints: number;
  /** This node's endpoints with their interface and policies. */
  endpoints: Omit<EndpointStatus, "profiles">[];
  /** What the running kernel does. */
  kernel: { netdevAttachesLater: boolean };
  /** How scripts reach the kernel (libnftables in-process, or a spawned nft, with why), and how applies went: deltas, full replaces, refused deltas. */
  nft: { backend: string; note?: string; deltas: number; fullApplies: number; deltasRejected: number };
  /** Drift checks and repairs; the last drift found, or null. */
  drift: Omit<DriftState, "last"> & { last: NonNullable<DriftState["last"]> | null };
  /** The link monitor, when the service runs one. */
  linkMonitor?: LinkMonitorStatus;
  /** The etcd datastore (--datastore etcdv3): connected, the revision read, the last error and since when. */
  datastore?: DatastoreStatus;
  /** Confirm or revert: the provisional apply pending (its deadline), how the last window ended. */
  confirm: ConfirmStatus;
  /** Staged policies (#14 item 4): per staged rule, its action and what it counted (it never decides). */
  staged: StagedStatus;
}

/** POST /reload: 200 applied or unchanged, 422 rejected (the ruleset in force stays). */
export interface ReloadAnswer {
  ok: boolean;
  generation: number;
  attempt: Attempt;
  /** The confirm window now pending (reload --confirm, or an apply during a window). */
  confirm?: NonNullable<ConfirmStatus["pending"]>;
}

/** Any refusal (4xx, 5xx): what went wrong, sometimes how to do it right, and details by error. */
export interface ErrorAnswer {
  error: string;
  hint?: string;
  [detail: string]: unknown;
}

/** What statusDocument needs. */
export interface StatusSource {
  agent: Agent;
  version: string;
  node: string;
  /** The config dir, or undefined when resources come from a datastore. */
  configDir?: string;
  /** Live service state. */
  service?: () => ServiceState;
}

/** The status document; reads the kernel's counters only when staged policies are counted (staged-status.ts). */
export async function statusDocument(deps: StatusSource): Promise<StatusDocument> {
  const { agent } = deps;
  const staged = stagedStatus(agent.model, hasStaged(agent.model) ? await agent.ruleCounters() : undefined);
  const applied = agent.applied;
  const service = deps.service?.();
  const endpoints = agent.endpoints();
  return {
    version: deps.version,
    node: deps.node,
    ...(deps.configDir !== undefined ? { configDir: deps.configDir } : {}),
    generation: agent.generation,
    applied: applied ? { source: applied.source, at: applied.at, hash: applied.hash, durationMs: applied.durationMs, resources: applied.resources } : null,
    inKernel: agent.inKernel ? { tables: agent.inKernel.tables, generation: agent.inKernel.stamp?.generation ?? null, hash: agent.inKernel.stamp?.hash ?? null } : null,
    ...(agent.boot ? { boot: agent.boot } : {}),
    lastAttempt: agent.lastAttempt ?? null,
    enforcedEndpoints: endpoints.filter((ep) => ep.active).length,
    endpoints: endpoints.map(({ profiles: _profiles, ...ep }) => ep),
    kernel: { netdevAttachesLater: agent.netdevAbsentDevices },
    nft: { ...agent.nftBackend, deltas: agent.engine.deltas, fullApplies: agent.engine.fullApplies, deltasRejected: agent.engine.deltasRejected },
    drift: { count: agent.drift.count, repairs: agent.drift.repairs, checks: agent.drift.checks, last: agent.drift.last ?? null },
    ...(service?.linkMonitor ? { linkMonitor: service.linkMonitor } : {}),
    ...(service?.datastore ? { datastore: service.datastore } : {}),
    confirm: agent.confirm.status(),
    staged,
  };
}
