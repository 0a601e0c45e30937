/**
 * `npm run lab`: hostwall's main job, end to end, on this machine without touching it.
 *
 * Builds dist/hostwall, creates a lab of network namespaces (a "host" with eth0 on a LAN
 * with a "client" and an "attacker", documentation addresses only; the machine's own
 * interfaces and ruleset are never touched), runs the agent in the host namespace with
 * rules/ (Calico's "Defend against DoS attacks" guide plus an allow policy), probes it from
 * both sides and prints what got through. On a terminal the lab stays up until Enter or
 * Ctrl-C so you can poke at it; otherwise it cleans up and exits.
 */
import { join } from "node:path";
import { rmSync } from "node:fs";
import { $ } from "bun";
import { ensureSystemTools } from "./system-deps.ts";
import { createLab, nftCounter, probeAll, startServers, sweepStaleLabs, type Lab, type ProbeSpec } from "../test/kernel/lab.ts";
import { makeConfigDir, REPO, startAgent, waitFor } from "../test/kernel/agent-harness.ts";

const TAG = "hw-lab";

if (process.getuid?.() !== 0) {
  console.error("npm run lab needs root (it creates network namespaces and loads nftables rules inside them): sudo npm run lab");
  process.exit(1);
}
if (!(await ensureSystemTools({ install: true })).ok) process.exit(1);
const build = await $`${process.execPath} run ${join(REPO, "scripts/build.ts")}`.nothrow();
if (build.exitCode !== 0) process.exit(1);

await sweepStaleLabs(`${TAG}-`);
const lab: Lab = await createLab({ tag: `${TAG}-${process.pid.toString(36)}` });
const configDir = makeConfigDir(join(REPO, "rules"));
let code = 0;
try {
  await startServers(lab.host, { tcp: [22, 80, 8080], udp: [5353] });
  const agent = startAgent(lab.host, { configDir });
  await waitFor("the agent's first apply", async () => (await agent.get("/readyz"))?.status === 200, 15_000).catch((e) => {
    console.error(`${(e as Error).message}\nagent log:\n${agent.log()}`);
    throw e;
  });
  const h = lab.addr.host;
  const rows: [string, ProbeSpec, string][] = [];
  for (const who of ["client", "attacker"] as const) {
    const from = lab[who];
    rows.push(
      [who, { from, kind: "tcp", addr: h.v4, port: 80 }, "web, allowed by allow-host-services"],
      [who, { from, kind: "tcp", addr: h.v6, port: 80 }, "web over IPv6"],
      [who, { from, kind: "udp", addr: h.v4, port: 5353 }, "UDP service, allowed"],
      [who, { from, kind: "ping", addr: h.v4 }, "ping, allowed"],
      [who, { from, kind: "ping", addr: h.v6 }, "ping over IPv6"],
      [who, { from, kind: "tcp", addr: h.v4, port: 8080 }, "no policy allows it: default deny"],
      [who, { from, kind: "tcp", addr: h.v4, port: 22 }, "SSH: failsafe, before any policy"],
    );
  }
  const results = await probeAll(rows.map(([, spec]) => spec));
  console.log(`\nhost ${h.v4} / ${h.v6} (namespace ${lab.host.name}), client ${lab.addr.client.v4}, attacker ${lab.addr.attacker.v4} (on the deny list)\n`);
  console.log("from      probe                      result     why");
  results.forEach((r, i) => {
    const [who, spec, why] = rows[i]!;
    const target = `${spec.kind} ${spec.addr.includes(":") ? `[${spec.addr}]` : spec.addr}${spec.port ? `:${spec.port}` : ""}`;
    console.log(`${who.padEnd(9)} ${target.padEnd(26)} ${(r.ok ? "answered" : "dropped").padEnd(10)} ${who === "attacker" && !r.ok ? "deny list, dropped in the netdev ingress hook" : why}`);
  });
  const drops = await nftCounter(lab.host, { family: "netdev", table: "hostwall", comment: "gnp/dos-mitigation/ingress/0" });
  const status = await agent.status();
  console.log(`\nnetdev drop counter (gnp/dos-mitigation/ingress/0): ${drops.packets} packets`);
  console.log(`agent: generation ${status.generation}, applied in ${status.applied?.durationMs} ms, endpoints: ${status.endpoints.map((e: any) => `${e.name} on ${e.interface}`).join(", ")}`);
  const exec = `ip netns exec ${lab.host.name}`;
  console.log(`\nstatus API:   sudo ${exec} curl -s 127.0.0.1:9099/status`);
  console.log(`ruleset:      sudo ${exec} nft list ruleset`);
  console.log(`config dir:   ${configDir}  (edit 20-dos-deny-list.yaml and watch the agent re-apply)`);
  if (process.stdin.isTTY) {
    console.log("\nThe lab is running. Press Enter or Ctrl-C to stop it and clean up.");
    await new Promise<void>((resolve) => {
      process.stdin.once("data", () => resolve());
      process.once("SIGINT", () => resolve());
    });
    process.stdin.pause();
  }
} catch (e) {
  console.error(`lab failed: ${(e as Error).message}`);
  code = 1;
} finally {
  await lab.destroy();
  rmSync(configDir, { recursive: true, force: true });
  console.log("lab removed");
}
process.exit(code);
