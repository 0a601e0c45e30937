/**
 * Operating the agent, with the real binary in a lab namespace and the example rules, run
 * with the privileges the systemd unit gives it (root with only CAP_NET_ADMIN in its bounding
 * set, no new privileges): per-rule counters in /metrics move with real traffic; an outside
 * `nft delete table`, `nft flush ruleset` or deleted rule is repaired and counted; a burst of
 * edits and SIGHUPs during an attempt (held in its apply by an nft shim) coalesces into exactly
 * one more attempt, which applies the last edit.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLab, kernelTestGate, nftCounter, expectProbes, runOk, startServers, sweepStaleLabs, type Lab, type ProbeSpec } from "./lab";
import { BINARY, makeConfigDir, REPO, waitFor, writeConfig } from "./agent-harness";
import type { Proc } from "./netns";
import { createNftShim, type NftShim } from "./nft-shim";
import { apiGet } from "../support/agent-api";
import { parseMetrics as samples } from "../support/metrics.ts";

const TAG = `hw-op-${process.pid.toString(36)}`;
const enabled = await kernelTestGate();
const DENY_LIST = join(REPO, "rules/20-dos-deny-list.yaml");
/** The drift check runs every 10 s; allow for one period plus the repair. */
const DRIFT_WAIT_MS = 15_000;

