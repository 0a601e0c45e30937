/**
 * VLAN-tagged frames on a HostEndpoint interface (reference/nftables.md §1.6): single-tagged
 * 802.1Q frames get the verdict of untagged ones at hostwall's netdev (untracked) stage.
 *
 * The attacker sends hand-crafted UDP frames (frames.ts, AF_PACKET) to the host's eth0, one
 * at a time, under an untracked Deny or Allow of its source addresses (SCENARIOS), with the
 * real hostwall binary as the agent. Each frame is followed through the kernel:
 *
 *   attacker ── frame ──▶ host eth0
 *     netdev hostwall ingress-eth0 (-500)   hostwall's rule counter for the attacker's address
 *     netdev hwobs (-400)                   counts the frame by tagging and source address
 *     [vlan handling: VID ≠ 0 → PACKET_OTHERHOST, dropped by ip_rcv; VID 0 → untagged]
 *     inet hwobs prerouting (-450)          counts datagrams that reached IP
 *     inet hostwall normal-in-eth0          the conntrack stage's last rule (profile or drop)
 *     UDP socket on port 7000               reports each payload it received
 *
 * hwobs is this test's own observation table in the lab host namespace; hostwall replaces
 * only its own tables, so the two live side by side. The kernel moves one outer tag into skb
 * metadata before the ingress hook, so `meta protocol` is the inner protocol and hostwall's
 * `ip saddr` rules match tagged frames. There is no 8021q module here: frames with a
 * non-zero VID are never delivered to IP, priority-tagged ones (VID 0) are delivered as
 * eth0's traffic. A QinQ frame's metadata protocol is the inner tag's (8021q), so hostwall's
 * non-IP rule accepts it; with a non-zero VID it still never reaches IP.
 *
 * Stacked priority tags (802.1ad VID 0 + 802.1Q VID 0) also read as 8021q at the hook, but
 * the kernel strips VID 0 tags repeatedly, without passing the hook again, and delivers the
 * IP packet inside to eth0's IP stack: it would pass the untracked stage unjudged (the
 * conntrack stages still judge it). Felix judges doNotTrack policy in raw prerouting, after
 * this VLAN handling, where the packet is plain IP on eth0. hostwall's netdev chain has no
 * way to look at that packet, so on an interface with untracked ingress policy it drops such
 * frames (`@ll,116,12 0 @nh,4,12 0`: outer and inner VID 0), whatever the policy says: a
 * deliberate deviation for a frame no real sender produces (README, decisions). A priority
 * tag on a real VLAN tag (VID 0 + VID 100) is left alone: it never reaches eth0's IP.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { createLab, kernelTestGate, loadNft, sweepStaleLabs, type Lab, type Ns } from "./lab";
import { makeConfigDir, startAgent, waitFor, writeConfig, type AgentHandle } from "./agent-harness";
import { docs, gnp, hep, NODE } from "./semantics-helpers";
import { ipBytes, sendFrames, startUdpListener, TPID_8021AD, TPID_8021Q, udpFrame, type UdpListener, type VlanTag } from "./frames";

const TAG = `hw-vl-${process.pid.toString(36)}`;
const enabled = await kernelTestGate();

const PORT = 7000;
const POLICY = "attacker";

/** How a frame is tagged, outermost tag first. */
const TAGGINGS = {
  untagged: [],
  vid100: [{ tpid: TPID_8021Q, vid: 100 }],
  // A priority tag (802.1p): VID 0, only the priority bits set.
  vid0: [{ tpid: TPID_8021Q, vid: 0, pcp: 5 }],
  qinq: [{ tpid: TPID_8021AD, vid: 200 }, { tpid: TPID_8021Q, vid: 100 }],
  stacked0: [{ tpid: TPID_8021AD, vid: 0, pcp: 5 }, { tpid: TPID_8021Q, vid: 0, pcp: 5 }],
  prio100: [{ tpid: TPID_8021Q, vid: 0, pcp: 5 }, { tpid: TPID_8021Q, vid: 100 }],
} satisfies Record<string, VlanTag[]>;
type Tagging = keyof typeof TAGGINGS;
type Family = 4 | 6;
const FAMILIES: Family[] = [4, 6];

/** What the kernel did with one frame: counter deltas, and whether the socket got it. */
interface Seen {
  /** hostwall's netdev rule for the attacker's address (its drop, or its allow mark). */
  hostwall: number;
  /** Got past hostwall's netdev chain: the hwobs netdev counter of this tagging and family. */
  pastNetdev: number;
  /** Reached IP: the hwobs prerouting counter of the attacker's address. */
  ip: number;
  /** Judged by the conntrack (normal) stage: the scenario's last rule of normal-in-eth0. */
  normal: number;
  /** The UDP listener received the datagram. */
  socket: boolean;
  /** hostwall's netdev drop of stacked priority tags. */
  stacked: number;
}

