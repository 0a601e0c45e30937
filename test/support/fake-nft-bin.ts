/**
 * Stand-in `nft` executables for tests of the runner and the CLI (`--nft PATH`): a shell script
 * in a temp dir of its own, and a log dir where it can record its arguments and stdin. Nothing
 * reaches the kernel.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface FakeNftBinary {
  /** The executable's path (absolute, as `--nft` wants it). */
  path: string;
  /** A directory the script may write to: `$LOG` inside the script. */
  log: string;
  /** A file under `log`, or "" when the script did not write it. */
  read(name: string): string;
  remove(): void;
}

/**
 * Writes `body` as `#!/bin/sh` script. `$LOG` in the body is the log dir (substituted as a
 * literal path: the runner gives nft only PATH and LANG, so it cannot come from the environment).
 */
export function fakeNftBinary(body: string): FakeNftBinary {
  const dir = mkdtempSync(join(tmpdir(), "hw-fake-nft-"));
  const path = join(dir, "nft");
  const log = join(dir, "log");
  writeFileSync(path, `#!/bin/sh\nLOG='${log}'\nmkdir -p "$LOG"\n${body}\n`);
  chmodSync(path, 0o755);
  return {
    path,
    log,
    read(name) {
      try {
        return readFileSync(join(log, name), "utf8");
      } catch {
        return "";
      }
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
