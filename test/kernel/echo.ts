/**
 * Helper program for the kernel-test lab, run inside a lab namespace with
 * `ip netns exec <ns> bun test/kernel/echo.ts <mode>`. Two modes:
 *
 *   serve --tcp 22,80 --udp 53   TCP listeners (greet with `hostwall-lab PORT\n`, echo data) and UDP echo
 *                                servers on `::` (dual stack, so IPv4 and IPv6), one
 *                                JSON line `{"ready":true}` once every socket is bound.
 *   probe                        a prober driven by JSON lines on stdin: each request
 *                                `{id, kind: "tcp"|"udp"|"ping", addr, port?, size?, timeoutMs}`
 *                                gets one reply line `{id, ok, ms, detail?}`. Probes run
 *                                concurrently; one long-lived process per namespace keeps a
 *                                passing probe at about a millisecond instead of a process
 *                                start per probe.
 *
 * A probe is answered only by a whole exchange: TCP the server's greeting and the echo of a
 * token sent after it, UDP the full echo of our own datagram, ping an ICMP echo reply.
 * Both modes exit when stdin closes, so a crashed test never leaves them behind.
 */

import { connect } from "node:net";
export {};

interface ProbeRequest {
  id: number;
  kind: "tcp" | "udp" | "ping";
  addr: string;
  port?: number;
  size?: number;
  timeoutMs: number;
}

interface ProbeReply {
  id: number;
  ok: boolean;
  ms: number;
  detail?: string;
}

function writeLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function parsePorts(args: string[], flag: string): number[] {
  const i = args.indexOf(flag);
  const list = i >= 0 ? args[i + 1] : undefined;
  if (!list) return [];
  return list.split(",").map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`bad port ${p}`);
    return n;
  });
}

async function serve(args: string[]): Promise<void> {
  const tcp = parsePorts(args, "--tcp");
  const udp = parsePorts(args, "--udp");
  const closers: Array<() => void> = [];
  for (const port of tcp) {
    const listener = Bun.listen({
      hostname: "::",
      port,
      socket: {
        open(sock) {
          sock.write(`hostwall-lab ${port}\n`);
        },
        data(sock, data) {
          sock.write(data);
        },
        error() {},
      },
    });
    closers.push(() => listener.stop(true));
  }
  for (const port of udp) {
    const sock = await Bun.udpSocket({
      hostname: "::",
      port,
      socket: {
        data(s, data, rport, raddr) {
          s.send(data, rport, raddr);
        },
      },
    });
    closers.push(() => sock.close());
  }
  writeLine({ ready: true, tcp, udp });
  await drainStdin();
  for (const close of closers) close();
  process.exit(0);
}

async function drainStdin(): Promise<void> {
  const reader = Bun.stdin.stream().getReader();
  while (!(await reader.read()).done) {
    // keep reading until the parent closes stdin or dies
  }
}

/**
 * Resolves with the first value; the timer turns silence into `false`, with the detail
 * `timeoutDetail()` gives at that moment (how far the exchange got).
 */
function withTimeout(
  timeoutMs: number,
  run: (done: (ok: boolean, detail?: string) => void) => () => void,
  timeoutDetail: () => string = () => "timeout",
): Promise<{ ok: boolean; detail?: string }> {
  return new Promise((resolve) => {
    let settled = false;
    let cleanup: () => void = () => {};
    const done = (ok: boolean, detail?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      cleanup();
      resolve({ ok, detail });
    };
    const timer = setTimeout(() => done(false, timeoutDetail()), timeoutMs);
    cleanup = run(done);
    if (settled) cleanup();
  });
}

/** The first line every lab TCP server sends (serve above); the port is the server's own. */
const GREETING = /^hostwall-lab \d{1,5}$/;

/**
 * A TCP probe passes only after a whole exchange: the handshake, the server's greeting line
 * (so the server accepted the connection, which needs the client's ACK), then a random token
 * sent and echoed back in full (data both ways after the handshake). A ruleset that lets the
 * SYN and SYN-ACK through but drops the client's later packets fails it.
 */
