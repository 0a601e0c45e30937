/**
 * A network-namespace lab for kernel tests: a protected `host`, a `client` and an
 * `attacker` on one LAN, and optionally a `backend` behind the host for forwarding tests.
 *
 *            ${tag}-lan (bridge br0, L2 only)
 *        ┌───────────┼──────────────┐
 *      port host   port client   port attacker
 *        │           │              │
 *  ${tag}-host     ${tag}-client   ${tag}-attacker
 *   eth0 192.0.2.10  eth0 192.0.2.20  eth0 192.0.2.66
 *   eth1 198.51.100.10 ──── ${tag}-backend eth0 198.51.100.20     (withBackend)
 *
 * IPv6 alongside: 2001:db8:2::{10,20,66}/64 on the LAN, 2001:db8:51::{10,20}/64 behind.
 * Every veth is created directly inside lab namespaces, never in the root namespace, so
 * interface names only need to be unique per namespace and the tag only names namespaces.
 * DAD is off (sysctl before the links exist, plus `nodad`), and creation ends with real
 * pings over every link, so addresses are usable when createLab returns.
 *
 * This file re-exports the whole harness: import everything from "./lab".
 */

import { createNs, deleteNs, listNs, runOk, type Ns } from "./netns";

export * from "./netns";
export * from "./probe";
export * from "./kernel";

/** An IPv4 and an IPv6 address of one interface (no prefix length). */
export interface AddrPair {
  v4: string;
  v6: string;
}

/**
 * Addresses of every lab interface, all from the documentation ranges. Interfaces get /24
 * and /64 prefixes, so overrides must keep host, client and attacker in one /24 and /64
 * (and host eth1 and backend in another).
 */
export interface LabAddresses {
  /** host eth0 */
  host: AddrPair;
  client: AddrPair;
  attacker: AddrPair;
  /** host eth1, towards the backend */
  hostBackend: AddrPair;
  /** backend eth0 */
  backend: AddrPair;
}

/** Options of {@link createLab}. */
export interface LabOptions {
  /** Namespace name prefix: `hw-` then [a-z0-9-]; namespaces are `${tag}-host` and so on. */
  tag: string;
  /**
   * Add eth1 on host and a backend namespace behind it, turn on IPv4/IPv6 forwarding in
   * host, and give client, attacker and backend default routes via host.
   */
  withBackend?: boolean;
  /** Override some addresses; each must stay inside the documentation ranges. */
  addresses?: { [K in keyof LabAddresses]?: Partial<AddrPair> };
}

/** A running lab. Call destroy() in a finally block. */
export interface Lab {
  tag: string;
  host: Ns;
  client: Ns;
  attacker: Ns;
  backend?: Ns;
  /** The L2-only namespace holding the bridge; tests rarely need it. */
  lan: Ns;
  addr: LabAddresses;
  /** Stop every process started in the lab and delete all its namespaces. */
  destroy(): Promise<void>;
}

export const DEFAULT_ADDRESSES: LabAddresses = {
  host: { v4: "192.0.2.10", v6: "2001:db8:2::10" },
  client: { v4: "192.0.2.20", v6: "2001:db8:2::20" },
  attacker: { v4: "192.0.2.66", v6: "2001:db8:2::66" },
  hostBackend: { v4: "198.51.100.10", v6: "2001:db8:51::10" },
  backend: { v4: "198.51.100.20", v6: "2001:db8:51::20" },
};

const DOC_V4 = /^(192\.0\.2|198\.51\.100|203\.0\.113)\.\d{1,3}$/;
const DOC_V6 = /^2001:db8:/i;

/** The /24 of an IPv4 address and the /64 of an IPv6 address, as comparable strings. */
function subnets(a: AddrPair): AddrPair {
  const [head = "", tail = ""] = a.v6.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = a.v6.includes("::") ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right] : left;
  return { v4: a.v4.split(".").slice(0, 3).join("."), v6: groups.slice(0, 4).map((g) => Number.parseInt(g, 16)).join(":") };
}

