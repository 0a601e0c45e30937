/**
 * Security issue #18, with the real binary and real packets in a lab (see README.md):
 *
 *  finding 1: a `*` endpoint and an endpoint on an interface named `any-interface` get distinct
 *     chains (they used to share `normal-in-any-interface`, so the allow-all profile decided for
 *     every interface);
 *  finding 3: an interface whose name nft cannot carry (`e"}*`), or named `*`, that holds an
 *     expectedIP is never bound: a warning, and the agent runs, repairs drift and enforces (it
 *     used to exit 70 at start; the `*` one used to make its endpoint the wildcard);
 *  finding 4: fail safe at start: a rejected config with no hostwall tables applies the last
 *     good ruleset from --state-dir, tables found in the kernel stay in force, --boot-policy
 *     failsafe leaves only the failsafe ports open, and a restart with the same config re-applies it
 *     (a rule replaced in place while no agent ran is healed; the generation counts on).
 *
 * Every reachability check is a data probe (banner and echo, security-support.ts).
 * HOSTWALL_TEST_BINARY points the tests at another build (to show they fail there).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLab, createNs, deleteNs, kernelTestGate, runOk, startServers, sweepStaleLabs, type Lab, type Ns } from "./lab";
import { makeConfigDir, writeConfig } from "./agent-harness";
import { allowPolicy, byAddress, CLASH_CONFIG, ETH0_CONFIG, hostwall, probeReport, startAgent, until, type Agent, type AgentOptions } from "./security-support";

const TAG = `hw-sc-${process.pid.toString(36)}`;
const enabled = await kernelTestGate();
/** The drift check runs every 10 s; one period plus the repair, with room for a loaded machine. */
const DRIFT_WAIT_MS = 15_000;
/** host's end of the extra link (named `any-interface` in the host namespace) and the peer's. */
const LINK = { host: "203.0.113.1", peer: "203.0.113.2" };
const HOST = "192.0.2.10";

