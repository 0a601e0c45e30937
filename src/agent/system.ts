/**
 * [I/O] What the agent reads from the machine besides its config: the interfaces that exist
 * in its network namespace. /proc/net/dev is per network namespace of the reading process
 * (unlike /sys/class/net, which depends on which sysfs is mounted) and costs no spawn.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

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