const seen = (hostwall: number, pastNetdev: number, ip: number, normal: number, socket: boolean, stacked = 0): Seen => ({ hostwall, pastNetdev, ip, normal, socket, stacked });
/** Dropped by hostwall before any policy, whatever the scenario. */
const STACKED_DROP = seen(0, 0, 0, 0, false, 1);

/**
 * The scenarios: an untracked Deny or Allow of the attacker's addresses. With the profile
 * `projectcalico-default-allow`, whatever the untracked stage leaves alone is accepted by
 * the conntrack stage (its `normal` rule is the profile's accept); without it, a tracked
 * policy allows only the client and the rest meets the tier's default drop.
 */
const SCENARIOS = {
  deny: {
    action: "Deny",
    profile: true,
    normal: "profile projectcalico-default-allow",
    expected: {
      untagged: seen(1, 0, 0, 0, false),
      vid100: seen(1, 0, 0, 0, false),
      vid0: seen(1, 0, 0, 0, false),
      qinq: seen(0, 1, 0, 0, false), // not IP at the hook: hostwall's non-IP rule accepts it
      stacked0: STACKED_DROP,
      prio100: seen(0, 1, 0, 0, false), // non-IP at the hook; VID 100 has no interface here
    },
  },
  allow: {
    action: "Allow",
    profile: true,
    normal: "profile projectcalico-default-allow",
    expected: {
      untagged: seen(1, 1, 1, 0, true), // accepted on the untracked stage's mark, before normal-in-eth0
      vid100: seen(1, 1, 0, 0, false), // passes hostwall; the kernel then drops it (PACKET_OTHERHOST)
      vid0: seen(1, 1, 1, 0, true),
      qinq: seen(0, 1, 0, 0, false),
      stacked0: STACKED_DROP, // deviation: Felix would judge the IP packet inside and allow it
      prio100: seen(0, 1, 0, 0, false),
    },
  },
  denyNoProfile: {
    action: "Deny",
    profile: false,
    normal: "tier default: no policy decided",
    expected: {
      untagged: seen(1, 0, 0, 0, false),
      vid100: seen(1, 0, 0, 0, false),
      vid0: seen(1, 0, 0, 0, false),
      qinq: seen(0, 1, 0, 0, false),
      stacked0: STACKED_DROP,
      prio100: seen(0, 1, 0, 0, false),
    },
  },
} satisfies Record<string, { action: "Deny" | "Allow"; profile: boolean; normal: string; expected: Record<Tagging, Seen> }>;
type ScenarioName = keyof typeof SCENARIOS;

/** The observation counter of every IP packet on eth0 that is not a probe datagram. */
const STRAY = "inet hwobs pre stray";

/** An address as a raw payload value, e.g. 0xc0000242. */
const raw = (addr: string) => `0x${Buffer.from(ipBytes(addr)).toString("hex")}`;

/**
 * The observation tables. Netdev rules count by tagging: `ether type ip` (link-layer
 * type, so untagged only), `vlan id N` for single tags, and raw link-layer offsets for the
 * IP source behind two tags (22 bytes of Ethernet header and tags). Each QinQ rule also
 * requires `meta protocol 8021q`, the protocol hostwall's non-IP rule sees.
 */
function observationScript(a: { v4: string; v6: string }): string {
  const l3 = (f: Family) => (f === 4 ? `ip saddr ${a.v4} udp dport ${PORT}` : `ip6 saddr ${a.v6} udp dport ${PORT}`);
  // Behind two tags: inner VID at bytes 18–19 (low 12 bits), inner type at 20, IP header at 22.
  const behindTwoTags = (f: Family, innerVid: number) =>
    f === 4 ? `@ll,148,12 ${innerVid} @ll,160,16 0x0800 @ll,272,32 ${raw(a.v4)}` : `@ll,148,12 ${innerVid} @ll,160,16 0x86dd @ll,240,128 ${raw(a.v6)}`;
  const rules = FAMILIES.flatMap((f) => [
    `ether type ${f === 4 ? "ip" : "ip6"} ${l3(f)} counter comment "untagged/${f}"`,
    `vlan id 100 ${l3(f)} counter comment "vid100/${f}"`,
    `vlan id 0 ${l3(f)} counter comment "vid0/${f}"`,
    `meta protocol 8021q ether type 8021ad vlan id 200 vlan type 8021q ${behindTwoTags(f, 100)} counter comment "qinq/${f}"`,
    `meta protocol 8021q ether type 8021ad vlan id 0 vlan type 8021q ${behindTwoTags(f, 0)} counter comment "stacked0/${f}"`,
    `meta protocol 8021q ether type 8021q vlan id 0 vlan type 8021q ${behindTwoTags(f, 100)} counter comment "prio100/${f}"`,
  ]);
  return `table netdev hwobs {
  chain in {
    type filter hook ingress device "eth0" priority -400; policy accept;
${rules.map((r) => `    ${r}`).join("\n")}
  }
}
table inet hwobs {
  chain pre {
    type filter hook prerouting priority -450; policy accept;
${FAMILIES.map((f) => `    ${l3(f)} counter comment "ip/${f}"`).join("\n")}
    iifname "eth0" meta l4proto != udp counter comment "stray"
    iifname "eth0" udp dport != ${PORT} counter comment "stray"
  }
}
`;
}

