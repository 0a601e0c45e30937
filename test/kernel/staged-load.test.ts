/**
 * The staged first load (agent/apply.ts stagedLoad, nft/netlink.ts) in the kernel, through the
 * spawn fallback (HOSTWALL_NFT_BACKEND=spawn: scripts go to a spawned nft, the big set over
 * netlink all the same; bigset-edits.test.ts covers libnftables): a deny list of 25,000 hosts in
 * a namespace without hostwall's tables (and 21,000 IPv6 hosts: a second big set, its elements
 * written from the words of an address list) goes in staged; the kernel then holds exactly what a
 * full replace of the same config gives (both listings parsed and normalised); real frames from
 * a listed host are dropped and from an unlisted one arrive; a restart with its state dir
 * adopts the staged tables instead of loading them again; when the tables are deleted by hand,
 * the drift repair (a check every 10 s) stages them again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { firstDifference } from "../../src/nft/listing-normalise.ts";
import { STAGE_MIN_ELEMENTS } from "../../src/agent/apply.ts";
import { apiGet } from "../support/agent-api.ts";
import { BINARY, fullReplaceListing, hostwallListing, makeConfigDir, REPO, waitFor, writeConfig } from "./agent-harness";
import { frameProbe, sendFrames, udpFrame, type UdpListener } from "./frames";
import { createLab, createNs, deleteNs, kernelTestGate, runOk, sweepStaleLabs, type Lab } from "./lab";

const enabled = await kernelTestGate();
const TAG = `hw-stg-${process.pid.toString(36)}`;
const PORT = 5353;
const COUNT = STAGE_MIN_ELEMENTS + 5000;
const COUNT6 = STAGE_MIN_ELEMENTS + 1000;
const LISTED = "203.0.113.77";
const UNLISTED = "203.0.113.78";

/** Hosts 7 apart in 10.0.0.0/8 (normalising merges none), and the probe's listed source. */
const bigSet = () => {
  const ip = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
  const nets = [...Array.from({ length: COUNT }, (_, i) => ip(0x0a000000 + i * 7)), LISTED, ...Array.from({ length: COUNT6 }, (_, i) => `2001:db8:7::${(i * 3).toString(16)}`)];
  return `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n${nets.map((n) => `    - ${n}\n`).join("")}`;
};

describe.skipIf(!enabled)("the staged first load (spawn backend): big set over netlink, the rest by nft", () => {
  let lab: Lab;
  let configDir: string;
  let stateDir: string;
  let listener: UdpListener;
  let proc: ReturnType<Lab["host"]["spawn"]>;
  let log = "";
  let round = 0;
  let mac = { host: "", attacker: "" };
  const refNs = `${TAG}-ref`;
  const socket = () => join(stateDir, "api.sock");

  async function start(): Promise<string> {
    const from = log.length;
    proc = lab.host.spawn([BINARY, "run", "--config-dir", configDir, "--node", "jasper", "--listen", "127.0.0.1:9099", "--socket", socket(), "--state-dir", join(stateDir, "state")], { env: { HOSTWALL_NFT_BACKEND: "spawn" } });
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc.sub.stderr as ReadableStream<Uint8Array>) log += decoder.decode(chunk);
    })();
    await waitFor("ready (/readyz 200)", async () => (await apiGet(lab.host, 9099, "/readyz"))?.status === 200, 30_000).catch((e: Error) => {
      throw new Error(`${e.message}; agent log:\n${log}`);
    });
    return log.slice(from);
  }

  async function stop(): Promise<void> {
    proc.kill("SIGTERM");
    await Promise.race([proc.exited, Bun.sleep(12_000)]);
    if (proc.sub.exitCode === null) throw new Error(`the agent did not stop; log:\n${log}`);
  }

  const listing = hostwallListing;
  /** The kernel after a full replace of the same config. */
  const reference = () => fullReplaceListing(configDir, refNs);

  /** Frames from both probe sources, then a sentinel from the attacker's own address: which sources arrived. */
  async function arrivals(): Promise<Set<string>> {
    round++;
    const frame = (src: string) => udpFrame({ dstMac: mac.host, srcMac: mac.attacker, src, dst: lab.addr.host.v4, srcPort: 41000 + round, dstPort: PORT, payload: `${round} ${src}` });
    await sendFrames(lab.attacker, "eth0", [LISTED, UNLISTED, lab.addr.attacker.v4].map(frame));
    await listener.waitFor(`${round} ${lab.addr.attacker.v4}`, 5000);
    await Bun.sleep(50);
    return new Set(listener.received.filter((d) => d.data.startsWith(`${round} `)).map((d) => d.data.slice(`${round} `.length)));
  }

  beforeAll(async () => {
    await sweepStaleLabs("hw-stg-");
    lab = await createLab({ tag: TAG });
    await createNs(refNs);
    ({ mac, listener } = await frameProbe(lab, PORT));
    configDir = makeConfigDir(join(REPO, "rules"));
    unlinkSync(join(configDir, "20-dos-deny-list.yaml")); // denies 203.0.113.0/24, where the probes come from
    writeConfig(configDir, "25-big.yaml", bigSet());
    stateDir = mkdtempSync(join(tmpdir(), "hostwall-staged-"));
  }, 60_000);

  afterAll(async () => {
    if (proc && proc.sub.exitCode === null) await stop().catch(() => undefined);
    await lab?.destroy();
    await deleteNs(refNs).catch(() => undefined);
    if (configDir) rmSync(configDir, { recursive: true, force: true });
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  test("no tables yet: the big set goes in staged, the kernel equals a full replace, the listed host is dropped", async () => {
    const started = await start();
    expect(started).toContain(`full replace (first apply; ${COUNT + 1 + COUNT6} elements of 2 big set(s) loaded over netlink first)`);
    const status = JSON.parse((await apiGet(lab.host, 9099, "/status"))!.body);
    expect(status.nft).toMatchObject({ backend: "spawn", fullApplies: 1, deltasRejected: 0 });
    expect(firstDifference(await reference(), await listing(lab.host.name))).toBeUndefined();
    const got = await arrivals();
    expect([got.has(LISTED), got.has(UNLISTED)]).toEqual([false, true]);
  }, 60_000);

  test("a restart adopts the staged tables: nothing loaded again", async () => {
    await stop();
    const restarted = await start();
    expect(restarted).toContain("adopting hostwall's tables");
    expect(restarted).not.toContain("loaded over netlink");
    expect(firstDifference(await reference(), await listing(lab.host.name))).toBeUndefined();
    const got = await arrivals();
    expect([got.has(LISTED), got.has(UNLISTED)]).toEqual([false, true]);
  }, 60_000);

  test("the tables deleted by hand: the drift repair stages them again", async () => {
    await runOk(["ip", "netns", "exec", lab.host.name, "nft", "delete", "table", "netdev", "hostwall"]);
    await runOk(["ip", "netns", "exec", lab.host.name, "nft", "delete", "table", "inet", "hostwall"]);
    const from = log.length;
    // The drift check (every 10 s) finds the tables gone and applies the whole ruleset again: staged, the tables being absent.
    await waitFor("the tables back", async () => /loaded over netlink first/.test(log.slice(from)), 30_000).catch((e: Error) => {
      throw new Error(`${e.message}; agent log since:\n${log.slice(from)}`);
    });
    expect(firstDifference(await reference(), await listing(lab.host.name))).toBeUndefined();
    const got = await arrivals();
    expect([got.has(LISTED), got.has(UNLISTED)]).toEqual([false, true]);
  }, 60_000);
});
