/**
 * Drop summaries in the kernel (#14 item 5, the kernel side): a config compiled with
 * `dropSummaries` is loaded in the lab host, the attacker's probes are denied by a policy
 * rule and the client's by another, and each rule's dynamic set lists exactly the address it
 * denied with exactly one packet per probe (UDP datagrams and pings only: a TCP probe may
 * see its SYN retried on a loaded machine), read back with parseDropSetJson and summarised per rule. A
 * rule that denied nothing has an empty summary; a Log rule's set lists the addresses it
 * logged (GET /drops `logs`); the pipeline's default is on, and off renders
 * no dynamic set. Then the agent, which compiles with drop
 * summaries unless run with --drop-summaries=off, serves the same through GET /drops (and says
 * enabled: false with the flag off; `hostwall drops` then says how to turn them on).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { NftRuleset } from "../../src/nft/ir.ts";
import { dropSets, parseDropSetJson, summariseDrops, type DropSummary } from "../../src/nft/drops.ts";
import { renderScript } from "../../src/nft/render.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { createLab, kernelTestGate, loadNft, PROBE_TIMEOUT_MS, probeAll, sweepStaleLabs, type Lab, type ProbeSpec } from "./lab";
import { compileRuleset } from "../../src/nft/compile.ts";
import { rmSync } from "node:fs";
import { BINARY, makeConfigDir, startAgent, waitFor, writeConfig, type AgentHandle } from "./agent-harness";

const enabled = await kernelTestGate();
const PREFIX = "hw-drops-";

const CONFIG = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: host, labels: {host: "true"}}
spec: {node: jasper, interfaceName: eth0, profiles: [projectcalico-default-allow]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: watch}
spec:
  selector: host == 'true'
  order: 20
  ingress:
  - action: Log
    protocol: UDP
    destination: {ports: [5355]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: block}
spec:
  selector: host == 'true'
  order: 10
  ingress:
  - action: Deny
    source: {nets: [192.0.2.66/32]}
  - action: Deny
    source: {nets: [2001:db8:2::66/128]}
  - action: Deny
    protocol: UDP
    destination: {ports: [5354]}
  - action: Deny
    protocol: UDP
    destination: {ports: [9999]}
`;

function compiled(dropSummaries: boolean): NftRuleset {
  const built = buildRuleset({ files: [{ path: "drops.yaml", text: CONFIG }], node: "jasper" });
  if (!built.plan) throw new Error("config does not resolve");
  return compileRuleset(built.plan, { dropSummaries });
}

describe.skipIf(!enabled)("drop summaries: each Deny rule's dynamic set", () => {
  let lab: Lab;
  beforeAll(async () => {
    await sweepStaleLabs(PREFIX);
    lab = await createLab({ tag: `${PREFIX}${process.pid.toString(36)}` });
  }, 60_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  test("on by default; off, the script has no dynamic set", () => {
    const built = buildRuleset({ files: [{ path: "drops.yaml", text: CONFIG }], node: "jasper" });
    expect(renderScript(compiled(true)).text).toBe(built.script!.text);
    expect(renderScript(compiled(false)).text).not.toContain("dynamic");
    expect(dropSets(compiled(true)).map((s) => `${s.kind} ${s.origin}`).sort()).toEqual(
      ["drop gnp/block/ingress/0", "drop gnp/block/ingress/1", "drop gnp/block/ingress/2", "drop gnp/block/ingress/2", "drop gnp/block/ingress/3", "drop gnp/block/ingress/3", "log gnp/watch/ingress/0", "log gnp/watch/ingress/0"].sort(),
    );
  });

  test("the attacker's and the client's addresses, one packet per probe, under the rule that denied them", async () => {
    const ruleset = compiled(true);
    await loadNft(lab.host, renderScript(ruleset).text);
    const to = (family: 4 | 6) => (family === 4 ? lab.addr.host.v4 : lab.addr.host.v6);
    const specs: ProbeSpec[] = [];
    for (let round = 0; round < 2; round++) {
      for (const family of [4, 6] as const) {
        specs.push({ from: lab.attacker, kind: "udp", addr: to(family), port: 5353, timeoutMs: PROBE_TIMEOUT_MS });
        specs.push({ from: lab.attacker, kind: "ping", addr: to(family), timeoutMs: PROBE_TIMEOUT_MS });
        specs.push({ from: lab.client, kind: "udp", addr: to(family), port: 5354, timeoutMs: PROBE_TIMEOUT_MS });
      }
    }
    const results = await probeAll(specs);
    expect(results.filter((r) => r.ok).length).toBe(0);

    const read = [];
    for (const s of dropSets(ruleset).filter((x) => x.kind === "drop")) {
      const r = await lab.host.exec(["nft", "-j", "list", "set", s.family, s.table, s.set]);
      expect(r.code).toBe(0);
      const parsed = parseDropSetJson(r.stdout);
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
      read.push({ origin: s.origin, sources: parsed.sources });
    }
    const summary = summariseDrops(read).map((d: DropSummary) => ({ origin: d.origin, packets: d.packets, top: d.top.map((t) => `${t.address} ${t.packets}`) }));
    expect(summary).toEqual([
      { origin: "gnp/block/ingress/0", packets: 4, top: [`${lab.addr.attacker.v4} 4`] },
      { origin: "gnp/block/ingress/1", packets: 4, top: [`${lab.addr.attacker.v6} 4`] },
      // Equal packets: more bytes first (IPv6 headers are longer).
      { origin: "gnp/block/ingress/2", packets: 4, top: [`${lab.addr.client.v6} 2`, `${lab.addr.client.v4} 2`] },
      { origin: "gnp/block/ingress/3", packets: 0, top: [] },
    ]);
  }, 60_000);
});

describe.skipIf(!enabled)("GET /drops of an agent (drop summaries on by default)", () => {
  let lab: Lab;
  let dir: string;
  let agent: AgentHandle | undefined;
  beforeAll(async () => {
    lab = await createLab({ tag: `${PREFIX}a${process.pid.toString(36)}` });
    dir = makeConfigDir();
    writeConfig(dir, "hostwall.yaml", CONFIG);
  }, 60_000);
  afterAll(async () => {
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the attacker's address under the rule that drops it, with its packet count; hostwall drops prints it; a bad top is refused", async () => {
    agent = startAgent(lab.host, { configDir: dir });
    await waitFor("the agent's first apply", async () => (await agent!.get("/readyz"))?.status === 200, 15_000).catch((e) => {
      throw new Error(`${e.message}\n${agent!.log()}`);
    });
    const to = lab.addr.host;
    const specs: ProbeSpec[] = [];
    for (let round = 0; round < 3; round++) {
      specs.push({ from: lab.attacker, kind: "udp", addr: to.v4, port: 5353, timeoutMs: PROBE_TIMEOUT_MS });
      specs.push({ from: lab.attacker, kind: "ping", addr: to.v6, timeoutMs: PROBE_TIMEOUT_MS });
    }
    specs.push({ from: lab.client, kind: "udp", addr: to.v4, port: 5354, timeoutMs: PROBE_TIMEOUT_MS });
    expect((await probeAll(specs)).filter((r) => r.ok).length).toBe(0);
    // Logged, not dropped (whether the host answers on 5355 does not matter): two datagrams over IPv4, one over IPv6.
    await probeAll([4, 4, 6].map((f) => ({ from: lab.client, kind: "udp" as const, addr: f === 4 ? to.v4 : to.v6, port: 5355, timeoutMs: PROBE_TIMEOUT_MS })));
    const r = await agent.get("/drops");
    expect(r?.status).toBe(200);
    const doc = JSON.parse(r!.body);
    const rows = (list: DropSummary[]) => list.map((d) => [d.origin, d.packets, d.sources, d.top.map((t) => `${t.address} ${t.packets}`)]);
    expect({ enabled: doc.enabled, window: doc.windowSeconds, logs: rows(doc.logs), rules: doc.rules.map((d: DropSummary) => [d.origin, d.packets, d.sources, d.top.map((t) => `${t.address} ${t.packets}`)]) }).toEqual({
      enabled: true,
      window: 600,
      rules: [
        ["gnp/block/ingress/0", 3, 1, [`${lab.addr.attacker.v4} 3`]],
        ["gnp/block/ingress/1", 3, 1, [`${lab.addr.attacker.v6} 3`]],
        ["gnp/block/ingress/2", 1, 1, [`${lab.addr.client.v4} 1`]],
        ["gnp/block/ingress/3", 0, 0, []],
      ],
      logs: [["gnp/watch/ingress/0", 3, 2, [`${lab.addr.client.v4} 2`, `${lab.addr.client.v6} 1`]]],
    });
    expect((await agent.get("/drops?top=0"))?.status).toBe(400);
    const cli = await lab.host.exec([BINARY, "drops", "--api", `unix:${agent.socket}`]);
    expect(cli.stdout).toContain(`logged per Log rule (every packet it matched, before the log's rate limit)\ngnp/watch/ingress/0: 3 packets`);
    expect({ code: cli.code, rule0: cli.stdout.includes(`gnp/block/ingress/0: 3 packets`), attacker: new RegExp(`^  ${lab.addr.attacker.v4.replaceAll(".", "\\.")} +3 packets`, "m").test(cli.stdout) }).toEqual({ code: 0, rule0: true, attacker: true });
    const json = await lab.host.exec([BINARY, "drops", "--json", "--top", "1", "--api", `unix:${agent.socket}`]);
    expect(JSON.parse(json.stdout).rules.map((d: DropSummary) => d.top.length)).toEqual([1, 1, 1, 0]);

    // A changed config goes in as an incremental apply: the untouched rules' sets keep what they
    // counted, the new rule gets its own, and the drops go on being counted.
    writeConfig(dir, "hostwall.yaml", CONFIG + "  - action: Deny\n    protocol: UDP\n    destination: {ports: [9998]}\n");
    expect((await agent.reload()).ok).toBe(true); // throws with the diagnostics when refused
    expect((await probeAll([{ from: lab.attacker, kind: "udp", addr: to.v4, port: 5353, timeoutMs: PROBE_TIMEOUT_MS }])).filter((r) => r.ok).length).toBe(0);
    const after = JSON.parse((await agent.get("/drops"))!.body);
    expect(after.rules.map((d: DropSummary) => [d.origin, d.packets])).toEqual([
      ["gnp/block/ingress/0", 4],
      ["gnp/block/ingress/1", 3],
      ["gnp/block/ingress/2", 1],
      ["gnp/block/ingress/3", 0],
      ["gnp/block/ingress/4", 0],
    ]);
    writeConfig(dir, "hostwall.yaml", CONFIG);
    await agent.proc.stop();
  }, 60_000);

  test("--drop-summaries=off: enabled false, no rules, no dynamic set in the ruleset, and hostwall drops says how to turn them on; a value other than on/off is a usage error", async () => {
    const bad = await lab.host.exec([BINARY, "run", "--once", "--config-dir", dir, "--drop-summaries=maybe"]);
    expect([bad.code, bad.stderr.includes('--drop-summaries must be on or off; got "maybe"')]).toEqual([2, true]);
    agent = startAgent(lab.host, { configDir: dir, extraArgs: ["--drop-summaries=off"] });
    await waitFor("the agent's first apply", async () => (await agent!.get("/readyz"))?.status === 200, 15_000);
    const r = await agent.get("/drops");
    expect(JSON.parse(r!.body)).toEqual({ enabled: false, rules: [], logs: [] });
    expect((await agent.get("/ruleset"))?.body).not.toContain("dynamic");
    const cli = await lab.host.exec([BINARY, "drops", "--api", `unix:${agent.socket}`]);
    expect([cli.code, cli.stderr.includes("started with --drop-summaries=off; restart it without that flag")]).toEqual([1, true]);
    await agent.proc.stop();
  }, 60_000);
});
