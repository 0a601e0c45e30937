/**
 * [I/O] The one place that runs nft. Everything else hands it a script.
 *
 * `nft -f -` with the script on stdin is one netlink batch, so one kernel transaction. A
 * libnftables FFI runner (0.1 ms instead of ~16 ms per transaction, reference/nftables.md §6)
 * can implement the same interface later.
 */
import type { RuleOrigin } from "./ir.ts";

export interface NftResult {
  /** nft exited 0. */
  ok: boolean;
  /** nft's stdout (listings). */
  stdout: string;
  /** nft's error text. */
  stderr: string;
}

export interface NftRunner {
  /** Runs a script as one transaction; with `check`, the kernel validates it and nothing changes. */
  apply(script: string, opts?: { check?: boolean }): Promise<NftResult>;
  /** Runs `nft <args>` (listing commands). */
  command(args: string[]): Promise<NftResult>;
}

/** Runs the nft binary. `nftPath` lets tests and packagers point at a specific binary. */
export function spawnRunner(nftPath = "nft", timeoutMs = 120_000): NftRunner {
  const run = async (args: string[], stdin?: string): Promise<NftResult> => {
    let proc;
    try {
      proc = Bun.spawn([nftPath, ...args], { stdin: stdin === undefined ? "ignore" : "pipe", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL" });
    } catch (e) {
      return { ok: false, stdout: "", stderr: `cannot run ${nftPath}: ${(e as Error).message}` };
    }
    const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    if (stdin !== undefined && proc.stdin) {
      try {
        proc.stdin.write(stdin);
        await proc.stdin.end();
      } catch {
        // nft exited early (EPIPE); its stderr says why.
      }
    }
    const [stdout, stderr] = await output;
    const code = await proc.exited;
    const timedOut = proc.signalCode === "SIGKILL";
    return { ok: code === 0, stdout, stderr: timedOut ? `nft timed out after ${timeoutMs} ms\n${stderr}` : stderr };
  };
  return {
    apply: (script, opts) => run(opts?.check ? ["-c", "-f", "-"] : ["-f", "-"], script),
    command: (args) => run(args),
  };
}

/** An nft error located in the script, mapped back to the rule that produced the line. */
export interface NftError {
  /** nft's message. */
  message: string;
  /** Script line. */
  line?: number;
  /** The policy rule that produced that line, if any. */
  origin?: RuleOrigin;
}

/** Parses nft's `/dev/stdin:12:5-20: Error: …` lines and maps them through the renderer's line map. */
export function mapNftErrors(stderr: string, origins: ReadonlyMap<number, RuleOrigin>): NftError[] {
  const errors: NftError[] = [];
  for (const lineText of stderr.split("\n")) {
    const m = /^(?:\/dev\/stdin|-):(\d+):[\d-]+: Error: (.*)$/.exec(lineText);
    if (m) errors.push({ message: m[2]!, line: Number(m[1]), origin: origins.get(Number(m[1])) });
    else if (/^Error: /.test(lineText)) errors.push({ message: lineText.slice(7) });
  }
  if (errors.length === 0) errors.push({ message: stderr.trim().split("\n")[0] || "nft failed without a message" });
  return errors;
}
