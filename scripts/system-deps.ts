/**
 * The system tools the lab and the kernel tests need. On a Debian machine, as root, missing
 * ones are installed with apt-get; elsewhere the exact command to run is printed.
 */
import { $ } from "bun";
import { existsSync } from "node:fs";

/** Tool → the Debian package that provides it: what the lab needs. */
export const TOOLS: Record<string, string> = { nft: "nftables", ip: "iproute2", ping: "iputils-ping", curl: "curl" };
/** What the whole test suite needs: the lab's tools, systemd-analyze for the unit-file checks (ops-systemd.test.ts), etcd and openssl for the fleet tests (etcd-*.test.ts). */
export const TEST_TOOLS: Record<string, string> = { ...TOOLS, "systemd-analyze": "systemd", etcd: "etcd-server", etcdctl: "etcd-client", openssl: "openssl" };

export async function ensureSystemTools(opts: { install: boolean; tools?: Record<string, string> }): Promise<{ ok: boolean; missing: string[] }> {
  const tools = opts.tools ?? TOOLS;
  const missing = Object.keys(tools).filter((tool) => !Bun.which(tool, { PATH: `${process.env.PATH}:/usr/sbin:/sbin` }));
  if (missing.length === 0) return { ok: true, missing };
  const packages = [...new Set(missing.map((t) => tools[t]!))];
  const canInstall = opts.install && process.getuid?.() === 0 && Bun.which("apt-get");
  if (!canInstall) {
    console.error(`missing tools: ${missing.join(", ")}; install them with:\n  sudo apt-get update && sudo apt-get install -y ${packages.join(" ")}`);
    return { ok: false, missing };
  }
  console.error(`installing ${packages.join(" ")} (missing: ${missing.join(", ")}) ...`);
  const update = await $`apt-get update -qq`.nothrow();
  const install = await $`apt-get install -y -qq --no-install-recommends ${packages}`.env({ ...process.env, DEBIAN_FRONTEND: "noninteractive" }).nothrow();
  // On a systemd host the etcd-server package starts its own etcd on 2379. The fleet tests start
  // their own (test/support/etcd.ts); a system etcd is not wanted: the same as .ci/run does.
  // Only right after this install, so an etcd the machine ran before is left alone.
  if (packages.includes("etcd-server")) await stopPackageEtcd();
  return { ok: update.exitCode === 0 && install.exitCode === 0, missing };
}

/** Disables and stops the etcd service the etcd-server package just enabled (no systemd: nothing to do). */
async function stopPackageEtcd(): Promise<void> {
  // /run/systemd/system exists only when systemd is the init system (sd_booted()).
  if (!Bun.which("systemctl") || !existsSync("/run/systemd/system")) return;
  const r = await $`systemctl disable --now etcd`.quiet().nothrow();
  if (r.exitCode === 0) console.error("disabled the etcd service the etcd-server package started (the tests run their own etcd)");
}