function probeTcp(req: ProbeRequest) {
  const token = `hw-${req.id}-${crypto.randomUUID()}\n`;
  let stage: "handshake" | "greeting" | "echo" = "handshake";
  let received = Buffer.alloc(0);
  const progress = () =>
    stage === "handshake" ? "timeout" : stage === "greeting" ? "timeout: connected, no greeting" : `timeout: greeted, echo incomplete (${received.length}/${token.length} bytes)`;
  return withTimeout(
    req.timeoutMs,
    (done) => {
      // node:net hands back the socket at once, so a probe that times out in SYN-SENT is
      // destroyed (its fd closed, the connect abandoned without retransmits) instead of
      // retransmitting SYNs into later tests. "connect" fires once a SYN-ACK came back.
      const sock = connect({ host: req.addr, port: req.port ?? 0 });
      sock.once("connect", () => (stage = "greeting"));
      sock.on("data", (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (stage === "greeting") {
          const nl = received.indexOf(10);
          if (nl < 0) {
            if (received.length > 64) done(false, `no greeting line: ${JSON.stringify(received.toString("latin1"))}`);
            return;
          }
          const line = received.subarray(0, nl).toString("latin1");
          if (!GREETING.test(line)) return done(false, `unexpected greeting ${JSON.stringify(line)}`);
          received = received.subarray(nl + 1);
          stage = "echo";
          sock.write(token);
        }
        if (stage === "echo" && received.length >= token.length) {
          const echo = received.toString("latin1");
          done(echo === token, echo === token ? undefined : `wrong echo ${JSON.stringify(echo)}`);
        }
      });
      sock.once("error", (err: NodeJS.ErrnoException) => done(false, err.code === "ECONNREFUSED" ? "Connection refused" : err.message));
      sock.once("close", () => done(false, `closed by the server during the ${stage}`));
      return () => sock.destroy();
    },
    progress,
  );
}

function probeUdp(req: ProbeRequest) {
  const token = `hw-${req.id}-${crypto.randomUUID()}`;
  const size = Math.max(req.size ?? 64, token.length);
  const payload = Buffer.alloc(size, "x");
  payload.write(token);
  const v6 = req.addr.includes(":");
  return withTimeout(req.timeoutMs, (done) => {
    let sock: { close(): void } | undefined;
    let abandoned = false;
    const options = {
      hostname: v6 ? "::" : "0.0.0.0",
      socket: {
        data(_s: unknown, data: Uint8Array) {
          // Only the full echo of our own datagram counts, so a reassembled
          // fragmented datagram is proven to have made it both ways.
          if (Buffer.compare(Buffer.from(data), payload) === 0) done(true);
        },
      },
    };
    // A source port of our own, not the kernel's random pick: a datagram that reused the
    // 5-tuple of an earlier answered probe (conntrack keeps UDP entries 30-120 s) would be
    // "established" and pass whatever the rules in force now say.
    // (Bun.udpSocket throws a failed bind synchronously: hence the async wrapper.)
    const open = async () => {
      try {
        return await Bun.udpSocket({ ...options, port: nextUdpPort() });
      } catch {
        return await Bun.udpSocket(options);
      }
    };
    open().then(
      (s) => {
        sock = s;
        if (abandoned) return s.close();
        if (!s.send(payload, req.port ?? 0, req.addr)) done(false, "send failed");
      },
      (err: Error) => done(false, err.message),
    );
    return () => {
      abandoned = true;
      sock?.close();
    };
  });
}

/** Source ports for UDP probes: 40000-60999 (ephemeral, above every port the tests' rules name), in turn from a random start. */
let udpPort = 40000 + Math.floor(Math.random() * 21000);
function nextUdpPort(): number {
  udpPort = udpPort >= 60999 ? 40000 : udpPort + 1;
  return udpPort;
}

/** Running ping processes, killed when the prober exits so none outlives it. */
const pings = new Set<{ kill(signal?: number | NodeJS.Signals): void }>();

function probePing(req: ProbeRequest) {
  // ping's own deadline is later than ours, so a lost reply always reads "timeout".
  const waitSeconds = (req.timeoutMs / 1000 + 1).toFixed(1);
  return withTimeout(req.timeoutMs, (done) => {
    // iputils ping exits 0 only when an echo reply arrived; it picks v4/v6 by address.
    const proc = Bun.spawn(["ping", "-n", "-q", "-c", "1", "-W", waitSeconds, req.addr], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    pings.add(proc);
    proc.exited.then(async (code) => {
      pings.delete(proc);
      done(code === 0, code === 0 ? undefined : `ping exit ${code}: ${(await new Response(proc.stderr).text()).trim()}`);
    });
    return () => {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    };
  });
}

async function handle(req: ProbeRequest): Promise<ProbeReply> {
  const started = performance.now();
  const run = req.kind === "tcp" ? probeTcp : req.kind === "udp" ? probeUdp : probePing;
  const { ok, detail } = await run(req);
  return { id: req.id, ok, ms: Math.round((performance.now() - started) * 100) / 100, detail };
}

async function probeLoop(): Promise<void> {
  const pending = new Set<Promise<void>>();
  writeLine({ ready: true });
  for await (const line of console) {
    if (!line.trim()) continue;
    const req = JSON.parse(line) as ProbeRequest;
    const p = handle(req).then(writeLine, (err: Error) =>
      writeLine({ id: req.id, ok: false, ms: 0, detail: `prober error: ${err.message}` }),
    );
    pending.add(p);
    p.finally(() => pending.delete(p));
  }
  for (const proc of pings) proc.kill("SIGKILL");
  process.exit(0);
}

const [mode, ...rest] = Bun.argv.slice(2);
if (mode === "serve") await serve(rest);
else if (mode === "probe") await probeLoop();
else {
  console.error("usage: echo.ts serve --tcp P,... --udp P,... | echo.ts probe");
  process.exit(2);
}