describe.skipIf(!enabled)("security issue #18", () => {
  let lab: Lab;
  let peer: Ns;
  let agent: Agent | undefined;
  const dirs: string[] = [];

  const tempDir = (kind: "cfg" | "state") => {
    const d = kind === "cfg" ? makeConfigDir() : mkdtempSync(join(tmpdir(), "hostwall-state-")); // mkdtemp: 0700, root's
    dirs.push(d);
    return d;
  };
  const start = async (opts: AgentOptions) => (agent = await startAgent(lab.host, opts));
  /** The first attempt's /status; fails at once if the agent exits. */
  const firstAttempt = (a: Agent) =>
    until("the first attempt in /status", async () => {
      if (a.proc.sub.exitCode !== null) throw new Error(`the agent exited ${a.proc.sub.exitCode}; log:\n${a.log()}`);
      const s = await a.tryStatus();
      return s?.lastAttempt ? s : undefined;
    }, 10_000, a.log);
  const nft = (...args: string[]) => runOk(["ip", "netns", "exec", lab.host.name, "nft", ...args]);
  const hostwallTables = async () => (await nft("list", "tables")).split("\n").filter((l) => l.includes("hostwall")).sort();
  /**
   * An interface of the host namespace named `name` holding `ip` (a veth whose peer `hwodd0` stays
   * in the namespace: this kernel has no dummy module). The name goes as one argv word, unquoted.
   */
  const oddLink = async (name: string, ip: string) => {
    for (const cmd of [["link", "add", name, "type", "veth", "peer", "name", "hwodd0"], ["addr", "add", `${ip}/32`, "dev", name], ["link", "set", name, "up"]]) {
      await runOk(["ip", "-n", lab.host.name, ...cmd]);
    }
  };
  /** The last good record(s) in a state dir (`last-good*.json`; the name may carry the netns). */
  const lastGoodFiles = (dir: string) => readdirSync(dir).filter((f) => /^last-good.*\.json$/.test(f));
  const diag = (s: any, code: string) => (s.lastAttempt.diagnostics as any[]).filter((d) => d.code === code);

  beforeAll(async () => {
    await sweepStaleLabs("hw-sc-");
    lab = await createLab({ tag: TAG });
    // A second link of the host, really named `any-interface`, to a peer namespace.
    peer = await createNs(`${TAG}-peer`);
    await runOk(["ip", "-n", lab.host.name, "link", "add", "any-interface", "index", "40", "type", "veth", "peer", "name", "eth0", "index", "41", "netns", peer.name]);
    await runOk(["ip", "-n", lab.host.name, "-batch", "-"], { stdin: `addr add ${LINK.host}/24 dev any-interface\nlink set any-interface up\n` });
    await runOk(["ip", "-n", peer.name, "-batch", "-"], { stdin: `addr add ${LINK.peer}/24 dev eth0\nlink set eth0 up\n` });
    await until("the peer link", async () => (await peer.exec(["ping", "-n", "-q", "-c", "1", "-W", "0.3", LINK.host])).code === 0, 5000);
    await startServers(lab.host, { tcp: [22, 8080], udp: [] });
  });

  afterEach(async () => {
    if (agent && agent.proc.sub.exitCode === null) await agent.stop();
    agent = undefined;
    if (lab) {
      await nft("flush", "ruleset");
      for (const name of [`e"}*`, "*"]) await lab.host.exec(["ip", "link", "del", name]); // takes its peer along
    }
  });

  afterAll(async () => {
    await lab?.destroy();
    if (peer) {
      await peer.close();
      await deleteNs(peer.name);
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("finding 1: the `*` endpoint and the endpoint of `any-interface` keep their own chains", async () => {
    const configDir = tempDir("cfg");
    writeConfig(configDir, "10-endpoints.yaml", CLASH_CONFIG);
    const a = await start({ configDir, stateDir: tempDir("state") });
    const s = await firstAttempt(a);
    expect(s.lastAttempt.ok).toBe(true);
    expect(
      await probeReport([
        [lab.client, HOST, 8080, false], // eth0: the `*` endpoint, no profile: denied
        [lab.client, HOST, 22, true], // failsafe
        [peer, LINK.host, 8080, true], // any-interface: projectcalico-default-allow
        [peer, LINK.host, 22, true],
      ]),
    ).toBe("");
    const explain = async (iface: string, src: string, dst: string) => {
      const r = await hostwall(lab.host, ["explain", "--config-dir", configDir, "--node", "jasper", "--in", iface, "--src", src, "--dst", dst, "--proto", "tcp", "--dport", "8080", "--json"]);
      expect(r.code).toBe(0);
      const e = JSON.parse(r.stdout);
      return [e.verdict, e.decidedBy.endpoint];
    };
    expect(await explain("eth0", "192.0.2.20", HOST)).toEqual(["deny", "all-interfaces"]);
    expect(await explain("any-interface", LINK.peer, LINK.host)).toEqual(["allow", "lab-link"]);
  }, 20_000);

  test('finding 3: an expectedIP on an interface named e"}* is refused with a warning; the agent runs, enforces and repairs drift', async () => {
    await oddLink('e"}*', "203.0.113.77");
    expect(await runOk(["ip", "-n", lab.host.name, "-o", "addr", "show", "to", "203.0.113.77"])).toContain('e"}*');
    const configDir = tempDir("cfg");
    writeConfig(configDir, "10-eth0.yaml", ETH0_CONFIG);
    writeConfig(configDir, "20-allow.yaml", allowPolicy(8080));
    writeConfig(configDir, "30-odd.yaml", byAddress("odd-name", "203.0.113.77"));
    const a = await start({ configDir, stateDir: tempDir("state") });
    const s = await firstAttempt(a);
    expect(s.lastAttempt.ok).toBe(true);
    expect(diag(s, "UNSUPPORTED_INTERFACE_NAME")).toEqual([
      expect.objectContaining({ severity: "warning", resource: "HostEndpoint/odd-name", file: join(configDir, "30-odd.yaml"), message: expect.stringContaining('"e\\"}*"') }),
    ]);
    const enforced = [
      [lab.client, HOST, 8080, true],
      [lab.attacker, HOST, 8080, false],
      [lab.attacker, HOST, 22, true], // failsafe before policy
    ] as Array<[Ns, string, number, boolean]>;
    expect(await probeReport(enforced)).toBe("");

    // Delete both tables right after a drift check, so the hole is seen before the next one.
    const checks = (await a.status()).drift.checks;
    await until("a drift check", async () => (await a.status()).drift.checks > checks, DRIFT_WAIT_MS, a.log);
    await nft("delete", "table", "inet", "hostwall");
    await nft("delete", "table", "netdev", "hostwall");
    expect(await probeReport([[lab.attacker, HOST, 8080, true]])).toBe(""); // the hole
    const repaired = await until("the drift repair", async () => {
      const st = await a.status();
      return st.drift.repairs >= 1 && st.lastAttempt?.ok ? st : undefined;
    }, DRIFT_WAIT_MS, a.log);
    expect(repaired.drift.last.repaired).toBe(true);
    expect(await hostwallTables()).toEqual(["table inet hostwall", "table netdev hostwall"]);
    expect(await probeReport(enforced)).toBe("");
    expect(a.proc.sub.exitCode).toBeNull();
  }, 45_000);

  test("finding 3: an expectedIP on an interface named * does not make its endpoint the wildcard", async () => {
    await oddLink("*", "203.0.113.88");
    const configDir = tempDir("cfg");
    // The real `*` endpoint denies (no profile); the endpoint expecting the address of the
    // interface named `*` allows everything, and must govern nothing.
    writeConfig(configDir, "10-all.yaml", CLASH_CONFIG.split("---\n")[0]!);
    writeConfig(configDir, "20-star.yaml", byAddress("a-star-bound", "203.0.113.88"));
    const a = await start({ configDir, stateDir: tempDir("state") });
    const s = await firstAttempt(a);
    expect(s.lastAttempt.ok).toBe(true);
    expect(
      await probeReport([
        [lab.client, HOST, 8080, false], // eth0 is the real `*` endpoint's
        [peer, LINK.host, 8080, false], // so is any-interface (no endpoint of its own here)
        [lab.client, HOST, 22, true],
        [peer, LINK.host, 22, true],
      ]),
    ).toBe("");
    expect(diag(s, "UNSUPPORTED_INTERFACE_NAME").map((d) => d.resource)).toEqual(["HostEndpoint/a-star-bound"]);
  }, 20_000);

  /** A valid config (the attacker denied, 8080 allowed) in a fresh dir, and the probes that show it in force. */
  const validConfig = () => {
    const configDir = tempDir("cfg");
    writeConfig(configDir, "10-eth0.yaml", ETH0_CONFIG);
    writeConfig(configDir, "20-allow.yaml", allowPolicy(8080));
    return configDir;
  };
  const ENFORCED = () => [
    [lab.client, HOST, 8080, true],
    [lab.attacker, HOST, 8080, false],
    [lab.attacker, HOST, 22, true],
  ] as Array<[Ns, string, number, boolean]>;
  /** Runs an agent on a valid config until applied, stops it; returns its /status. */
  const applyAndStop = async (configDir: string, stateDir: string) => {
    const a = await start({ configDir, stateDir });
    const s = await firstAttempt(a);
    expect(s.lastAttempt.ok).toBe(true);
    expect(await probeReport(ENFORCED())).toBe("");
    expect(await a.stop()).toBe(0);
    return s;
  };

  test("finding 4: a rejected config at start with no tables applies the last good ruleset from --state-dir", async () => {
    const configDir = validConfig();
    const stateDir = tempDir("state");
    const good = await applyAndStop(configDir, stateDir);
    const saved = lastGoodFiles(stateDir);
    expect(saved.length).toBe(1);
    expect(statSync(join(stateDir, saved[0]!)).mode & 0o777).toBe(0o600);
    expect((await hostwall(lab.host, ["flush"])).code).toBe(0);
    expect(await hostwallTables()).toEqual([]);
    expect(await probeReport([[lab.attacker, HOST, 8080, true]])).toBe(""); // nothing enforced now
    writeConfig(configDir, "20-allow.yaml", allowPolicy(70000));

    const a = await start({ configDir, stateDir });
    const s = await firstAttempt(a);
    expect(s.lastAttempt.ok).toBe(false);
    expect(await probeReport(ENFORCED())).toBe(""); // the attacker dropped again, 8080 still served
    expect(s.lastAttempt.diagnostics.some((d: any) => d.severity === "error" && d.file === join(configDir, "20-allow.yaml"))).toBe(true);
    expect(s.applied?.hash).toBe(good.applied.hash);
    expect(s.generation).toBe(good.generation);
    if (s.applied.source !== undefined) expect(s.applied.source).toBe("last-good");
    if (s.boot !== undefined) expect(s.boot.action).toBe("last-good");
    expect(a.log()).toContain("applied the last good ruleset");
    expect(await hostwallTables()).toEqual(["table inet hostwall", "table netdev hostwall"]);
  }, 20_000);

  test("finding 4: a rejected config at start keeps the tables found in the kernel", async () => {
    const configDir = validConfig();
    const stateDir = tempDir("state");
    const good = await applyAndStop(configDir, stateDir);
    writeConfig(configDir, "20-allow.yaml", allowPolicy(70000));
    const a = await start({ configDir, stateDir });
    const s = await firstAttempt(a);
    expect(s.lastAttempt.ok).toBe(false);
    expect(a.log()).toContain(`the hostwall ruleset found in the kernel (generation ${good.generation}) stays in force`);
    expect(s.applied?.hash).toBe(good.applied.hash);
    if (s.boot !== undefined) expect(s.boot.action).toBe("kept-kernel");
    expect(await probeReport(ENFORCED())).toBe("");
  }, 20_000);

  test("finding 4: --boot-policy failsafe leaves only the failsafe ports open; open enforces nothing and says so", async () => {
    const configDir = validConfig();
    writeConfig(configDir, "20-allow.yaml", allowPolicy(70000));
    const stateDir = tempDir("state"); // empty
    const f = await start({ configDir, stateDir, bootPolicy: "failsafe" });
    const fs = await firstAttempt(f);
    expect(fs.lastAttempt.ok).toBe(false);
    expect(
      await probeReport([
        [lab.client, HOST, 22, true],
        [lab.client, HOST, 8080, false],
        [peer, LINK.host, 22, true], // every interface but lo
        [peer, LINK.host, 8080, false],
      ]),
    ).toBe("");
    expect(f.log()).toContain("applied the failsafe-only ruleset");
    expect(await f.stop()).toBe(0);
    expect(lastGoodFiles(stateDir)).toEqual([]); // the failsafe ruleset is no last good one

    await nft("flush", "ruleset");
    const o = await start({ configDir, stateDir, bootPolicy: "open" });
    const os = await firstAttempt(o);
    expect(os.lastAttempt.ok).toBe(false);
    expect(os.applied).toBeNull();
    expect(o.log()).toContain("nothing is enforced");
    expect(await hostwallTables()).toEqual([]);
    expect(await probeReport([[lab.client, HOST, 8080, true], [lab.attacker, HOST, 8080, true]])).toBe("");
  }, 20_000);

  test("a rule replaced in place while the agent runs (same handle, same comment) is drift, and repaired", async () => {
    const a = await start({ configDir: validConfig(), stateDir: tempDir("state") });
    expect((await firstAttempt(a)).lastAttempt.ok).toBe(true);
    expect(await probeReport(ENFORCED())).toBe("");
    const checks = (await a.status()).drift.checks;
    await until("a drift check", async () => (await a.status()).drift.checks > checks, DRIFT_WAIT_MS, a.log);
    const chain = ["inet", "hostwall", "gnp-deny-attacker-in"];
    const deny = / (?:drop|goto \S+-drop) comment "(gnp\/deny-attacker\/ingress\/0)" # handle (\d+)$/m.exec(await nft("-a", "list", "chain", ...chain)); // drop, or goto its drop-summary chain
    expect(deny).not.toBeNull();
    await nft("replace", "rule", ...chain, "handle", deny![2]!, "counter", "accept", "comment", `"${deny![1]}"`);
    expect(await probeReport([[lab.attacker, HOST, 8080, true]])).toBe(""); // the hole
    const repaired = await until("the drift repair", async () => {
      const st = await a.status();
      return st.drift.repairs >= 1 ? st : undefined;
    }, DRIFT_WAIT_MS, a.log);
    expect(repaired.drift.last.differences).toEqual(['table inet hostwall: chain gnp-deny-attacker-in rule 0 was changed in place (comment "gnp/deny-attacker/ingress/0")']);
    expect(await probeReport(ENFORCED())).toBe("");
  }, 45_000);

  test("finding 4: the stamp survives a restart; the same config is applied again over a rule replaced in place", async () => {
    const configDir = validConfig();
    const stateDir = tempDir("state");
    const good = await applyAndStop(configDir, stateDir);
    const before = await nft("-a", "-t", "list", "ruleset");
    const stamp = new RegExp(`^\\s*comment "hostwall generation ${good.generation} hash ${good.applied.hash}"$`, "gm");
    expect(before.match(stamp)?.length).toBe(2); // on both tables
    // While no agent runs, someone opens the host by replacing the deny rule in place (same comment, same handle).
    const chain = ["inet", "hostwall", "gnp-deny-attacker-in"];
    const deny = / (?:drop|goto \S+-drop) comment "(gnp\/deny-attacker\/ingress\/0)" # handle (\d+)$/m.exec(await nft("-a", "list", "chain", ...chain)); // drop, or goto its drop-summary chain
    expect(deny).not.toBeNull();
    await nft("replace", "rule", ...chain, "handle", deny![2]!, "counter", "accept", "comment", `"${deny![1]}"`);
    expect(await probeReport([[lab.attacker, HOST, 8080, true]])).toBe("");
    const a = await start({ configDir, stateDir });
    const s = await firstAttempt(a);
    expect(s.lastAttempt.ok).toBe(true);
    expect(s.generation).toBe(good.generation + 1);
    // Adopted (nft/delta-adopt.ts) only where the listed rules' digests match the record: the
    // chain changed in place is rewritten, the rest is left alone.
    expect(a.log()).toMatch(/adopting hostwall's tables in the kernel .*: (\d+) of \1 set\(s\) and (\d+) of (\d+) chain\(s\) hold what was recorded/);
    const [, kept, all] = /and (\d+) of (\d+) chain\(s\)/.exec(a.log())!.map(Number);
    expect(all! - kept!).toBe(1);
    expect(await probeReport(ENFORCED())).toBe("");
  }, 20_000);
});
