/**
 * The packet side of bench/engine.bench.ts, run inside a namespace with `ip netns exec`:
 *
 *   bun bench/engine-udp.ts send <src> <dst> <port> <intervalMs>
 *     sends a small datagram every intervalMs (payload: its sequence number) from <src> and
 *     prints `<seq> <send time>` per datagram, the time in ms of CLOCK_MONOTONIC
 *     (engine-lab.ts nowMs: one clock for every process on the machine);
 *   bun bench/engine-udp.ts recv <addr> <port>
 *     prints the sequence number of every datagram that arrives.
 *
 * Both stop when their stdin closes (the bench's end, or its death), so nothing outlives it.
 */
import { nowMs } from "./engine-lab.ts";

const [mode, ...args] = process.argv.slice(2);
const out = (line: string) => process.stdout.write(`${line}\n`);

// Exit with the bench: its end of our stdin closes.
void (async () => {
  for await (const _ of Bun.stdin.stream()) {
    /* nothing is sent on stdin */
  }
  process.exit(0);
})();

if (mode === "send") {
  const [src, dst, port, interval] = [args[0]!, args[1]!, Number(args[2]), Number(args[3] ?? 2)];
  const sock = await Bun.udpSocket({ hostname: src });
  out(`ready ${nowMs()}`);
  for (let seq = 0; ; seq++) {
    const t = nowMs();
    sock.send(String(seq), port, dst);
    out(`${seq} ${t.toFixed(3)}`);
    await Bun.sleep(interval);
  }
} else if (mode === "recv") {
  const [addr, port] = [args[0]!, Number(args[1])];
  await Bun.udpSocket({
    hostname: addr,
    port,
    socket: {
      data(_s, buf) {
        out(buf.toString());
      },
    },
  });
  out("ready");
} else {
  console.error("usage: bun bench/engine-udp.ts send <src> <dst> <port> <intervalMs> | recv <addr> <port>");
  process.exit(2);
}
