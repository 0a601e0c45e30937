/**
 * The status API with app.request() (no socket): every bad request is a 4xx with a JSON body,
 * /metrics is valid Prometheus text with per-rule counters read from the (fake) kernel,
 * /status carries drift and link-monitor state; and the agent's log line format.
 */
import { describe, expect, test } from "bun:test";
import { createApi } from "../../src/api/app.ts";
import type { ServiceState } from "../../src/api/status.ts";
import { formatLog, memoryLogger } from "../../src/agent/log.ts";
import { escapeLabel, Histogram, parseOrigin } from "../../src/agent/metrics.ts";
import { fakeAgent } from "./api-fakes.ts";
import { parseMetrics as samples } from "../support/metrics.ts";

function setup(service?: () => ServiceState) {
  const f = fakeAgent();
  const logger = memoryLogger();
  const app = createApi({ agent: f.agent, version: "1.2.3", node: "jasper", configDir: "/etc/hostwall", service, logger });
  return { ...f, app, apiLog: logger };
}

describe("bad requests get 4xx JSON, never a 500 or a stack", () => {
  const json = { "content-type": "application/json" };
  const cases: Array<{ name: string; method: string; path: string; body?: string; headers?: Record<string, string>; status: number; error: string; allow?: string }> = [
    { name: "unknown path", method: "GET", path: "/nope", status: 404, error: "not found" },
    { name: "trailing slash", method: "GET", path: "/status/", status: 404, error: "not found" },
    { name: "traversal-looking path", method: "GET", path: "/status/../../etc/passwd", status: 404, error: "not found" },
    { name: "POST to a GET path", method: "POST", path: "/status", status: 405, error: "method not allowed", allow: "GET, HEAD, OPTIONS" },
    { name: "DELETE", method: "DELETE", path: "/ruleset", status: 405, error: "method not allowed", allow: "GET, HEAD, OPTIONS" },
    { name: "GET of POST /reload", method: "GET", path: "/reload", status: 405, error: "method not allowed", allow: "POST, OPTIONS" },
    { name: "PUT /reload", method: "PUT", path: "/reload", status: 405, error: "method not allowed", allow: "POST, OPTIONS" },
    // Bun's HTTP parser refuses unregistered method tokens (e.g. BREW) before the app sees them.
    { name: "a method the API does not use", method: "PROPFIND", path: "/metrics", status: 405, error: "method not allowed", allow: "GET, HEAD, OPTIONS" },
    { name: "TRACE", method: "TRACE", path: "/healthz", status: 405, error: "method not allowed", allow: "GET, HEAD, OPTIONS" },
    { name: "huge body", method: "POST", path: "/reload", body: "x".repeat(70 * 1024), headers: json, status: 413, error: "request body too large" },
    { name: "POST /reload as text/plain (a cross-origin form can send it)", method: "POST", path: "/reload", body: "{}", headers: { "content-type": "text/plain" }, status: 415, error: "unsupported media type" },
    { name: "POST /reload without a content type", method: "POST", path: "/reload", status: 415, error: "unsupported media type" },
  ];

  for (const c of cases) {
    test(c.name, async () => {
      const { app, kernel } = setup();
      const res = await app.request(c.path, { method: c.method, body: c.body, headers: c.headers });
      expect(res.status).toBe(c.status);
      expect(res.headers.get("content-type")).toContain("application/json");
      const body = (await res.json()) as { error: string };
      expect(body.error).toBe(c.error);
      expect(res.headers.get("allow") ?? undefined).toBe(c.allow);
      expect(kernel.applied).toEqual([]); // no bad request reloads
    });
  }

  test("OPTIONS answers 204 with Allow; HEAD answers like GET without a body", async () => {
    const { app, agent } = setup();
    await agent.reload("startup");
    const options = await app.request("/reload", { method: "OPTIONS" });
    expect([options.status, options.headers.get("allow")]).toEqual([204, "POST, OPTIONS"]);
    const head = await app.request("/status", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  test("an internal error is a 500 JSON without message or stack, and is logged", async () => {
    const { app, apiLog } = setup(() => {
      throw new Error("boom at secret/place.ts:12");
    });
    const res = await app.request("/status");
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: "internal error" });
    expect(apiLog.lines.join("\n")).toContain("boom at secret/place.ts:12");
  });

  test("POST /reload while stopping is 503 and does not reload", async () => {
    const { app, kernel } = setup(() => ({ stopping: true }));
    const res = await app.request("/reload", { method: "POST", headers: { "content-type": "application/json" } });
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error).toBe("shutting down");
    expect(kernel.applied).toEqual([]);
  });
});

