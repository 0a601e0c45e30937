/**
 * Running hostwall as a user does, for CLI tests (the one CLI runner): the binary under test
 * (test/support/binary.ts) or the CLI entry src/main.ts under this bun (always the current
 * source), and config dirs in temp directories with the permissions the agent demands.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY as BINARY_PATH, REPO } from "./binary.ts";

export { REPO };
/** The example config dir shipped with hostwall. */
export const RULES = join(REPO, "rules");
/** Argument vectors that start hostwall: the binary under test (test/support/binary.ts), or src/main.ts under this bun. */
export const BINARY: readonly string[] = [BINARY_PATH];
export const ENTRY: readonly string[] = [process.execPath, join(REPO, "src/main.ts")];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs hostwall with `args` and a minimal environment (PATH plus `env`). */
export async function runHostwall(args: readonly string[], opts: { env?: Record<string, string>; command?: readonly string[] } = {}): Promise<CliResult> {
  const proc = Bun.spawn([...(opts.command ?? BINARY), ...args], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "", ...opts.env }, timeout: 20_000 });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Temp config dirs; `remove()` deletes every one made (call it from afterAll). */
export function tempConfigDirs(prefix = "hostwall-cli-") {
  const dirs: string[] = [];
  return {
    /** A config dir holding `files` (name → text), files and dir with the given mode. */
    make(files: Record<string, string>, mode = 0o644): string {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      chmodSync(dir, 0o755);
      for (const [name, text] of Object.entries(files)) {
        writeFileSync(join(dir, name), text, { mode });
        chmodSync(join(dir, name), mode);
      }
      dirs.push(dir);
      return dir;
    },
    remove(): void {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}