/** Packets of every commented rule with a counter in the host namespace, keyed "family table chain comment". */
async function counters(ns: Ns): Promise<Map<string, number>> {
  const r = await ns.exec(["nft", "-j", "list", "ruleset"]);
  if (r.code !== 0) throw new Error(`nft list ruleset in ${ns.name}: ${r.stderr.trim()}`);
  const out = new Map<string, number>();
  for (const { rule } of JSON.parse(r.stdout).nftables as Array<{ rule?: { family: string; table: string; chain: string; comment?: string; expr?: any[] } }>) {
    if (!rule?.comment) continue;
    const packets = (rule.expr ?? []).reduce((n, e) => n + (e.counter?.packets ?? 0), 0);
    const key = `${rule.family} ${rule.table} ${rule.chain} ${rule.comment}`;
    out.set(key, (out.get(key) ?? 0) + packets);
  }
  return out;
}

function config(name: ScenarioName, lab: Lab): string {
  const { action, profile } = SCENARIOS[name];
  const { attacker, client } = lab.addr;
  const untracked = gnp(POLICY, `  doNotTrack: true
  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: ${action}
    source: {nets: [${attacker.v4}/32]}
  - action: ${action}
    source: {nets: ["${attacker.v6}/128"]}`);
  // The client's sentinel datagram must get through every scenario.
  const client4 = gnp("client", `  types: [Ingress]
  ingress:
  - action: Allow
    source: {nets: [${client.v4}/32]}`);
  return docs(hep("eth0", { profiles: profile ? ["projectcalico-default-allow"] : undefined }), untracked, ...(profile ? [] : [client4]));
}

