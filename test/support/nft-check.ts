/**
 * `nft -c` on a script inside a throwaway network namespace (`unshare -n`, gone when nft
 * exits), with a veth for every device the script's netdev chains name, so the check does not
 * depend on the kernel accepting chains for absent devices. Nothing outside that namespace is
 * touched. Needs root, nft and unshare; `realNftAvailable()` says whether they are here.
 */
import { existsSync } from "node:fs";

const NFT = "/usr/sbin/nft";
const UNSHARE = "/usr/bin/unshare";

export interface RealCheck {
  ok: boolean;
  stderr: string;
}

let available: boolean | undefined;

/** Root, nft and unshare are here (the result is cached). */
export function realNftAvailable(): boolean {
  available ??= process.getuid?.() === 0 && existsSync(NFT) && existsSync(UNSHARE) && Bun.spawnSync([UNSHARE, "-n", "--", NFT, "-c", "-f", "/dev/null"]).exitCode === 0;
  return available;
}

/** `nft -c -f -` on `script` in a fresh network namespace. */
export async function realNftCheck(script: string, timeoutMs = 60_000): Promise<RealCheck> {
  const devices = [...new Set([...script.matchAll(/ device "([A-Za-z0-9_.-]{1,15})"/g)].map((m) => m[1]!))];
  // Device names come from the pattern above (no shell metacharacters) and are passed as arguments, never spliced.
  const setup = 'i=0; for d in "$@"; do ip link add "$d" type veth peer name "hwfakepeer$i" || exit 3; i=$((i+1)); done; exec /usr/sbin/nft -c -f -';
  const proc = Bun.spawn([UNSHARE, "-n", "--", "/bin/sh", "-c", setup, "sh", ...devices], { stdin: new TextEncoder().encode(script), stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" } });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  return { ok: code === 0, stderr };
}