function resolveAddresses(over: LabOptions["addresses"] = {}): LabAddresses {
  const out = {} as LabAddresses;
  for (const key of Object.keys(DEFAULT_ADDRESSES) as Array<keyof LabAddresses>) {
    const pair = { ...DEFAULT_ADDRESSES[key], ...over[key] };
    if (!DOC_V4.test(pair.v4) || !DOC_V6.test(pair.v6)) {
      throw new Error(`lab address ${key} ${pair.v4} ${pair.v6} is outside the documentation ranges`);
    }
    out[key] = pair;
  }
  for (const segment of [["host", "client", "attacker"], ["hostBackend", "backend"]] as const) {
    const nets = segment.map((k) => subnets(out[k]));
    if (nets.some((n) => n.v4 !== nets[0]!.v4 || n.v6 !== nets[0]!.v6)) {
      throw new Error(`lab addresses of ${segment.join(", ")} must share one /24 and one /64`);
    }
  }
  return out;
}

/** sysctls set in every lab namespace before its links exist. */
const COMMON_SYSCTLS = [
  "net.ipv6.conf.all.accept_dad=0",
  "net.ipv6.conf.default.accept_dad=0",
  "net.ipv6.conf.all.accept_ra=0",
  "net.ipv6.conf.default.accept_ra=0",
  // No router solicitations: fewer stray packets in the counters tests read.
  "net.ipv6.conf.all.router_solicitations=0",
  "net.ipv6.conf.default.router_solicitations=0",
];

const FORWARDING_SYSCTLS = ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"];

// The LAN namespace only bridges: without IPv6 on its ports it sends no ND/MLD of its own.
const L2_ONLY_SYSCTLS = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"];

async function sysctl(ns: Ns, settings: string[]): Promise<void> {
  const r = await ns.exec(["sysctl", "-q", "-w", ...settings]);
  if (r.code !== 0) throw new Error(`sysctl in ${ns.name}: ${r.stderr.trim()}`);
}

/** Run `ip` commands inside a namespace in one process (`ip -n NS -batch -`). */
async function ipBatch(ns: Ns, lines: string[]): Promise<void> {
  await runOk(["ip", "-n", ns.name, "-batch", "-"], { stdin: `${lines.join("\n")}\n` });
}

/** `ip -n A link add NAME [index I] type veth peer name PEER [index J] netns B` */
async function veth(a: Ns, end: string, b: Ns, peerEnd: string): Promise<void> {
  const [name, ...aOpts] = end.split(" ");
  const [peer, ...bOpts] = peerEnd.split(" ");
  await runOk(["ip", "-n", a.name, "link", "add", name!, ...aOpts, "type", "veth", "peer", "name", peer!, ...bOpts, "netns", b.name]);
}

function addrLines(dev: string, a: AddrPair, gw?: AddrPair): string[] {
  const lines = [`addr add ${a.v4}/24 dev ${dev}`, `addr add ${a.v6}/64 dev ${dev} nodad`, `link set ${dev} up`];
  if (gw) lines.push(`route add default via ${gw.v4}`, `route add default via ${gw.v6}`);
  return lines;
}

