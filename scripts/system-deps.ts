/**
 * The system tools the lab and the kernel tests need. On a Debian machine, as root, missing
 * ones are installed with apt-get; elsewhere the exact command to run is printed.
 */
import { $ } from "bun";

const TOOLS: Record<string, string> = { nft: "nftables", ip: "iproute2", ping: "iputils-ping", curl: "curl" };

export async function ensureSystemTools(opts: { install: boolean }): Promise<{ ok: boolean; missing: string[] }> {
  const missing = Object.keys(TOOLS).filter((tool) => !Bun.which(tool, { PATH: `${process.env.PATH}:/usr/sbin:/sbin` }));
  if (missing.length === 0) return { ok: true, missing };
  const packages = [...new Set(missing.map((t) => TOOLS[t]!))];
  const canInstall = opts.install && process.getuid?.() === 0 && Bun.which("apt-get");
  if (!canInstall) {
    console.error(`missing tools: ${missing.join(", ")}; install them with:\n  sudo apt-get update && sudo apt-get install -y ${packages.join(" ")}`);
    return { ok: false, missing };
  }
  console.error(`installing ${packages.join(" ")} (missing: ${missing.join(", ")}) ...`);
  const update = await $`apt-get update -qq`.nothrow();
  const install = await $`apt-get install -y -qq --no-install-recommends ${packages}`.env({ ...process.env, DEBIAN_FRONTEND: "noninteractive" }).nothrow();
  return { ok: update.exitCode === 0 && install.exitCode === 0, missing };
}
