/**
 * A stand-in for the nft binary, given to the agent with `hostwall run --nft <shim>`, for
 * kernel tests that need the agent's nft calls to behave in a way this kernel would not
 * produce by itself. Every call ends in the real /usr/sbin/nft with the same arguments and
 * script, so the kernel still does all the work; the shim only adds, on scripts (`-f`):
 *
 * - `pre616`: a netdev chain for a device that does not exist fails the whole transaction
 *   the way kernels before 6.16 refuse it (ENOENT), dry runs (`-c`) included. The agent's own
 *   probe (src/agent/system.ts netdevAttachesLater) then answers false and it takes the
 *   pre-6.16 path on this kernel: netdev chains only for present interfaces, re-applied on
 *   link events. What it cannot imitate: before 6.14 the kernel also deleted a chain with its
 *   device; here the chain stays, detached, until the agent's re-apply removes it.
 * - `gate`: while the file `gate` exists, an apply (not a dry run) waits before it runs
 *   (at most 20 s), and `${gate}.waiting` exists while one waits. A test holds an attempt
 *   inside its apply that way, for as long as it needs, and knows when it got there.
 * - `log`: one line per script call (`check` or `apply`), so a test can count them.
 *
 * Other calls (listings) go straight to nft. The shim is a root-owned sh script in a private
 * temp dir; it runs with whatever privileges the agent has.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface NftShimOptions {
  /** Refuse netdev chains of absent devices, as kernels before 6.16 do. */
  pre616?: boolean;
  /** Hold applies while this file exists. */
  gate?: string;
  /** Append one line per script call to this file. */
  log?: string;
}

export interface NftShim {
  /** Absolute path of the shim, for `--nft`. */
  path: string;
  /** Remove the shim's directory. */
  remove(): void;
}

/** Single-quoted for sh: the paths come from mkdtemp, but quote them anyway. */
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function createNftShim(opts: NftShimOptions): NftShim {
  const dir = mkdtempSync(join(tmpdir(), "hostwall-nft-shim-"));
  chmodSync(dir, 0o755);
  const path = join(dir, "nft");
  const lines = [
    "#!/bin/sh",
    "# hostwall kernel-test nft shim (test/kernel/nft-shim.ts)",
    "NFT=/usr/sbin/nft",
    'case " $* " in *" -f "*) ;; *) exec "$NFT" "$@" ;; esac',
    'case " $* " in *" -c "*) kind=check ;; *) kind=apply ;; esac',
    // Read the whole script, keeping its trailing newlines.
    'script=$(cat; echo x)',
    'script=${script%x}',
  ];
  if (opts.log) lines.push(`echo "$kind" >> ${sq(opts.log)}`);
  if (opts.pre616) {
    lines.push(
      'for dev in $(printf %s "$script" | sed -n \'s/.*hook ingress device "\\([^"]*\\)".*/\\1/p\'); do',
      '  if ! ip link show dev "$dev" >/dev/null 2>&1; then',
      '    echo "Error: Could not process rule: No such file or directory (nft shim: device $dev is absent, refused as before Linux 6.16)" >&2',
      "    exit 1",
      "  fi",
      "done",
    );
  }
  if (opts.gate) {
    const gate = sq(opts.gate);
    const waiting = sq(`${opts.gate}.waiting`);
    lines.push(
      `if [ "$kind" = apply ] && [ -e ${gate} ]; then`,
      `  : > ${waiting}`,
      "  i=0",
      `  while [ -e ${gate} ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done`,
      `  rm -f ${waiting}`,
      "fi",
    );
  }
  lines.push('printf %s "$script" | "$NFT" "$@"');
  writeFileSync(path, `${lines.join("\n")}\n`, { mode: 0o755 });
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
