/**
 * Traffic for the engine's flood test (engine-suite.ts), run inside a lab namespace as
 * `bun test/kernel/engine-flood.ts <mode> ADDR PORT SECONDS` (at most; SIGTERM ends it sooner):
 *
 *   udp   send UDP datagrams to ADDR:PORT as fast as one socket can for SECONDS; prints
 *         {"sent": N}
 *   flow  one TCP connection to ADDR:PORT (the lab's echo server): after the greeting, a token
 *         every 10 ms, each echoed back before the next, for SECONDS; prints {"echoes": N,
 *         "error": "…"} — an error when the connection closed or an echo took over 1 s
 *         (a dropped packet of an established flow costs a retransmission: 200 ms or more).
 */
import { createSocket } from "node:dgram";
import { connect } from "node:net";

const [mode, addr, portText, secondsText] = process.argv.slice(2);
const port = Number(portText);
const seconds = Number(secondsText);
if (!addr || !Number.isInteger(port) || !(seconds > 0 && seconds <= 300)) {
  console.error("usage: engine-flood.ts udp|flow ADDR PORT SECONDS");
  process.exit(2);
}
let end = Date.now() + seconds * 1000;
// The test ends the traffic once its applies are done.
process.on("SIGTERM", () => {
  end = 0;
});

if (mode === "udp") {
  const sock = createSocket(addr.includes(":") ? "udp6" : "udp4");
  const payload = Buffer.alloc(64, 0x61);
  let sent = 0;
  const burst = () => {
    if (Date.now() > end) {
      sock.close();
      console.log(JSON.stringify({ sent }));
      return;
    }
    for (let i = 0; i < 200; i++) sock.send(payload, port, addr, () => undefined);
    sent += 200;
    setImmediate(burst);
  };
  burst();
} else if (mode === "flow") {
  let echoes = 0;
  let error: string | undefined;
  let buffer = "";
  let greeted = false;
  let waiting: { token: string; since: number } | undefined;
  const sock = connect({ host: addr, port });
  const finish = () => {
    clearInterval(timer);
    sock.destroy();
    console.log(JSON.stringify({ echoes, ...(error ? { error } : {}) }));
    process.exit(0);
  };
  const next = () => {
    if (Date.now() > end) return finish();
    waiting = { token: `t${echoes}\n`, since: Date.now() };
    sock.write(waiting.token);
  };
  sock.on("data", (d) => {
    buffer += d.toString("latin1");
    if (!greeted) {
      const nl = buffer.indexOf("\n");
      if (nl < 0) return;
      greeted = true;
      buffer = buffer.slice(nl + 1);
      return void setTimeout(next, 10);
    }
    if (waiting && buffer.length >= waiting.token.length) {
      if (buffer !== waiting.token) error ??= `wrong echo ${JSON.stringify(buffer.slice(0, 40))}`;
      buffer = "";
      echoes++;
      waiting = undefined;
      setTimeout(next, 10);
    }
  });
  sock.on("error", (e) => {
    error ??= `connection error: ${e.message}`;
    finish();
  });
  sock.on("close", () => {
    error ??= "connection closed";
    finish();
  });
  const timer = setInterval(() => {
    if (waiting && Date.now() - waiting.since > 1000) {
      error ??= `an echo took over 1 s (after ${echoes} echoes)`;
      finish();
    }
    if (!greeted && Date.now() > end) {
      error ??= "no greeting";
      finish();
    }
  }, 50);
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
