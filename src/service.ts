/**
 * [I/O] The long-running part of `hostwall run`, around an Agent that has made its first
 * attempt: the status API, the config watcher, the link monitor and two timers.
 *
 *   config dir ──inotify──▶ debounce ──▶ agent.reload("config changed")
 *   ip monitor link address ▶ debounce ──▶ interfaces changed? ──▶ agent.reload(...)
 *   every 30 s (resync) ───────────────▶ interfaces changed? ──▶ agent.reload(...)
 *   every 10 s (drift) ──▶ agent.checkDrift() ──▶ forced re-apply on drift
 *   control socket (unix, 0600) ──▶ hono app, everything (api/app.ts)
 *   --listen HOST:PORT (TCP) ──────▶ hono app, read-only (GET; POST answers 403)
 *
 * Interfaces: on kernels before 6.16 netdev chains exist only for interfaces present at apply
 * time (a missing device is refused), so any appearance, disappearance or rename of a
 * HostEndpoint interface re-applies; an endpoint interface deleted or renamed away during a
 * burst forces a re-apply even if the final set looks unchanged: before 6.14 the kernel
 * deleted its chain, and before 6.16 a re-created device is not re-attached
 * (reference/nftables.md §1.2). From 6.16 (Agent.netdevAbsentDevices) every endpoint
 * interface has its chain and the kernel attaches it: interface changes re-apply nothing.
 * Address changes go the same way: they matter when an endpoint is bound by expectedIPs,
 * which the agent's check knows (it lists addresses only then).
 *
 * stop() is the graceful shutdown: timers, watcher and monitor stop, the server stops taking
 * connections and lets in-flight requests finish, a running apply completes; the ruleset in
 * force stays (fail closed).
 */
import type { Agent } from "./agent/agent.ts";
import { createApi, type ApiDeps } from "./api/app.ts";
import type { ServiceState } from "./api/status.ts";
import { LinkTable, monitorLinks, type LinkChange, type LinkMonitor, type LinkMonitorOptions } from "./agent/links.ts";
import { describeListen, exposureWarning, listen, type ApiServer, type ListenAddress } from "./api/listen.ts";
import type { Logger } from "./agent/log.ts";
import { watchDir } from "./agent/watch.ts";
import { traceServer } from "./trace/serve.ts";
import type { DatastoreStatus } from "./datastore/sync.ts";

export interface ServiceOptions {
  agent: Agent;
  logger: Logger;
  /** version, node and configDir for the API. */
  api: Pick<ApiDeps, "version" | "node" | "configDir">;
  /** The --listen address: TCP is read-only; a unix socket is the control socket. */
  listen: ListenAddress;
  /** The control socket's path, served beside a TCP (or no) --listen; undefined: none. */
  socket?: string;
  /** Watch the config dir (default true). */
  watchConfig?: boolean;
  /** Replace how links are listed and monitored (tests), or false for no link monitor. */
  links?: Pick<LinkMonitorOptions, "start" | "list" | "backoffMs"> | false;
  /** Drift check period (default 10 s; 0 disables). */
  driftCheckMs?: number;
  /** Interface resync period, the safety net for missed link events (default 30 s). */
  resyncMs?: number;
  /** Quiet time after a link event before interfaces are compared (default 100 ms). */
  linkDebounceMs?: number;
  /** The etcd datastore's watcher (--datastore etcdv3), reported in /status and stopped with the service. */
  datastore?: { status(): DatastoreStatus; stop(): Promise<void> };
}

export interface Service {
  /** The --listen server, unless it is off. */
  server?: ApiServer;
  /** The control socket's server when it is not the --listen one (--socket). */
  control?: ApiServer;
  state(): ServiceState;
  /** Graceful shutdown; resolves when in-flight requests and a running apply are done. */
  stop(): Promise<void>;
}

