/**
 * The local status API (DESIGN.md §6), a hono app built by a factory so tests drive it with
 * `app.request()` and no socket.
 *
 * One app per listener: the control socket may do everything, a TCP listener only reads
 * (guard.ts says who may ask what, and why). Every answer is JSON except /metrics and
 * /ruleset (text), /trace NDJSON (trace/serve.ts). A bad request gets a 4xx with a JSON body: wrong Host 421, POST on a
 * read-only listener 403, unknown path 404, known path with another method 405 (with
 * `Allow`), a POST that is not application/json 415, a body over 64 KiB 413. An unexpected
 * exception is logged and answered with a plain 500 JSON body, never a stack trace.
 */
import { Hono, type Context } from "hono";
import { reloadRequest } from "./requests.ts";
import { HTTPException } from "hono/http-exception";
import type { RuleCounters } from "../agent/types.ts";
import { endpointIndex, guard, type ApiAccess } from "./guard.ts";
import type { Logger } from "../agent/log.ts";
import { MetricsWriter } from "../agent/metrics.ts";
import { traceServer, type TraceServer } from "../trace/serve.ts";
import { statusDocument, type ErrorAnswer, type ReloadAnswer, type StatusSource } from "./status.ts";

export interface ApiDeps extends StatusSource {
  /** Where unexpected errors and refused oversized bodies are logged. */
  logger?: Logger;
  /** GET /trace (tests replace it); default: the agent's one, shared by its listeners. */
  trace?: TraceServer;
}

/** The listener an app serves. */
export interface ApiListener {
  /** "control" (the unix socket: everything, the default) or "read-only" (TCP). */
  access: ApiAccess;
  /** The TCP listen hostname: accepted in Host when it is a name. */
  listenHost?: string;
  /** The control socket's path, named in a read-only listener's 403 answer and the index. */
  controlSocket?: string;
}

export function createApi(deps: ApiDeps, listener: ApiListener = { access: "control" }): Hono {
  const { agent } = deps;
  const app = new Hono();
  const guardOptions = { ...listener, logger: deps.logger };
  app.use("*", guard(guardOptions));
  app.get("/", (c) => c.json(endpointIndex(guardOptions)));
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  // Ready means a hostwall ruleset is in force, whoever applied it: this agent, or the one
  // before it (found in the kernel at start while this one's config is rejected).
  app.get("/readyz", (c) =>
    agent.applied || agent.inKernel
      ? c.json({ status: "ready", generation: agent.generation, source: agent.applied?.source ?? "kernel" })
      : c.json({ status: "not ready", reason: "no hostwall ruleset is in force" }, 503),
  );
  app.get("/status", async (c) => c.json(await statusDocument(deps)));
  app.get("/ruleset", (c) => {
    if (agent.applied) return c.text(agent.applied.script);
    const k = agent.inKernel;
    if (k) return c.text(`# hostwall's tables found in the kernel at start are in force (${k.stamp ? `generation ${k.stamp.generation}, hash ${k.stamp.hash}` : "unstamped"}); this agent has not applied a ruleset (its config is rejected, see /status); \`nft list table inet hostwall\` shows them\n`);
    return c.text("no hostwall ruleset is in force\n", 404);
  });
  app.get("/drops", async (c) => {
    const top = c.req.query("top") ?? "10";
    if (!/^[1-9][0-9]{0,3}$/.test(top)) return c.json({ error: "top must be 1-9999" } satisfies ErrorAnswer, 400);
    const r = await agent.drops(Number(top));
    return r.ok ? c.json(r.doc) : c.json({ error: r.error } satisfies ErrorAnswer, 503);
  });
  app.get("/metrics", async (c) => c.text(renderMetrics(deps, await agent.ruleCounters()), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }));
  app.get("/trace", (c) => (deps.trace ?? traceServer(agent)).serve(c.req.raw, agent.traceContext()));
  app.post("/reload", async (c) => {
    if (deps.service?.().stopping) return c.json({ error: "shutting down", generation: agent.generation } satisfies ErrorAnswer, 503);
    const request = reloadRequest(await c.req.text());
    if ("error" in request) return c.json(request, 400);
    // A confirm window goes back to what is in force: with nothing of this agent's in force there is nothing to go back to.
    if (request.confirmMs !== undefined && !agent.applied) return c.json({ error: "nothing to go back to", hint: "no ruleset of this agent is in force; reload without --confirm" } satisfies ErrorAnswer, 409);
    // Not forced: an unchanged result is not applied again (counters keep counting); drift is the drift check's job.
    const attempt = await agent.reload("POST /reload", { request });
    const pending = agent.confirm.status().pending;
    return c.json({ ok: attempt.ok, generation: agent.generation, attempt, ...(pending ? { confirm: pending } : {}) } satisfies ReloadAnswer, attempt.ok ? 200 : 422);
  });
  app.post("/confirm", async (c) => {
    const r = await agent.confirm.confirm();
    return r.ok ? c.json({ ok: true, generation: r.generation }) : c.json({ error: r.error, generation: agent.generation } satisfies ErrorAnswer, 409);
  });
  // Reads and builds the config dir (seconds for a huge one): control socket only (guard.ts).
  const diff = async (c: Context) => {
    const r = await agent.diff();
    if (!r.doc) return c.json({ error: "config rejected", diagnostics: r.diagnostics } satisfies ErrorAnswer, 422);
    return c.json({ ...r.doc, generation: agent.generation, diagnostics: r.diagnostics });
  };
  app.get("/diff", diff);
  app.post("/diff", diff);
  app.notFound((c) => c.json({ error: "not found", path: c.req.path } satisfies ErrorAnswer, 404));
  app.onError((err, c) => {
    if (err instanceof HTTPException) return c.json({ error: err.message || "bad request" } satisfies ErrorAnswer, err.status);
    deps.logger?.log("error", `API ${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`);
    return c.json({ error: "internal error" } satisfies ErrorAnswer, 500);
  });
  return app;
}

