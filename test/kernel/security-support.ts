/**
 * Helpers for security.test.ts (issue #18): the binary under test, an agent started with the
 * flags that binary knows, a TCP probe that proves data flows both ways, and the configs.
 *
 * The binary is dist/hostwall unless HOSTWALL_TEST_BINARY names another one (an absolute path),
 * so the same tests can be pointed at an older build to show that they fail there. Flags the
 * binary does not know (`--state-dir`, `--socket` of older builds) are detected with `run
 * --FLAG X --help` and left out; a scenario that needs one fails with a clear message.
 *
 * Run as a program (`bun security-support.ts talk ADDR PORT TIMEOUT_MS`, inside a namespace),
 * it is the data probe: connect, read the lab server's banner, send a token, read it back.
 */
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { BINARY } from "./agent-harness";
import type { ExecResult, Ns, Proc } from "./netns";

const SELF = fileURLToPath(import.meta.url);
const BUN = process.execPath;

/** The hostwall binary the tests run. */
export const HOSTWALL = BINARY; // HOSTWALL_TEST_BINARY is honoured by test/support/binary.ts

const known = new Map<string, Promise<boolean>>();

/** Whether `hostwall run` accepts `--flag` (older builds refuse it as unknown: exit 2). */
export function runAccepts(flag: string): Promise<boolean> {
  let p = known.get(flag);
  if (!p) {
    const proc = Bun.spawn([HOSTWALL, "run", `--${flag}`, "/nonexistent", "--help"], { stdout: "ignore", stderr: "ignore", stdin: "ignore" });
    p = proc.exited.then((code) => code === 0);
    known.set(flag, p);
  }
  return p;
}

/** Runs the binary inside a namespace (explain, flush, status). */
export function hostwall(ns: Ns, args: string[]): Promise<ExecResult> {
  return ns.exec([HOSTWALL, ...args], { timeoutMs: 15_000 });
}

export interface Agent {
  proc: Proc;
  /** Everything the agent printed on stderr so far. */
  log(): string;
  /** GET /status as JSON; throws (with the log) when the API does not answer. */
  status(): Promise<any>;
  /** GET /status, or null while the API does not answer yet. */
  tryStatus(): Promise<any | null>;
  /** SIGTERM and the exit code. */
  stop(): Promise<number>;
}

export interface AgentOptions {
  configDir: string;
  /** --state-dir (required: without it a new binary would use /var/lib/hostwall of the machine). */
  stateDir: string;
  bootPolicy?: "open" | "failsafe";
  port?: number;
}

/**
 * `hostwall run` in `ns`, node jasper, API on 127.0.0.1:PORT inside the namespace, no control
 * socket (the default /run/hostwall/api.sock is shared by every namespace on the machine).
 */
