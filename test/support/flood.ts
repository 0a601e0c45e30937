/**
 * A flood and the sink that counts what reaches a host, for the fail-static tests of the fleet
 * (etcd-flood.test.ts, bench/fleet-flood.bench.ts). Run inside a namespace with Bun:
 *
 *   bun test/support/flood.ts sink  TCPPORT UDPPORT
 *     accepts TCP connections and reads UDP datagrams; every 100 ms (when something changed)
 *     prints one JSON line {"tcp":{"<source ip>":n},"udp":{"<source ip>":n}}: what got through
 *     the firewall to a listening socket, by source, counted where it arrives.
 *   bun test/support/flood.ts flood TCPPORT UDPPORT PPS ADDR...
 *     sends PPS UDP datagrams a second and PPS/10 TCP connection attempts a second (each given
 *     up after 1 s) to each ADDR until killed; every 500 ms prints {"udp":n,"tcp":n} sent so far.
 *
 * Rates are bounded on purpose: the machine is shared, and what matters is that denied packets
 * keep arriving during the whole outage, not how many.
 */
import { connect, createServer } from "node:net";

type Counts = Record<string, number>;

async function sink(tcpPort: number, udpPort: number): Promise<void> {
  const tcp: Counts = {};
  const udp: Counts = {};
  let dirty = true;
  const bump = (c: Counts, ip: string) => {
    const k = ip.replace(/^::ffff:/, "");
    c[k] = (c[k] ?? 0) + 1;
    dirty = true;
  };
  createServer((sock) => {
    bump(tcp, sock.remoteAddress ?? "?");
    sock.on("error", () => undefined);
    sock.destroy();
  }).listen(tcpPort, "0.0.0.0");
  await Bun.udpSocket({ port: udpPort, hostname: "0.0.0.0", socket: { data: (_s, _buf, _port, addr) => bump(udp, addr) } });
  setInterval(() => {
    if (!dirty) return;
    dirty = false;
    console.log(JSON.stringify({ tcp, udp }));
  }, 100);
}

async function flood(tcpPort: number, udpPort: number, pps: number, addrs: string[]): Promise<void> {
  const sock = await Bun.udpSocket({});
  const payload = new Uint8Array(64);
  const sent = { udp: 0, tcp: 0 };
  const tickMs = 10;
  let udpDebt = 0;
  let tcpDebt = 0;
  let last = performance.now();
  setInterval(() => {
    // By elapsed time, not ticks: a busy machine delays timers, the rate stays.
    const now = performance.now();
    const dt = Math.min(now - last, 200) / 1000;
    last = now;
    udpDebt += pps * dt;
    tcpDebt += (pps / 10) * dt;
    for (; udpDebt >= 1; udpDebt--) for (const a of addrs) if (sock.send(payload, udpPort, a)) sent.udp++;
    for (; tcpDebt >= 1; tcpDebt--) {
      for (const a of addrs) {
        const c = connect({ host: a, port: tcpPort });
        c.on("error", () => undefined);
        c.on("connect", () => c.destroy());
        setTimeout(() => c.destroy(), 1000);
        sent.tcp++;
      }
    }
  }, tickMs);
  setInterval(() => console.log(JSON.stringify(sent)), 500);
}

if (import.meta.main) {
  const [mode, tcpPort, udpPort, ...rest] = process.argv.slice(2);
  if (mode === "sink") await sink(Number(tcpPort), Number(udpPort));
  else if (mode === "flood") await flood(Number(tcpPort), Number(udpPort), Number(rest[0]), rest.slice(1));
  else {
    console.error("usage: flood.ts sink TCPPORT UDPPORT | flood TCPPORT UDPPORT PPS ADDR...");
    process.exit(2);
  }
}