function renderMetrics(deps: ApiDeps, counters: RuleCounters): string {
  const { agent } = deps;
  const applied = agent.applied;
  const service = deps.service?.();
  const endpoints = agent.endpoints();
  const w = new MetricsWriter()
    .family("hostwall_build_info", "gauge", "Version of the running agent.", [[{ version: deps.version, node: deps.node }, 1]])
    .family("hostwall_generation", "gauge", "Generation of the ruleset in force (+1 per successful apply).", [[{}, agent.generation]])
    .family("hostwall_applies_total", "counter", "Successful applies.", [[{}, agent.applyCount]])
    .family("hostwall_nft_backend", "gauge", "How scripts reach the kernel: libnftables (in-process) or spawn (an nft process).", [[{ backend: agent.nftBackend.backend }, 1]])
    .family("hostwall_nft_applies_total", "counter", "Successful applies by kind: delta of the ruleset in force, or full replace of the tables.", [[{ kind: "delta" }, agent.engine.deltas], [{ kind: "full" }, agent.engine.fullApplies]])
    .family("hostwall_nft_deltas_rejected_total", "counter", "Deltas the kernel refused (nothing changed; the whole ruleset was applied instead).", [[{}, agent.engine.deltasRejected]])
    .family("hostwall_apply_failures_total", "counter", "Attempts that were rejected (invalid config or kernel refusal).", [[{}, agent.failureCount]])
    .histogram("hostwall_apply_duration_seconds", "Duration of successful applies: read, build, nft check and nft apply.", agent.applyDurations)
    .family("hostwall_last_apply_duration_seconds", "gauge", "Duration of the last successful apply.", [[{}, (applied?.durationMs ?? 0) / 1000]])
    .family("hostwall_ruleset_in_force", "gauge", "1 if a hostwall ruleset is in force (applied by this agent, or found in the kernel at start), 0 if not.", [[{}, applied || agent.inKernel ? 1 : 0]])
    .family("hostwall_endpoints_enforced", "gauge", "HostEndpoints of this node enforced now (0: nothing is protected).", [[{}, endpoints.filter((ep) => ep.active).length]])
    .family("hostwall_last_apply_timestamp_seconds", "gauge", "When the ruleset in force was applied (0: never).", [[{}, applied ? Date.parse(applied.at) / 1000 : 0]])
    .family("hostwall_last_attempt_ok", "gauge", "1 if the last attempt applied (or found nothing to change), 0 if it was rejected.", [[{}, agent.lastAttempt?.ok ? 1 : 0]])
    .family("hostwall_resources", "gauge", "Resources in force by kind.", Object.entries(applied?.resources ?? {}).map(([kind, n]) => [{ kind }, n]))
    .family("hostwall_endpoint_active", "gauge", "1 if the HostEndpoint's interface exists (enforced in the netdev hook), 0 if not.", endpoints.map((ep) => [{ endpoint: ep.name, interface: ep.interface }, ep.active ? 1 : 0]))
    .family("hostwall_drift_checks_total", "counter", "Comparisons of the live hostwall tables with what was applied.", [[{}, agent.drift.checks]])
    .family("hostwall_drift_detected_total", "counter", "Times the live hostwall tables differed from what was applied.", [[{}, agent.drift.count]])
    .family("hostwall_drift_repairs_total", "counter", "Drifts repaired by re-applying.", [[{}, agent.drift.repairs]])
    .family("hostwall_drift_set_contents_total", "counter", "Of the drifts detected, those in set contents (elements added or removed by hand; repaired by refilling the sets).", [[{}, agent.setDrifts]])
    .family("hostwall_trace_mismatches_total", "counter", "Packets of traces served by GET /trace whose kernel verdict differed from hostwall explain's (MISMATCH: a bug, or drift).", [[{}, (deps.trace ?? traceServer(agent)).mismatches]]);
  if (service?.linkMonitor) {
    w.family("hostwall_interface_events_total", "counter", "Link notifications seen from the kernel.", [[{}, service.linkMonitor.events]]);
    w.family("hostwall_address_events_total", "counter", "Address notifications seen from the kernel.", [[{}, service.linkMonitor.addressEvents]]);
    w.family("hostwall_interface_changes_total", "counter", "Interfaces that appeared, disappeared or were renamed.", [[{}, service.interfaceChanges ?? 0]]);
    w.family("hostwall_link_monitor_restarts_total", "counter", "Restarts of `ip monitor link address` after it exited.", [[{}, service.linkMonitor.restarts]]);
  }
  const ds = service?.datastore;
  if (ds) {
    w.family("hostwall_datastore_connected", "gauge", "1 if the etcd datastore is connected (watching), 0 while it is unreachable (the ruleset in force stays).", [[{ type: ds.type }, ds.connected ? 1 : 0]]);
    w.family("hostwall_datastore_revision", "gauge", "The etcd revision the agent's copy of the datastore is at.", [[{}, ds.revision]]);
    w.family("hostwall_datastore_events_total", "counter", "Watch events received from etcd.", [[{}, ds.events]]);
    w.family("hostwall_datastore_lists_total", "counter", "Full lists of the datastore (the first, then relists after compaction or repeated watch errors).", [[{}, ds.lists]]);
    w.family("hostwall_datastore_reconnects_total", "counter", "Watches that failed or ended and were set up again.", [[{}, ds.reconnects]]);
  }
  w.family("hostwall_rule_counters_ok", "gauge", "1 if the per-rule counters below were read from nft, 0 if listing failed.", [[{}, counters.ok ? 1 : 0]]);
  const samples = counters.ok ? counters.samples : [];
  const ruleLabels = (s: (typeof samples)[number]) => ({ kind: s.kind, policy: s.policy, direction: s.direction, rule: s.rule, table: s.table, chain: s.chain });
  w.family("hostwall_rule_packets_total", "counter", "Packets matched by a rule from a policy, profile, failsafe or default deny (reset on each apply).", samples.map((s) => [ruleLabels(s), s.packets]));
  w.family("hostwall_rule_bytes_total", "counter", "Bytes matched by a rule from a policy, profile, failsafe or default deny (reset on each apply).", samples.map((s) => [ruleLabels(s), s.bytes]));
  return w.text();
}