export async function startAgent(ns: Ns, opts: AgentOptions): Promise<Agent> {
  const port = opts.port ?? 9099;
  const args = [HOSTWALL, "run", "--config-dir", opts.configDir, "--node", "jasper", "--listen", `127.0.0.1:${port}`];
  if (await runAccepts("socket")) args.push("--socket", "off");
  if (await runAccepts("state-dir")) args.push("--state-dir", opts.stateDir);
  else console.warn(`${HOSTWALL} does not accept --state-dir: the last good ruleset is not kept`);
  if (opts.bootPolicy) args.push("--boot-policy", opts.bootPolicy); // an older build exits 2: unknown flag
  const proc = ns.spawn(args);
  let log = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.sub.stderr as ReadableStream<Uint8Array>) log += decoder.decode(chunk);
  })();
  const tryStatus = async () => {
    const r = await ns.exec(["curl", "-s", "--max-time", "3", `http://127.0.0.1:${port}/status`], { timeoutMs: 5000 });
    if (r.code !== 0) return null;
    try {
      return JSON.parse(r.stdout);
    } catch {
      return null;
    }
  };
  return {
    proc,
    log: () => log,
    tryStatus,
    status: async () => {
      const s = await tryStatus();
      if (s === null) throw new Error(`agent API unreachable (exit ${proc.sub.exitCode}); agent log:\n${log}`);
      return s;
    },
    stop: async () => {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const code = await proc.exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Polls `check` every 100 ms until it returns a truthy value or `timeoutMs` passes. */
export async function until<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, log?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${log ? `; agent log:\n${log()}` : ""}`);
    await Bun.sleep(100);
  }
}

/** One data probe: the server's banner arrived and our token came back. */
export interface Talk {
  from: Ns;
  addr: string;
  port: number;
  ok: boolean;
  detail: string;
}

/**
 * Connects from `from` to addr:port and passes only if the lab server's banner
 * (`hostwall-lab PORT`, echo.ts) and the echo of a random token both arrive: data flowed both
 * ways, not just a handshake. Dropped: "timeout" after `timeoutMs`.
 */
export async function talk(from: Ns, addr: string, port: number, timeoutMs = 1000): Promise<Talk> {
  const r = await from.exec([BUN, SELF, "talk", addr, String(port), String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
  let reply: { ok?: boolean; detail?: string } = {};
  try {
    reply = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "");
  } catch {
    reply = { ok: false, detail: `prober failed: exit ${r.code} ${r.stderr.trim()}` };
  }
  return { from, addr, port, ok: reply.ok === true, detail: reply.detail ?? "" };
}

/** Runs the probes at once; returns "" when each came out as expected, else a readable list. */
export async function probeReport(expected: Array<[Ns, string, number, boolean]>): Promise<string> {
  const results = await Promise.all(expected.map(([ns, addr, port]) => talk(ns, addr, port)));
  const line = (t: Talk, want: boolean) => `${t.from.name} → ${t.addr}:${t.port}: ${t.ok ? "answered" : `no reply (${t.detail})`}, expected ${want ? "an answer" : "no reply"}`;
  const wrong = results.map((t, i) => [t, expected[i]![3]] as const).filter(([t, want]) => t.ok !== want);
  return wrong.length === 0 ? "" : `unexpected:\n${wrong.map(([t, w]) => line(t, w)).join("\n")}`;
}

async function talkMain(addr: string, port: number, timeoutMs: number): Promise<void> {
  const token = `hw-sec-${crypto.randomUUID()}\n`;
  const banner = `hostwall-lab ${port}\n`;
  const result = await new Promise<{ ok: boolean; detail: string }>((resolve) => {
    let received = "";
    let sent = false;
    const sock = connect({ host: addr, port });
    const done = (ok: boolean, detail: string) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ ok, detail });
    };
    const timer = setTimeout(() => done(false, received ? `timeout after ${JSON.stringify(received)}` : "timeout"), timeoutMs);
    sock.on("data", (data) => {
      received += data.toString("utf8");
      if (!sent && received.startsWith(banner)) {
        sent = true;
        sock.write(token);
      }
      if (received === banner + token) done(true, "banner and echo");
    });
    sock.once("error", (err: NodeJS.ErrnoException) => done(false, err.code ?? err.message));
    sock.once("close", () => done(false, `closed after ${JSON.stringify(received)}`));
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(result.ok ? 0 : 1);
}

// ---- configs (node jasper) ----

const header = (kind: string, name: string) => `apiVersion: projectcalico.org/v3\nkind: ${kind}\nmetadata:\n  name: ${name}\n`;

/** The `*` endpoint without profiles and a named endpoint `any-interface` with the allow-all profile (finding 1). */
export const CLASH_CONFIG =
  `${header("HostEndpoint", "all-interfaces")}spec:\n  node: jasper\n  interfaceName: "*"\n---\n` +
  `${header("HostEndpoint", "lab-link")}spec:\n  node: jasper\n  interfaceName: any-interface\n  profiles: [projectcalico-default-allow]\n`;

/** eth0's endpoint: the attacker denied, TCP 8080 allowed for everyone else, the rest denied (failsafe 22 open). */
export const ETH0_CONFIG =
  `${header("HostEndpoint", "eth0-host")}  labels:\n    lab: eth0\nspec:\n  node: jasper\n  interfaceName: eth0\n---\n` +
  `${header("GlobalNetworkPolicy", "deny-attacker")}spec:\n  selector: lab == 'eth0'\n  order: 10\n  types: [Ingress]\n  ingress:\n    - action: Deny\n      source:\n        nets: ['192.0.2.66/32']\n`;

/** The allow policy of ETH0_CONFIG, in a file of its own so a test can break it (`ports: [70000]`). */
export const allowPolicy = (port: number) =>
  `${header("GlobalNetworkPolicy", "allow-web")}spec:\n  selector: lab == 'eth0'\n  order: 20\n  types: [Ingress]\n  ingress:\n    - action: Allow\n      protocol: TCP\n      destination:\n        ports: [${port}]\n`;

/** An endpoint bound by expectedIPs only, with the allow-all profile (finding 3). */
export const byAddress = (name: string, ip: string) =>
  `${header("HostEndpoint", name)}spec:\n  node: jasper\n  expectedIPs: ['${ip}']\n  profiles: [projectcalico-default-allow]\n`;

if (import.meta.main) {
  const [mode, addr, port, timeout] = Bun.argv.slice(2);
  if (mode !== "talk" || !addr || !port) {
    console.error("usage: security-support.ts talk ADDR PORT [TIMEOUT_MS]");
    process.exit(2);
  }
  await talkMain(addr, Number(port), Number(timeout ?? 1000));
}
