/**
 * [I/O] What the agent reads from the machine besides its config: the interfaces that exist
 * in its network namespace, their addresses, and what the kernel's netdev hook can do.
 * /proc/net/dev is per network namespace of the reading process (unlike /sys/class/net,
 * which depends on which sysfs is mounted) and costs no spawn.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { type Cidr } from "../model/cidr.ts";
import { parseAddress } from "../model/cidr-parse.ts";
import type { NftRunner } from "../nft/runner.ts";

/**
 * `ip` by absolute path, never through PATH: where Debian's iproute2 installs it (/sbin/ip,
 * also /bin/ip), which merged-/usr systems (Debian 12, Fedora, Arch) reach as well.
 */
export const IP_PATH = "/sbin/ip";

/**
 * The whole environment of the tools hostwall runs (ip, and nft in src/nft/runner.ts): they
 * need nothing from the agent's own, and get nothing of it (no LD_*, no locale surprises in
 * the messages hostwall reports).
 */
export const TOOL_ENV: Readonly<Record<string, string>> = Object.freeze({ PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" });

export function listInterfaces(): Set<string> {
  const names = new Set<string>();
  let text = "";
  try {
    text = readFileSync("/proc/net/dev", "utf8");
  } catch {
    return names;
  }
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon > 0) names.add(line.slice(0, colon).trim());
  }
  return names;
}

export function systemHostname(): string {
  return hostname();
}

/**
 * Addresses per interface (`ip -j addr show`), for endpoints bound by expectedIPs. A spawn of
 * ~2 ms: it runs per attempt, and per resync or debounced link/address burst only when an
 * endpoint is bound by expectedIPs.
 */
export function listAddresses(ip = IP_PATH): Map<string, Cidr[]> {
  const out = new Map<string, Cidr[]>();
  let parsed: { ifname?: string; addr_info?: { local?: string }[] }[] = [];
  try {
    const r = Bun.spawnSync([ip, "-j", "addr", "show"], { env: { ...TOOL_ENV }, stdout: "pipe", stderr: "ignore", timeout: 5000 });
    if (r.exitCode === 0) parsed = JSON.parse(r.stdout.toString());
  } catch {
    return out;
  }
  for (const link of parsed) {
    if (!link.ifname) continue;
    const list: Cidr[] = [];
    for (const a of link.addr_info ?? []) {
      const p = a.local ? parseAddress(a.local) : undefined;
      if (p?.ok) list.push(p.cidr);
    }
    out.set(link.ifname, list);
  }
  return out;
}

/**
 * Whether the kernel accepts a netdev chain for a device that does not exist and attaches it
 * when the device appears (6.16+; before, the transaction fails with ENOENT, and before 6.14
 * removing the device deleted the chain: reference/nftables.md §1.2). Asked of the kernel
 * itself with a dry run (`nft -c`, nothing changes) rather than read off the version, so
 * backports count. A failed probe answers false: the safe, older behaviour.
 */
export async function netdevAttachesLater(runner: NftRunner, present: ReadonlySet<string>): Promise<boolean> {
  let device = "hw-absent-probe";
  for (let i = 0; present.has(device); i++) device = `hw-absent-${i}`;
  const script = `table netdev hostwall-probe {\n\tchain probe {\n\t\ttype filter hook ingress device "${device}" priority 0; policy accept;\n\t}\n}\n`;
  const r = await runner.apply(script, { check: true }).catch(() => ({ ok: false }));
  return r.ok;
}
