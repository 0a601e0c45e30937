/**
 * The local status API (DESIGN.md §6), a hono app built by a factory so tests drive it with
 * `app.request()` and no socket.
 */
import { Hono } from "hono";
import type { Agent } from "./agent.ts";

export interface ApiDeps {
  agent: Agent;
  version: string;
  node: string;
  configDir: string;
}

export function createApi(deps: ApiDeps): Hono {
  const { agent } = deps;
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => (agent.applied ? c.json({ status: "ready", generation: agent.generation }) : c.json({ status: "not ready", reason: "no ruleset applied yet" }, 503)));
  app.get("/status", (c) => c.json(statusDocument(deps)));
  app.get("/ruleset", (c) => (agent.applied ? c.text(agent.applied.script) : c.text("no ruleset applied yet\n", 404)));
  app.get("/metrics", (c) => c.text(metrics(agent), 200, { "content-type": "text/plain; version=0.0.4" }));
  app.post("/reload", async (c) => {
    const attempt = await agent.reload("POST /reload", { force: true });
    return c.json({ ok: attempt.ok, generation: agent.generation, attempt }, attempt.ok ? 200 : 422);
  });
  app.notFound((c) => c.json({ error: "not found", path: c.req.path }, 404));
  app.onError((err, c) => c.json({ error: "internal error", message: err.message }, 500));
  return app;
}

export function statusDocument(deps: ApiDeps) {
  const { agent } = deps;
  const applied = agent.applied;
  return {
    version: deps.version,
    node: deps.node,
    configDir: deps.configDir,
    generation: agent.generation,
    applied: applied ? { at: applied.at, hash: applied.hash, durationMs: applied.durationMs, resources: applied.resources } : null,
    lastAttempt: agent.lastAttempt ?? null,
    endpoints: agent.endpoints().map(({ profiles: _profiles, ...ep }) => ep),
  };
}

function metrics(agent: Agent): string {
  const lines = [
    "# HELP hostwall_generation Generation of the ruleset in force (+1 per successful apply).",
    "# TYPE hostwall_generation gauge",
    `hostwall_generation ${agent.generation}`,
    "# HELP hostwall_applies_total Successful applies.",
    "# TYPE hostwall_applies_total counter",
    `hostwall_applies_total ${agent.applyCount}`,
    "# HELP hostwall_apply_failures_total Attempts that were rejected (invalid config or kernel refusal).",
    "# TYPE hostwall_apply_failures_total counter",
    `hostwall_apply_failures_total ${agent.failureCount}`,
    "# HELP hostwall_last_apply_duration_ms Duration of the last successful apply.",
    "# TYPE hostwall_last_apply_duration_ms gauge",
    `hostwall_last_apply_duration_ms ${agent.applied?.durationMs ?? 0}`,
    "# HELP hostwall_resources Resources in force by kind.",
    "# TYPE hostwall_resources gauge",
    ...Object.entries(agent.applied?.resources ?? {}).map(([kind, n]) => `hostwall_resources{kind="${kind}"} ${n}`),
  ];
  return lines.join("\n") + "\n";
}
