/**
 * `hostwall run`: wires the agent to the real world (files, nft, interfaces, signals, the
 * HTTP server, systemd) and runs until SIGTERM/SIGINT. Rules stay in force when it stops.
 *
 * systemd (Type=notify): READY=1 is sent once the first attempt is done and the API listens.
 * It is sent even when the first attempt failed (an invalid config): the agent then keeps
 * running, keeps whatever tables the kernel still holds, reports the errors on /status and
 * applies as soon as the files are fixed; STATUS= says which case it is. Waiting instead
 * would only hold up the boot until systemd's start timeout and then kill the agent.
 */
import { readConfigDir } from "../source/read-dir.ts";
import { openRunner } from "../nft/runner.ts";
import { Agent } from "../agent/agent.ts";
import { readSessions, sshSession } from "../agent/sessions.ts";
import type { Attempt, BootPolicy } from "../agent/types.ts";
import { stateStore } from "../agent/state.ts";
import { treeSignature } from "../agent/watch.ts";
import { TraceServer, traceServer } from "../trace/serve.ts";
import { stderrLogger, type Logger } from "../agent/log.ts";
import { lockAgent, type AgentLock } from "../agent/lock.ts";
import { sdNotify } from "../agent/notify.ts";
import { startService, type Service } from "../service.ts";
import { listAddresses, listInterfaces, netdevAttachesLater } from "../agent/system.ts";
import { VERSION } from "../version.ts";
import type { ListenAddress } from "../api/listen.ts";
import { EtcdClient } from "../datastore/client.ts";
import { DatastoreSync } from "../datastore/sync.ts";
import type { DatastoreChoice } from "./datastore-args.ts";
import type { Io } from "./io.ts";

export interface RunOptions {
  /** --allow-lockout: apply configs that would deny a live session (agent/lockout.ts). */
  allowLockout?: boolean;
  /** --confirm-changes: every watched change is provisional for this long, in ms (agent/confirm.ts). */
  confirmChangesMs?: number;
  /** --drop-summaries on|off (default on): every Deny rule keeps the addresses it denied (GET /drops). */
  dropSummaries?: boolean;
  configDir: string;
  node: string;
  once: boolean;
  listen: ListenAddress;
  /** The control socket served beside a TCP (or no) --listen; undefined: none. */
  socket?: string;
  nftPath: string;
  /** --nft was given: spawn that binary rather than use libnftables. */
  nftGiven?: boolean;
  debug: boolean;
  /** Where the last good ruleset is kept; undefined: nowhere (`--state-dir off`). */
  stateDir?: string;
  /** What a rejected config at start enforces when nothing else can be. */
  bootPolicy: BootPolicy;
  /** Where the one-agent-per-namespace lock lives (lock.ts). */
  runDir: string;
  /** Where resources come from (default the config dir). */
  datastore?: DatastoreChoice;
}

/** After SIGTERM, give in-flight requests and a running apply this long (TimeoutStopSec is 15 s). */
const STOP_DEADLINE_MS = 10_000;