export async function startService(opts: ServiceOptions): Promise<Service> {
  const { agent, logger } = opts;
  let stopping = false;
  let interfaceChanges = 0;
  let monitor: LinkMonitor | undefined;
  const state = (): ServiceState => ({
    stopping,
    interfaceChanges,
    ...(monitor ? { linkMonitor: { state: monitor.state, events: monitor.events, addressEvents: monitor.addressEvents, restarts: monitor.restarts } } : {}),
    ...(opts.datastore ? { datastore: opts.datastore.status() } : {}),
  });

  // Resources from a datastore: the config dir is not read, so /status does not name it.
  const { configDir, ...api } = opts.api;
  const { server, control } = await startListeners(opts, { ...api, ...(opts.datastore || configDir === undefined ? {} : { configDir }), agent, service: state, logger });

  const watcher =
    opts.watchConfig === false || opts.datastore || configDir === undefined
      ? undefined
      : watchDir({ dir: configDir, onChange: () => void agent.reload("config changed"), onError: (m) => logger.log("warning", m) });

  // Interfaces: link events → debounce → compare → reload.
  const table = new LinkTable();
  const forced = new Set<string>();
  let burst: Timer | undefined;
  const endpointInterfaces = () => new Set(agent.endpoints().map((ep) => ep.interface));
  const checkInterfaces = (why: string) => {
    const names = [...forced];
    forced.clear();
    if (stopping) return;
    if (agent.interfacesChanged()) void agent.reload(why);
    // Kernels that attach netdev chains later re-attach them to a re-created device themselves.
    else if (names.length > 0 && !agent.netdevAbsentDevices) void agent.reload(`interface ${names.join(", ")} re-created`, { force: true });
  };
  const schedule = () => {
    if (burst) clearTimeout(burst);
    burst = setTimeout(() => {
      burst = undefined;
      checkInterfaces("interfaces changed");
    }, opts.linkDebounceMs ?? 100);
  };
  const onChange = (c: LinkChange) => {
    const eps = endpointInterfaces();
    const endpoint = eps.has(c.name) || (c.kind === "renamed" && eps.has(c.from));
    const what = c.kind === "renamed" ? `interface ${c.from} renamed to ${c.name}` : `interface ${c.name} ${c.kind === "up" || c.kind === "down" ? `is ${c.kind}` : c.kind}`;
    const suffix = endpoint ? " (a HostEndpoint interface)" : "";
    if (c.kind === "up" || c.kind === "down") {
      logger.log(endpoint ? "info" : "debug", `${what} (index ${c.index})${suffix}`);
      return;
    }
    interfaceChanges++;
    logger.log("info", `${what} (index ${c.index})${suffix}`);
    if (endpoint && (c.kind === "removed" || c.kind === "renamed")) forced.add(c.kind === "renamed" ? c.from : c.name);
  };
  if (opts.links !== false) {
    monitor = monitorLinks({
      ...(opts.links ?? {}),
      onStart: (links) => {
        for (const c of table.seed(links)) onChange(c);
        schedule();
      },
      onEvent: (e) => {
        const c = table.update(e);
        if (c) onChange(c);
        schedule();
      },
      onAddress: (a) => {
        logger.log("debug", `address ${a.address} ${a.deleted ? "removed from" : "on"} ${a.name} (index ${a.index})`);
        schedule();
      },
      onExit: (message, retryMs) => logger.log("warning", `${message}; restarting it in ${retryMs} ms (interfaces are resynced every ${(opts.resyncMs ?? 30_000) / 1000} s meanwhile)`),
    });
  }
  const resync = setInterval(() => checkInterfaces("interfaces changed (resync)"), opts.resyncMs ?? 30_000);

  // Drift: one check at a time; a listing failure is logged when it starts and when it ends.
  let checking = false;
  let listFailing = false;
  const driftMs = opts.driftCheckMs ?? 10_000;
  const drift =
    driftMs > 0
      ? setInterval(async () => {
          if (checking || stopping) return;
          checking = true;
          try {
            const r = await agent.checkDrift();
            const failing = r.state === "skipped" && r.why.startsWith("cannot list");
            if (failing && !listFailing) logger.log("warning", `drift check: ${r.state === "skipped" ? r.why : ""}`);
            if (!failing && listFailing) logger.log("info", "drift check: listing works again");
            listFailing = failing;
          } finally {
            checking = false;
          }
        }, driftMs)
      : undefined;

  return {
    server,
    control,
    state,
    async stop() {
      stopping = true;
      // A pending confirm window is not reverted on the way out: the ruleset in force stays, as on every stop.
      agent.confirm.stop();
      watcher?.close();
      await opts.datastore?.stop();
      monitor?.stop();
      clearInterval(resync);
      if (drift) clearInterval(drift);
      if (burst) clearTimeout(burst);
      // A GET /trace in flight would hold the listeners' graceful stop for its whole duration.
      await traceServer(agent).stop();
      await Promise.all([server?.stop(), control?.stop()]);
      await agent.idle();
    },
  };
}

/**
 * The control socket first (so a TCP listener never runs without the socket it points to),
 * then the --listen address; if that fails the control socket is closed again. Errors name
 * the address.
 */
async function startListeners(opts: ServiceOptions, deps: ApiDeps): Promise<{ server?: ApiServer; control?: ApiServer }> {
  const { logger } = opts;
  const controlPath = opts.listen.kind === "unix" ? opts.listen.path : opts.socket;
  let control: ApiServer | undefined;
  if (opts.socket !== undefined) {
    const app = createApi(deps, { access: "control" });
    control = await listen({ kind: "unix", path: opts.socket }, (req) => app.fetch(req)).catch((e: Error) => {
      throw new Error(`cannot serve the control socket ${opts.socket}: ${e.message}`);
    });
    logger.log("info", `control socket (status API and POST /reload) on unix:${opts.socket}`);
  }
  const l = opts.listen;
  const app = createApi(deps, l.kind === "tcp" ? { access: "read-only", listenHost: l.hostname, controlSocket: controlPath } : { access: "control" });
  let server: ApiServer | undefined;
  try {
    server = await listen(l, (req) => app.fetch(req));
  } catch (e) {
    await control?.stop(true);
    throw new Error(`cannot listen on ${describeListen(l)}: ${(e as Error).message}`);
  }
  if (l.kind === "tcp") {
    logger.log("info", `status API (read-only) on ${describeListen(l)}`);
    const warning = exposureWarning(l);
    if (warning) logger.log("warning", warning);
  } else if (l.kind === "unix") logger.log("info", `control socket (status API and POST /reload) on unix:${l.path}`);
  return { server, control };
}