describe.skipIf(!enabled)("operating the agent", () => {
  let lab: Lab;
  let configDir: string;
  let proc: Proc;
  let log = "";
  let shim: NftShim | undefined;
  let work = "";
  /** While this file exists the shim holds the agent's applies. */
  let gate = "";
  /** The shim's record of script calls: "check" or "apply" per line. */
  let shimLog = "";

  const api = async (path: string) => {
    const r = await apiGet(lab.host, 9099, path);
    if (!r) throw new Error(`API unreachable (${path}); agent log:\n${log}`);
    return r;
  };
  const status = async () => JSON.parse((await api("/status")).body);
  const metrics = async () => samples((await api("/metrics")).body);
  const nft = (...args: string[]) => runOk(["ip", "netns", "exec", lab.host.name, "nft", ...args]);
  const reach = (from: "client" | "attacker", port: number): ProbeSpec => ({ from: lab[from], kind: "tcp", addr: lab.addr.host.v4, port });

  beforeAll(async () => {
    await sweepStaleLabs("hw-op-");
    lab = await createLab({ tag: TAG });
    await startServers(lab.host, { tcp: [22, 80, 8080], udp: [] });
    configDir = makeConfigDir(join(REPO, "rules"));
    // nft through a shim that can hold an apply (gate) and counts them (nft-shim.ts); it passes
    // everything else through, so the other tests see the real nft.
    work = mkdtempSync(join(tmpdir(), "hostwall-op-"));
    gate = join(work, "gate");
    shimLog = join(work, "nft.log");
    writeFileSync(shimLog, "");
    shim = createNftShim({ gate, log: shimLog });
    // As systemd runs it: CapabilityBoundingSet=CAP_NET_ADMIN, NoNewPrivileges=yes.
    proc = lab.host.spawn(["setpriv", "--bounding-set=-all,+net_admin", "--inh-caps=-all", "--no-new-privs", BINARY, "run", "--config-dir", configDir, "--node", "jasper", "--listen", "127.0.0.1:9099", "--socket", "off", "--nft", shim.path]);
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc.sub.stderr as ReadableStream<Uint8Array>) log += decoder.decode(chunk);
    })();
    await waitFor("the first apply (/readyz 200)", async () => (await api("/readyz").catch(() => null))?.status === 200);
  });

  afterAll(async () => {
    await lab?.destroy();
    shim?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  });

  test("runs with CAP_NET_ADMIN alone", async () => {
    // `ip netns exec` and setpriv exec in place: the spawned pid is the agent.
    expect(readFileSync(`/proc/${proc.pid}/cmdline`, "utf8").split("\0")[0]).toBe(BINARY);
    const caps = readFileSync(`/proc/${proc.pid}/status`, "utf8");
    expect(/^CapEff:\s+0000000000001000$/m.test(caps) ? "" : caps).toBe(""); // bit 12: CAP_NET_ADMIN
    expect(/^NoNewPrivs:\s+1$/m.test(caps)).toBe(true);
  });

  test("per-rule counters in /metrics move with traffic and equal the kernel's", async () => {
    const rule = (kind: string, policy: string, direction: string, r: string, table: string, chain: string) =>
      `{kind="${kind}",policy="${policy}",direction="${direction}",rule="${r}",table="${table}",chain="${chain}"}`;
    const deny = rule("gnp", "dos-mitigation", "ingress", "0", "netdev", "gnp-dos-mitigation-in");
    const web = rule("gnp", "allow-host-services", "ingress", "0", "inet", "gnp-allow-host-services-in");
    const failsafe = rule("failsafe", "failsafe-inbound", "ingress", "tcp", "netdev", "failsafe-raw-in");
    const tierEnd = rule("tier", "default", "ingress", "end", "inet", "normal-in-eth0"); // no policy of the tier allowed it
    const before = await metrics();
    expect(before.get("hostwall_rule_counters_ok")).toBe(1);
    await expectProbes([
      [reach("attacker", 80), false],
      [reach("attacker", 8080), false],
      [reach("client", 80), true],
      [reach("client", 22), true],
      [reach("client", 8080), false],
    ]);
    const after = await metrics();
    const delta = (series: string) => after.get(`hostwall_rule_packets_total${series}`)! - before.get(`hostwall_rule_packets_total${series}`)!;
    expect(delta(deny)).toBe(2); // the attacker's two SYNs (a dropped probe gives up before TCP retransmits)
    expect(delta(web)).toBe(1); // the client's SYN to 80; the rest of the connection is established
    expect(delta(tierEnd)).toBe(1); // the client's SYN to 8080
    // The failsafe rule is in the netdev hook, before conntrack: it sees every packet the client
    // sends to 22. At least SYN, the handshake's ACK and the token; at most also ACKs of the
    // greeting, the echo and the server's FIN, and the client's FIN. Which ACKs ride on data
    // depends on delayed-ACK timing, so the count is bounded, not exact.
    const fs = delta(failsafe);
    expect(fs >= 3 && fs <= 7 ? "" : `failsafe counted ${fs}`).toBe("");
    expect(after.get(`hostwall_rule_bytes_total${deny}`)!).toBeGreaterThan(before.get(`hostwall_rule_bytes_total${deny}`)!);
    // Same numbers as nft's own listing (the probes are over: no traffic in between).
    const kernel = await nftCounter(lab.host, { family: "netdev", table: "hostwall", comment: "gnp/dos-mitigation/ingress/0" });
    expect(after.get(`hostwall_rule_packets_total${deny}`)).toBe(kernel.packets);
    expect(after.get(`hostwall_rule_bytes_total${deny}`)).toBe(kernel.bytes);
  }, 15_000);

  test("an outside nft delete table is repaired and counted", async () => {
    const generation = (await status()).generation;
    await nft("delete", "table", "netdev", "hostwall");
    await expectProbes([[reach("attacker", 80), true]]); // the hole drift opens: the deny list was in that table
    const s = await waitFor("the drift repair", async () => {
      const st = await status();
      // The generation moves before the repair is recorded (the apply lists the tables after): wait for both.
      return st.drift.count >= 1 && st.drift.repairs >= 1 && st.generation > generation ? st : undefined;
    }, DRIFT_WAIT_MS);
    expect(s.drift).toMatchObject({ count: 1, repairs: 1, last: { differences: ["table netdev hostwall is missing"], repaired: true } });
    expect(s.lastAttempt).toMatchObject({ ok: true, reason: "drift repair" });
    expect(await nft("list", "tables")).toContain("table netdev hostwall");
    await expectProbes([
      [reach("attacker", 80), false],
      [reach("client", 80), true],
    ]);
    const m = await metrics();
    expect([m.get("hostwall_drift_detected_total"), m.get("hostwall_drift_repairs_total")]).toEqual([1, 1]);
    expect(log).toContain("<4>drift: the live hostwall tables differ from generation");
  }, 30_000);

  test("nft flush ruleset and a deleted rule are repaired too", async () => {
    await nft("flush", "ruleset");
    await waitFor("the repair after flush ruleset", async () => (await status()).drift.repairs >= 2, DRIFT_WAIT_MS);
    expect((await nft("list", "tables")).trim().split("\n").sort()).toEqual(["table inet hostwall", "table netdev hostwall"]);
    const listing = await nft("-a", "list", "chain", "inet", "hostwall", "filter-input");
    const handle = /handle (\d+)\s*$/m.exec(listing.split("\n").filter((l) => l.includes("handle")).at(-1)!)![1]!;
    await nft("delete", "rule", "inet", "hostwall", "filter-input", "handle", handle);
    const s = await waitFor("the repair after a deleted rule", async () => {
      const st = await status();
      return st.drift.repairs >= 3 ? st : undefined;
    }, DRIFT_WAIT_MS);
    expect(s.drift.last.differences).toEqual(["table inet hostwall: chain filter-input has 1 rule(s), applied 2"]);
    await expectProbes([
      [reach("attacker", 80), false],
      [reach("client", 80), true],
    ]);
  }, 45_000);

  test("SIGHUP under a burst of edits: every request during an attempt coalesces into exactly one more attempt, which applies the last edit", async () => {
    const original = readFileSync(DENY_LIST, "utf8");
    const variant = (i: number) => original.replace("'192.0.2.66/32'", `'192.0.2.${100 + (i % 50)}/32'`);
    const applies = () => readFileSync(shimLog, "utf8").split("\n").filter((l) => l === "apply").length;
    const g0 = (await status()).generation;
    const a0 = applies();
    // Attempt 1: an edit and a SIGHUP; the shim holds its apply (after the dry run) until the gate goes.
    writeFileSync(gate, "");
    writeConfig(configDir, "20-dos-deny-list.yaml", variant(0));
    proc.kill("SIGHUP");
    try {
      await waitFor("attempt 1 held in its apply", async () => existsSync(`${gate}.waiting`), 5000);
      // The burst, all during attempt 1: 39 more edits (watcher events) and 10 SIGHUPs.
      const edits = 40;
      let hups = 0;
      for (let i = 1; i < edits; i++) {
        writeConfig(configDir, "20-dos-deny-list.yaml", variant(i));
        if (i % 4 === 0) {
          proc.kill("SIGHUP");
          hups++;
        }
        await Bun.sleep(10);
      }
      expect(hups).toBe(9);
      await Bun.sleep(2500); // longer than the watcher's max wait (2 s): every request of the burst was made
      expect([(await status()).generation - g0, applies() - a0, existsSync(`${gate}.waiting`)]).toEqual([0, 1, true]);
    } finally {
      rmSync(gate, { force: true });
    }
    await waitFor("the last edit in force", async () => (await api("/ruleset")).body.includes("192.0.2.139"), 10_000);
    await Bun.sleep(2500); // longer than the watcher's max wait: anything still queued has run
    const after = await status();
    // Attempt 1 applied variant(0); the burst's requests (SIGHUPs and watcher changes alike) were
    // one attempt, which read the last edit. Nothing else ran.
    expect([after.generation - g0, applies() - a0]).toEqual([2, 2]);
    // The last attempt is the coalesced one that applied: its reason lists both kinds of request,
    // and it was not an unchanged re-read (one attempt per request would end in such a one).
    expect(after.lastAttempt).toMatchObject({ ok: true });
    expect(after.lastAttempt.unchanged).toBeUndefined();
    expect(after.lastAttempt.reason.split(", ").sort()).toEqual(["SIGHUP", "config changed"]);
    expect((await api("/ruleset")).body).toContain("192.0.2.139");
    expect(proc.sub.exitCode).toBeNull();
    expect(log).not.toMatch(/^<[0-3]>/m);
    await expectProbes([
      [reach("attacker", 80), true], // .66 is off the list now
      [reach("client", 80), true],
    ]);
    writeConfig(configDir, "20-dos-deny-list.yaml", original);
    await waitFor("the original list back", async () => (await api("/ruleset")).body.includes("192.0.2.66"));
    await expectProbes([[reach("attacker", 80), false]]);
  }, 30_000);

  test("SIGTERM: exits 0, the rules stay", async () => {
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(log).toContain("<6>SIGTERM: stopping; the ruleset of generation");
    expect(await nft("list", "tables")).toContain("table netdev hostwall");
    await expectProbes([[reach("attacker", 80), false]]);
  });
});