describe("/metrics", () => {
  test("per-rule counters from the kernel, labelled by origin; histogram; drift; link monitor", async () => {
    const { app, agent, kernel } = setup(() => ({ stopping: false, interfaceChanges: 3, linkMonitor: { state: "running", events: 9, addressEvents: 4, restarts: 1 } }));
    await agent.reload("startup");
    kernel.count("gnp/dos-mitigation/ingress/0", 5, 300);
    kernel.count("gnp/allow-host-services/ingress/0", 2, 120);
    kernel.count("failsafe inbound", 1, 60);
    const res = await app.request("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    const m = samples(text);
    const rule = (labels: string) => [m.get(`hostwall_rule_packets_total{${labels}}`), m.get(`hostwall_rule_bytes_total{${labels}}`)];
    // The dos-mitigation rule renders as one nft rule per address set (hash v4, interval v4, hash v6): summed.
    expect(rule('kind="gnp",policy="dos-mitigation",direction="ingress",rule="0",table="netdev",chain="gnp-dos-mitigation-in"')).toEqual([15, 900]);
    expect(rule('kind="gnp",policy="allow-host-services",direction="ingress",rule="0",table="inet",chain="gnp-allow-host-services-in"')).toEqual([2, 120]);
    expect(rule('kind="gnp",policy="allow-host-services",direction="ingress",rule="1",table="inet",chain="gnp-allow-host-services-in"')).toEqual([0, 0]);
    expect(rule('kind="failsafe",policy="failsafe-inbound",direction="ingress",rule="tcp",table="inet",chain="failsafe-in"')).toEqual([1, 60]);
    expect(rule('kind="hep",policy="production-host",direction="egress",rule="default-deny",table="inet",chain="normal-out-eth0"')).toEqual([0, 0]);
    expect(rule('kind="tier",policy="default",direction="ingress",rule="end",table="inet",chain="normal-in-eth0"')).toEqual([0, 0]);
    expect(m.get("hostwall_rule_counters_ok")).toBe(1);
    expect(m.get("hostwall_generation")).toBe(1);
    expect(m.get('hostwall_apply_duration_seconds_bucket{le="0.5"}')).toBe(0);
    expect(m.get('hostwall_apply_duration_seconds_bucket{le="1"}')).toBe(1); // the fake clock: 1 s per apply
    expect(m.get('hostwall_apply_duration_seconds_bucket{le="+Inf"}')).toBe(1);
    expect(m.get("hostwall_apply_duration_seconds_count")).toBe(1);
    expect(m.get('hostwall_endpoint_active{endpoint="production-host",interface="eth0"}')).toBe(1);
    expect(m.get("hostwall_interface_changes_total")).toBe(3);
    expect(m.get("hostwall_link_monitor_restarts_total")).toBe(1);
    expect([m.get("hostwall_interface_events_total"), m.get("hostwall_address_events_total")]).toEqual([9, 4]);
    expect(m.get("hostwall_drift_detected_total")).toBe(0);
    // Every sample belongs to a family declared with HELP and TYPE.
    const declared = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((x) => x[1]));
    for (const name of m.keys()) expect(declared.has(name.replace(/\{.*$/, "").replace(/_(bucket|sum|count)$/, ""))).toBe(true);
  });

  test("counters after an outside change: only rules whose comment still matches are reported; a listing failure says so", async () => {
    const { app, agent, kernel } = setup();
    await agent.reload("startup");
    const chain = kernel.tables.find((t) => t.family === "inet")!.chains.find((c) => c.name === "gnp-allow-host-services-in")!;
    chain.rules[0]!.comment = "someone else";
    const m = samples(await (await app.request("/metrics")).text());
    expect(m.has('hostwall_rule_packets_total{kind="gnp",policy="allow-host-services",direction="ingress",rule="0",table="inet",chain="gnp-allow-host-services-in"}')).toBe(false);
    expect(m.has('hostwall_rule_packets_total{kind="gnp",policy="allow-host-services",direction="ingress",rule="1",table="inet",chain="gnp-allow-host-services-in"}')).toBe(true);
    kernel.listError = "Operation not permitted";
    const failed = await app.request("/metrics");
    expect(failed.status).toBe(200);
    const f = samples(await failed.text());
    expect(f.get("hostwall_rule_counters_ok")).toBe(0);
    expect([...f.keys()].some((k) => k.startsWith("hostwall_rule_packets_total"))).toBe(false);
  });

  test("origins parse into labels; label values are escaped; the histogram is cumulative", () => {
    expect(parseOrigin("gnp/allow-web/ingress/3")).toEqual({ kind: "gnp", policy: "allow-web", direction: "ingress", rule: "3" });
    expect(parseOrigin("pro/default-allow/egress/0")).toEqual({ kind: "pro", policy: "default-allow", direction: "egress", rule: "0" });
    expect(parseOrigin("pro/projectcalico-default-allow/ingress")).toEqual({ kind: "pro", policy: "projectcalico-default-allow", direction: "ingress", rule: "" });
    expect(parseOrigin("pro/gone/ingress/missing")).toEqual({ kind: "pro", policy: "gone", direction: "ingress", rule: "missing" });
    expect(parseOrigin("hep/web-1/egress/default-deny")).toEqual({ kind: "hep", policy: "web-1", direction: "egress", rule: "default-deny" });
    expect(parseOrigin("tier/security/ingress/end")).toEqual({ kind: "tier", policy: "security", direction: "ingress", rule: "end" });
    expect(parseOrigin("failsafe/failsafe-inbound/tcp")).toEqual({ kind: "failsafe", policy: "failsafe-inbound", direction: "ingress", rule: "tcp" });
    expect(parseOrigin("failsafe/failsafe-outbound/udp")).toEqual({ kind: "failsafe", policy: "failsafe-outbound", direction: "egress", rule: "udp" });
    expect(parseOrigin("failsafe/failsafe-outbound-reply/tcp")).toEqual({ kind: "failsafe", policy: "failsafe-outbound-reply", direction: "ingress", rule: "tcp" });
    expect(parseOrigin("failsafe/failsafe-inbound-reply/tcp")).toEqual({ kind: "failsafe", policy: "failsafe-inbound-reply", direction: "egress", rule: "tcp" });
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    const h = new Histogram([0.1, 1]);
    for (const v of [0.05, 0.5, 5]) h.observe(v);
    expect([h.counts, h.count, h.sum]).toEqual([[1, 2], 3, 5.55]);
  });
});

describe("/status", () => {
  test("drift and link monitor state are part of the document", async () => {
    const { app, agent, kernel } = setup(() => ({ stopping: false, linkMonitor: { state: "restarting", events: 0, addressEvents: 0, restarts: 2 } }));
    await agent.reload("startup");
    kernel.drop("netdev");
    expect((await agent.checkDrift()).state).toBe("drift");
    const status = (await (await app.request("/status")).json()) as any;
    expect(status.drift).toEqual({ count: 1, repairs: 1, checks: 1, last: { at: expect.any(String), differences: ["table netdev hostwall is missing"], repaired: true } });
    expect(status.linkMonitor).toEqual({ state: "restarting", events: 0, addressEvents: 0, restarts: 2 });
    expect(status.generation).toBe(2);
  });
});

describe("log lines", () => {
  test("one <N>-prefixed line per message; control characters and line breaks escaped; no colour", () => {
    // A line break never starts a second entry: a config value cannot forge one (issue 18, finding 9).
    expect(formatLog("warning", "bad name \"x\n<6>applied generation 42\"", true)).toBe("<4>bad name \"x\\x0a<6>applied generation 42\"\n");
    expect(formatLog("warning", "a\r\nb\u2028c", false)).toBe("warning: a\\x0d\\x0ab\\u2028c\n");
    expect(formatLog("notice", "restored", true)).toBe("<5>restored\n");
    expect(formatLog("info", "applied", true)).toBe("<6>applied\n");
    expect(formatLog("error", "bad \x1b[31mred\x1b[0m file\r", true)).toBe("<3>bad \\x1b[31mred\\x1b[0m file\\x0d\n");
    expect(formatLog("info", "on a terminal", false)).toBe("on a terminal\n");
    expect(formatLog("error", "on a terminal", false)).toBe("error: on a terminal\n");
  });
});