export async function runAgent(opts: RunOptions, io: Io): Promise<number> {
  const logger = stderrLogger({ debug: opts.debug });
  // Before anything is applied: a second agent would fight the first one for the tables.
  let lock: AgentLock;
  try {
    lock = lockAgent(opts.runDir);
  } catch (e) {
    io.err(`hostwall: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    return await runLocked(opts, io, logger);
  } finally {
    lock.release();
  }
}

async function runLocked(opts: RunOptions, io: Io, logger: Logger): Promise<number> {
  let ready = false;
  let runner;
  try {
    runner = openRunner({ nftPath: opts.nftGiven ? opts.nftPath : undefined, env: io.env });
  } catch (e) {
    io.err(`hostwall: ${(e as Error).message}\n`);
    return 1;
  }
  logger.log(runner.backend === "libnftables" ? "debug" : "info", `nft backend: ${runner.backend}${runner.backendNote ? ` (${runner.backendNote})` : ""}`);
  // Asked once, beside the first attempt's config reading (the agent awaits it before building).
  const netdevAbsentDevices = netdevAttachesLater(runner, listInterfaces()).then((later) => {
    if (later) logger.log("debug", "the kernel attaches netdev chains to interfaces that appear later: every HostEndpoint interface gets its chain now");
    else logger.log("info", "the kernel needs a netdev chain's interface to exist: chains follow interfaces as they appear (re-applied on link events)");
    return later;
  });
  // --datastore etcdv3: the agent reads the listed and watched copy (datastore/sync.ts);
  // every change reloads, through the same serialised attempts as file changes.
  const ds = opts.datastore?.type === "etcdv3" ? opts.datastore : undefined;
  let watchRenewed = false;
  const sync = ds ? new DatastoreSync({ client: new EtcdClient(ds.config), onChange: (why) => void agent.reload(why), log: (level, message) => logger.log(level, message), now: () => new Date() }) : undefined;
  const agent: Agent = new Agent({
    node: opts.node,
    readConfig: sync ? () => sync.readConfig() : () => readConfigDir(opts.configDir),
    listInterfaces,
    listAddresses,
    runner,
    netdevAbsentDevices,
    now: () => new Date(),
    clock: () => performance.now(),
    stageClock: () => performance.now(),
    logger,
    state: opts.stateDir ? stateStore(opts.stateDir) : undefined,
    bootPolicy: opts.bootPolicy,
    liveSessions: () => readSessions(),
    allowLockout: opts.allowLockout,
    confirmChangesMs: opts.confirmChangesMs,
    dropSummaries: opts.dropSummaries,
    onAttempt: (attempt) => {
      if (ready) sdNotify(`STATUS=${statusLine(agent, attempt)}`);
      // The first apply turns conntrack on: the watch's connection, opened before, is renewed (sync.ts).
      if (sync && attempt.ok && agent.applied && !watchRenewed) {
        watchRenewed = true;
        sync.renewWatch();
      }
    },
  });

  // Signals are handled from the start: a SIGHUP during the first apply must not kill the agent.
  let service: Service | undefined;
  let stopRequested: string | undefined;
  let finish: ((code: number) => void) | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.log("warning", `${signal} again: exiting now`);
      finish?.(130);
      return;
    }
    stopping = true;
    if (!service) {
      stopRequested = signal;
      return;
    }
    sdNotify("STOPPING=1");
    logger.log("info", `${signal}: stopping; the ruleset of generation ${agent.generation} stays in force`);
    const timedOut = await Promise.race([service.stop().then(() => false), Bun.sleep(STOP_DEADLINE_MS).then(() => true)]);
    if (timedOut) logger.log("warning", `shutdown took longer than ${STOP_DEADLINE_MS / 1000} s; exiting anyway`);
    finish?.(timedOut ? 1 : 0);
  };
  const onTerm = () => void stop("SIGTERM");
  const onInt = () => void stop("SIGINT");
  // During the first apply too: the reload queues behind it, so an edit made meanwhile (before
  // the watcher runs) is not lost.
  const onHup = () => {
    logger.log("info", service ? "SIGHUP: reloading" : "SIGHUP during startup: reloading after the first attempt");
    void agent.reload("SIGHUP");
  };
  if (!opts.once) {
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
    process.on("SIGHUP", onHup);
  }
  const removeHandlers = () => {
    process.off("SIGTERM", onTerm);
    process.off("SIGINT", onInt);
    process.off("SIGHUP", onHup);
  };

  // What the first attempt reads; compared once the watcher runs (below).
  const signature = sync ? "" : treeSignature(opts.configDir);
  // The first list (or its first failure: the agent then starts from what it has, boot.ts).
  await sync?.start();
  // run --once is an operator's apply: checked for a lockout, with the SSH session it runs in (the daemon's start is not checked).
  const ssh = opts.once ? sshSession(process.env.SSH_CONNECTION) : undefined;
  const first = await agent.reload("startup", opts.once ? { request: { explicit: true, sessions: ssh ? [ssh] : [] } } : {});
  if (opts.once) {
    await agent.idle(); // the last good record, written in the background
    await sync?.stop();
    return first.ok ? 0 : first.diagnostics.some((d) => d.code === "NFT_REJECTED") ? 2 : 1;
  }
  if (stopRequested) {
    logger.log("info", `${stopRequested} during startup: stopping`);
    removeHandlers();
    await agent.idle();
    await sync?.stop();
    return 0;
  }

  try {
    // The agent's traces (GET /trace) run the same nft as its applies.
    traceServer(agent, () => new TraceServer({ nftPath: opts.nftPath }));
    service = await startService({ agent, logger, api: { version: VERSION, node: opts.node, configDir: opts.configDir }, listen: opts.listen, socket: opts.socket, ...(sync ? { datastore: sync, watchConfig: false } : {}) });
  } catch (e) {
    removeHandlers();
    await agent.idle();
    await sync?.stop();
    io.err(`hostwall: ${(e as Error).message}\n`);
    return 1;
  }
  ready = true;
  sdNotify(`READY=1\nSTATUS=${statusLine(agent, first)}\nMAINPID=${process.pid}`);
  // The watcher runs from now on: an edit made during the first attempt (seconds, for a
  // million-entry set) would be missed; the tree's signature (no file read) says whether one was.
  if (!sync && treeSignature(opts.configDir) !== signature) void agent.reload("config changed during startup");

  const code = await new Promise<number>((resolve) => (finish = resolve));
  removeHandlers();
  return code;
}

/** One line for `systemctl status`. */
function statusLine(agent: Agent, attempt: Attempt): string {
  const inForce = agent.applied ? `generation ${agent.generation} in force` : "no ruleset applied";
  if (attempt.ok) return `${inForce}${attempt.unchanged ? "" : ` (${attempt.reason})`}`;
  const errors = attempt.diagnostics.filter((d) => d.severity === "error").length;
  return `${inForce}; last attempt (${attempt.reason}) failed with ${errors} error(s), see hostwall status`;
}
