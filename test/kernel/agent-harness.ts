/**
 * Running the real hostwall binary as the agent inside a lab's host namespace, for kernel
 * tests and the README's lab: a private config dir, the agent process, and bounded helpers to
 * ask its API and wait for conditions.
 */
import { chmodSync, cpSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { isConfigFileName } from "../../src/source/read-dir.ts";
import { apiGet, reloadOrThrow } from "../support/agent-api.ts";
import { parseRulesetJson } from "../../src/nft/listing.ts";
import { normaliseRuleset } from "../../src/nft/listing-normalise.ts";
import { runOk, type Ns, type Proc } from "./netns";

import { BINARY, REPO } from "../support/binary.ts";

/** The binary under test and the repo root, from their one definition (test/support/binary.ts). */
export { BINARY, REPO };

/** A config dir the agent accepts (root-owned, not group/world-writable), filled from `from`. */
export function makeConfigDir(from?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "hostwall-cfg-"));
  chmodSync(dir, 0o755);
  if (from) {
    for (const f of readdirSync(from)) {
      cpSync(join(from, f), join(dir, f));
      chmodSync(join(dir, f), 0o644);
    }
  }
  return dir;
}

/**
 * Writes a config file atomically, the way editors and config tools do: the text goes to a
 * temp file in the same dir whose name the reader skips (hidden, `.tmp`), which is then
 * renamed over the file. A reload at any moment sees the old file or the new one, never a
 * half-written one and never the temp file (test/unit/watch.test.ts).
 */
export function writeConfig(dir: string, name: string, text: string): void {
  if (basename(name) !== name) throw new Error(`writeConfig takes a file name, not a path: ${name}`);
  const tmp = `.${name}.tmp`;
  if (isConfigFileName(tmp)) throw new Error(`writeConfig: the reader would read the temp file ${tmp}`);
  writeFileSync(join(dir, tmp), text, { mode: 0o644 });
  chmodSync(join(dir, tmp), 0o644); // whatever the umask
  renameSync(join(dir, tmp), join(dir, name));
}

export interface AgentHandle {
  proc: Proc;
  /** The agent's control socket (in a temp dir of its own, removed when the agent exits): POST /reload. */
  socket: string;
  /** Everything the agent printed on stderr so far. */
  log(): string;
  /** GET a path of the API inside the namespace; null when unreachable. */
  get(path: string): Promise<{ status: number; body: string } | null>;
  /** GET /status as JSON. */
  status(): Promise<any>;
  /** POST /reload on the control socket; the attempt, or a throw naming the diagnostics (test/support/agent-api.ts). */
  reload(): Promise<any>;
}

export function startAgent(ns: Ns, opts: { configDir: string; node?: string; port?: number; extraArgs?: string[] }): AgentHandle {
  const port = opts.port ?? 9099;
  const socketDir = mkdtempSync(join(tmpdir(), "hostwall-sock-"));
  const socket = join(socketDir, "api.sock");
  // The machine's /var/lib/hostwall is not the lab's: the test run's temp state dir, or none (npm run lab).
  const state = (opts.extraArgs ?? []).includes("--state-dir") ? [] : ["--state-dir", process.env.HOSTWALL_STATE_DIR ?? "off"];
  const proc = ns.spawn([BINARY, "run", "--config-dir", opts.configDir, "--node", opts.node ?? "jasper", "--listen", `127.0.0.1:${port}`, "--socket", socket, ...state, ...(opts.extraArgs ?? [])]);
  void proc.exited.then(() => rmSync(socketDir, { recursive: true, force: true }));
  let log = "";
  void (async () => {
    const stream = proc.sub.stderr as ReadableStream<Uint8Array> | undefined;
    if (!stream) return;
    const decoder = new TextDecoder();
    for await (const chunk of stream) log += decoder.decode(chunk);
  })();
  const get = (path: string) => apiGet(ns, port, path);
  return {
    proc,
    socket,
    log: () => log,
    get,
    status: async () => {
      const r = await get("/status");
      if (!r) throw new Error(`agent API unreachable; agent log:\n${log}`);
      return JSON.parse(r.body);
    },
    reload: () => reloadOrThrow(ns, socket, () => log),
  };
}

/** Polls `check` every 50 ms until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(50);
  }
}

/** hostwall's tables in namespace `ns` as IR, normalised (src/nft/listing-normalise.ts): what two kernels are compared by. */
export async function hostwallListing(ns: string): Promise<ReturnType<typeof normaliseRuleset>> {
  const parsed = parseRulesetJson(await runOk(["ip", "netns", "exec", ns, "nft", "-j", "list", "ruleset"]));
  if (!parsed.ok) throw new Error(`the listing of ${ns} does not parse: ${JSON.stringify(parsed.error)}`);
  return normaliseRuleset(parsed.listing.ruleset);
}

/** What the kernel holds after a full replace of `configDir`: `hostwall compile` of it loaded with nft -f into `refNs` (flushed first), listed. */
export async function fullReplaceListing(configDir: string, refNs: string): Promise<ReturnType<typeof normaliseRuleset>> {
  const script = await runOk([BINARY, "compile", "--config-dir", configDir, "--node", "jasper", "--all-interfaces"]);
  await runOk(["ip", "netns", "exec", refNs, "nft", "-f", "-"], { stdin: `flush ruleset\n${script}` });
  return hostwallListing(refNs);
}