/** Create a lab. On failure everything created so far is deleted again. */
export async function createLab(opts: LabOptions): Promise<Lab> {
  const addr = resolveAddresses(opts.addresses);
  const roles = ["lan", "host", "client", "attacker", ...(opts.withBackend ? ["backend"] : [])];
  const existing = new Set(await listNs());
  const clash = roles.map((r) => `${opts.tag}-${r}`).filter((n) => existing.has(n));
  if (clash.length) throw new Error(`lab ${opts.tag} already exists (${clash.join(", ")})`);

  const created: Ns[] = [];
  const destroy = async () => {
    await Promise.all(created.map((ns) => ns.close()));
    await Promise.all(created.map((ns) => deleteNs(ns.name)));
  };
  try {
    const nss = await Promise.all(
      roles.map(async (role) => {
        const ns = await createNs(`${opts.tag}-${role}`);
        created.push(ns);
        return ns;
      }),
    );
    const [lan, host, client, attacker, backend] = nss as [Ns, Ns, Ns, Ns, Ns | undefined];
    await Promise.all([
      sysctl(lan, [...COMMON_SYSCTLS, ...L2_ONLY_SYSCTLS]),
      sysctl(host, [...COMMON_SYSCTLS, ...(backend ? FORWARDING_SYSCTLS : [])]),
      ...[client, attacker, ...(backend ? [backend] : [])].map((ns) => sysctl(ns, COMMON_SYSCTLS)),
    ]);

    // veth pairs: the eth0 end in each machine, the other end as a bridge port in lan.
    // Both ends get distinct ifindexes on purpose: the kernel treats a veth carrier change
    // as urgent only when the device's ifindex differs from its peer's. Left to the kernel,
    // both ends would be ifindex 2 in their fresh namespaces, and IPv6 would stay unusable
    // for up to a second (see waitLinksUp).
    const lanPorts: Array<[Ns, string]> = [[host, "host"], [client, "client"], [attacker, "attacker"]];
    await Promise.all(
      lanPorts.map(([ns, port], i) => veth(ns, `eth0 index ${10 + i}`, lan, `${port} index ${20 + i}`)),
    );
    if (backend) await veth(host, "eth1 index 30", backend, "eth0 index 31");
    await ipBatch(lan, [
      "link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
      "link set br0 up",
      ...lanPorts.map(([, port]) => `link set ${port} master br0 up`),
    ]);
    const hostGw = backend ? addr.host : undefined;
    await Promise.all([
      ipBatch(host, [...addrLines("eth0", addr.host), ...(backend ? addrLines("eth1", addr.hostBackend) : [])]),
      ipBatch(client, addrLines("eth0", addr.client, hostGw)),
      ipBatch(attacker, addrLines("eth0", addr.attacker, hostGw)),
      ...(backend ? [ipBatch(backend, addrLines("eth0", addr.backend, addr.hostBackend))] : []),
    ]);

    await waitLinksUp([
      // Not br0: its own carrier event is never urgent, and bridging does not wait for it.
      [lan, lanPorts.map(([, port]) => port)],
      [host, backend ? ["eth0", "eth1"] : ["eth0"]],
      ...[client, attacker, ...(backend ? [backend] : [])].map((ns): [Ns, string[]] => [ns, ["eth0"]]),
    ]);
    await waitUsable([
      [client, addr.host],
      [attacker, addr.host],
      ...(backend ? ([[backend, addr.hostBackend]] as Array<[Ns, AddrPair]>) : []),
    ]);
    return { tag: opts.tag, lan, host, client, attacker, backend, addr, destroy };
  } catch (e) {
    await destroy().catch(() => {});
    throw e;
  }
}

/**
 * Wait until every listed interface reports operstate UP. Carrier changes reach the stack
 * through linkwatch, which handles non-urgent events at most once a second machine-wide,
 * and IPv6 ignores a link until then (no ff00::/8 route, incoming neighbour solicitations
 * dropped as "no route") while IPv4 already works. createLab makes the veth events urgent
 * (distinct ifindexes), so this normally returns at once; it is the safety net.
 */
async function waitLinksUp(wanted: Array<[Ns, string[]]>, deadlineMs = 5000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  let todo = wanted;
  while (todo.length) {
    const states = await Promise.all(
      todo.map(async ([ns, devs]) => {
        const links = JSON.parse(await runOk(["ip", "-n", ns.name, "-j", "link", "show"])) as Array<{ ifname: string; operstate: string }>;
        const down = devs.filter((d) => links.find((l) => l.ifname === d)?.operstate !== "UP");
        return [ns, down] as [Ns, string[]];
      }),
    );
    todo = states.filter(([, down]) => down.length);
    if (!todo.length) return;
    if (Date.now() > deadline) {
      throw new Error(`lab links not up after ${deadlineMs} ms: ${todo.map(([ns, d]) => `${ns.name}:${d.join(",")}`).join(" ")}`);
    }
    await Bun.sleep(20);
  }
}

/**
 * Wait until each namespace pings its peer over IPv4 and IPv6. Retries quickly (a fresh
 * link is usually ready at once) and gives up after `deadlineMs` with the failing pairs.
 */
async function waitUsable(pairs: Array<[Ns, AddrPair]>, deadlineMs = 5000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  let todo = pairs.flatMap(([ns, a]) => [{ ns, to: a.v4 }, { ns, to: a.v6 }]);
  while (todo.length) {
    const results = await Promise.all(
      todo.map(async (t) => ({ t, ok: (await t.ns.exec(["ping", "-n", "-q", "-c", "1", "-W", "0.3", t.to])).code === 0 })),
    );
    todo = results.filter((r) => !r.ok).map((r) => r.t);
    if (todo.length && Date.now() > deadline) {
      throw new Error(`lab links not usable after ${deadlineMs} ms: ${todo.map((t) => `${t.ns.name}→${t.to}`).join(", ")}`);
    }
  }
}