describe.skipIf(!enabled)("VLAN-tagged frames at a HostEndpoint's untracked stage", () => {
  let lab: Lab;
  let agent: AgentHandle;
  let listener: UdpListener;
  let configDir: string | undefined;
  const mac = { host: "", attacker: "", client: "" };

  beforeAll(async () => {
    await sweepStaleLabs("hw-vl-");
    lab = await createLab({ tag: TAG });
    for (const role of ["host", "attacker", "client"] as const) {
      const r = await lab[role].exec(["ip", "-j", "link", "show", "dev", "eth0"]);
      if (r.code !== 0) throw new Error(`ip link show eth0 in ${lab[role].name}: ${r.stderr}`);
      mac[role] = JSON.parse(r.stdout)[0].address;
      // No more IPv6 router solicitations from the peers (the kernel sends 3, 4 s apart, after
      // link up): one reaching the host while a frame is measured would be counted by the normal
      // stage's last rule too. A loaded CI run saw "normal: 1" and "normal: 2" where 0 is right;
      // stray ICMPv6 from a peer is the likely cause (not proven; the test passes alone).
      await lab[role].exec(["sysctl", "-qw", "net.ipv6.conf.eth0.router_solicitations=0"]);
    }
    listener = await startUdpListener(lab.host, PORT);
    await loadNft(lab.host, observationScript(lab.addr.attacker));
    configDir = makeConfigDir();
    agent = startAgent(lab.host, { configDir, node: NODE });
    await waitFor("the agent's first apply (/readyz 200)", async () => (await agent.get("/readyz"))?.status === 200, 15_000);
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  }, 30_000);

  /** Make the agent apply `yaml` as its only config file (POST /reload); throws unless applied. */
  async function apply(yaml: string): Promise<void> {
    writeConfig(configDir!, "hostwall.yaml", yaml);
    const r = await lab.host.exec(["curl", "-s", "-X", "POST", "--unix-socket", agent.socket, "-H", "Content-Type: application/json", "--max-time", "20", "-w", "\n%{http_code}", "http://localhost/reload"], { timeoutMs: 25_000 });
    if (r.code !== 0) throw new Error(`POST /reload failed (curl exit ${r.code}); agent log:\n${agent.log()}`);
    const body = JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf("\n")));
    if (!body.ok) throw new Error(`agent refused the config: ${JSON.stringify(body.attempt?.diagnostics)}`);
  }

  function frame(from: "attacker" | "client", family: Family, tags: VlanTag[], payload: string): Uint8Array {
    const a = family === 4 ? "v4" : "v6";
    return udpFrame({ dstMac: mac.host, srcMac: mac[from], src: lab.addr[from][a], dst: lab.addr.host[a], srcPort: 40000, dstPort: PORT, payload, tags });
  }

  /**
   * Apply the scenario, then send each tagging × family from the attacker, one frame at a
   * time, and read what the kernel did with it. A frame counts as handled once hostwall's
   * rule or the netdev observation chain saw it (every frame passes one of the two); the
   * counters are then read once more, and that reading is the result. The socket is judged
   * after a sentinel datagram from the client arrived: the listener reads its queue in order.
   */
  async function run(name: ScenarioName): Promise<Record<string, Seen>> {
    await apply(config(name, lab));
    const result: Record<string, Seen> = {};
    for (const tagging of Object.keys(TAGGINGS) as Tagging[]) {
      for (const family of FAMILIES) {
        const keys = {
          hostwall: `netdev hostwall gnp-${POLICY}-in gnp/${POLICY}/ingress/${family === 4 ? 0 : 1}`,
          pastNetdev: `netdev hwobs in ${tagging}/${family}`,
          ip: `inet hwobs pre ip/${family}`,
          normal: `inet hostwall normal-in-eth0 ${SCENARIOS[name].normal}`,
          stacked: "netdev hostwall ingress-eth0 stacked priority tags: the IP inside would bypass this hook",
        };
        // A packet of the namespace's own (ICMPv6, a retransmission) that reaches IP while the
        // frame is measured may be counted by the normal stage's last rule too: the reading is
        // taken again, frame and all, when the stray counter moved (at most three tries).
        for (let attempt = 1; ; attempt++) {
          const before = await counters(lab.host);
          for (const k of [...Object.values(keys), STRAY]) if (!before.has(k)) throw new Error(`no counter ${k}; counters: ${[...before.keys()].join(", ")}`);
          const delta = (now: Map<string, number>, k: string) => now.get(k)! - before.get(k)!;
          await sendFrames(lab.attacker, "eth0", [frame("attacker", family, TAGGINGS[tagging], `${name}/${tagging}/${family}`)]);
          await waitFor(`${tagging}/${family} at the ingress hook`, async () => {
            const now = await counters(lab.host);
            return delta(now, keys.hostwall) + delta(now, keys.pastNetdev) + delta(now, keys.stacked) >= 1;
          }, 3000).catch(() => {}); // the assertion reports what was seen
          const now = await counters(lab.host);
          if (delta(now, STRAY) > 0 && attempt < 3) continue;
          const [hostwall, pastNetdev, ip, normal, stacked] = [keys.hostwall, keys.pastNetdev, keys.ip, keys.normal, keys.stacked].map((k) => delta(now, k)) as [number, number, number, number, number];
          result[`${tagging}/${family}`] = { hostwall, pastNetdev, ip, normal, socket: false, stacked };
          break;
        }
      }
    }
    const sentinel = `${name}/sentinel`;
    await sendFrames(lab.client, "eth0", [frame("client", 4, [], sentinel)]);
    await listener.waitFor(sentinel, 3000);
    for (const d of listener.received) {
      const [scenario, tagging, family] = d.data.split("/");
      if (scenario !== name || tagging === "sentinel") continue;
      const r = result[`${tagging}/${family}`];
      if (!r) throw new Error(`unexpected datagram ${JSON.stringify(d.data)} from ${d.from}`);
      expect(d.from).toBe(lab.addr.attacker[family === "4" ? "v4" : "v6"]);
      r.socket = true;
    }
    return result;
  }

  /** The scenario's expectations per tagging, for both families. */
  const expected = (name: ScenarioName) =>
    Object.fromEntries((Object.keys(TAGGINGS) as Tagging[]).flatMap((t) => FAMILIES.map((f) => [`${t}/${f}`, SCENARIOS[name].expected[t]])));

  test("untracked Deny: untagged, VID 100 and VID 0 frames are dropped by hostwall's netdev rule; QinQ passes it as non-IP and never reaches IP; stacked priority tags are dropped before policy", async () => {
    expect(await run("deny")).toEqual(expected("deny"));
  }, 60_000);

  test("untracked Allow: every frame but stacked priority tags passes hostwall's netdev chain; untagged and VID 0 reach the socket on the untracked stage's mark, VID 100 and QinQ never reach IP", async () => {
    expect(await run("allow")).toEqual(expected("allow"));
  }, 60_000);

  test("without an allowing profile: the same verdicts at the netdev hook", async () => {
    expect(await run("denyNoProfile")).toEqual(expected("denyNoProfile"));
  }, 60_000);
});
