/**
 * A real etcd for the fleet tests (Debian 12's etcd-server, 3.4.x): started on free high ports
 * on loopback (or inside a test's network namespace), its data dir in a temp dir, stopped by
 * pid with bounded waits. stop() keeps the data dir so start() brings the same store back
 * (the fail-static tests); destroy() stops it and removes the dir. `etcdctl()` reads what
 * was written, raw, with the official client.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const ETCD = "/usr/bin/etcd";
export const ETCDCTL = "/usr/bin/etcdctl";

export interface EtcdOptions {
  /** Run inside this network namespace (`ip netns exec`); default: the test's own. */
  netns?: string;
  /** Address to listen on for clients (default 127.0.0.1; "0.0.0.0" inside a namespace). */
  host?: string;
  /** The address clients use in URLs (default: host, or 127.0.0.1 for 0.0.0.0). */
  advertise?: string;
  /** Client port (default: a free one). */
  port?: number;
  /**
   * Serve clients over TLS with this certificate (signed by `ca`); clientCertAuth: require
   * client certificates signed by `ca`. etcdctl uses the server's pair as its client pair, so
   * the certificate should allow clientAuth too.
   */
  tls?: { cert: string; key: string; ca: string; clientCertAuth?: boolean };
  /** --max-request-bytes (etcd's default, 1.5 MiB, is too small for a GlobalNetworkSet of 1M addresses). */
  maxRequestBytes?: number;
}

export interface Etcd {
  /** The client URL (http:// or https://). */
  endpoint: string;
  /** The data dir (kept across stop/start). */
  dataDir: string;
  /** The pid of the running etcd, or undefined while stopped. */
  pid(): number | undefined;
  /** Everything etcd printed (its log goes to stderr). */
  log(): string;
  /** Starts it (again) on the same ports and data dir; resolves when it serves clients. */
  start(): Promise<void>;
  /** SIGTERM, SIGKILL after 3 s; resolves when it exited. */
  stop(): Promise<void>;
  /** SIGKILL (a crash: no clean shutdown, no goodbye to clients); resolves when it exited. */
  kill(): Promise<void>;
  /** stop() and remove the data dir. */
  destroy(): Promise<void>;
  /** Runs etcdctl (API v3) against it; throws with stderr on a non-zero exit. */
  ctl(args: string[], opts?: { stdin?: string; env?: Record<string, string> }): Promise<string>;
}

/** A test CA and certificates it signed (EC P-256, valid a day), made with openssl in `dir`. */
export async function makeCerts(dir: string, opts: { serverIps: string[] }): Promise<{ ca: string; caKey: string; server: { cert: string; key: string }; client: { cert: string; key: string } }> {
  const ossl = async (args: string[]) => {
    const p = Bun.spawn(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`openssl ${args.join(" ")}: ${err}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await ossl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=hostwall test CA"]);
  const sign = async (name: string, ext: string) => {
    await ossl(["req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
    await Bun.write(join(dir, `${name}.ext`), ext);
    await ossl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", "-extfile", `${name}.ext`]);
  };
  await sign("server", `subjectAltName=${opts.serverIps.map((ip) => `IP:${ip}`).join(",")}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  await sign("client", "extendedKeyUsage=clientAuth\n");
  return { ca: join(dir, "ca.pem"), caKey: join(dir, "ca.key"), server: { cert: join(dir, "server.pem"), key: join(dir, "server.key") }, client: { cert: join(dir, "client.pem"), key: join(dir, "client.key") } };
}

/** A TCP port nothing listens on now (the kernel's pick; a race with other binders is unlikely). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startEtcd(opts: EtcdOptions = {}): Promise<Etcd> {
  const host = opts.host ?? "127.0.0.1";
  const advertise = opts.advertise ?? (host === "0.0.0.0" ? "127.0.0.1" : host);
  const port = opts.port ?? (await freePort());
  const peerPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "hostwall-etcd-"));
  const scheme = opts.tls ? "https" : "http";
  const endpoint = `${scheme}://${advertise}:${port}`;
  const prefix = opts.netns ? ["ip", "netns", "exec", opts.netns] : [];
  const args = [
    ETCD,
    "--name", "hw-test",
    "--data-dir", join(dataDir, "data"),
    "--listen-client-urls", `${scheme}://${host}:${port}`,
    "--advertise-client-urls", endpoint,
    "--listen-peer-urls", `http://127.0.0.1:${peerPort}`,
    "--initial-advertise-peer-urls", `http://127.0.0.1:${peerPort}`,
    "--initial-cluster", `hw-test=http://127.0.0.1:${peerPort}`,
    // Small and quick: no snapshots to speak of, one member.
    "--snapshot-count", "10000",
    ...(opts.maxRequestBytes ? ["--max-request-bytes", String(opts.maxRequestBytes)] : []),
    ...(opts.tls ? ["--cert-file", opts.tls.cert, "--key-file", opts.tls.key] : []),
    ...(opts.tls?.clientCertAuth ? ["--client-cert-auth", "--trusted-ca-file", opts.tls.ca] : []),
  ];
  let sub: Subprocess<"ignore", "pipe", "pipe"> | undefined;
  let log = "";
  const ctlTls = opts.tls ? ["--cacert", opts.tls.ca, "--cert", opts.tls.cert, "--key", opts.tls.key] : [];

  const start = async () => {
    if (sub && sub.exitCode === null && sub.signalCode === null) return;
    const p = Bun.spawn([...prefix, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    sub = p;
    // A test process that dies (a crash, a timeout) must not leave its etcd behind.
    const orphan = () => {
      if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    };
    process.once("exit", orphan);
    void p.exited.then(() => process.off("exit", orphan));
    let ready!: () => void;
    const readyP = new Promise<void>((r) => (ready = r));
    // Only this run's output counts: the log of an earlier run says "ready" already.
    const from = log.length;
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of p.stderr) {
        log += decoder.decode(chunk);
        if (log.indexOf("ready to serve client requests", from) >= 0) ready();
      }
    })();
    void (async () => {
      for await (const chunk of p.stdout) log += new TextDecoder().decode(chunk);
    })();
    let timer: Timer | undefined;
    const outcome = await Promise.race([
      readyP.then(() => "ready"),
      p.exited.then((code) => `exited with ${code}`),
      new Promise<string>((r) => (timer = setTimeout(() => r("not ready within 15 s"), 15_000))),
    ]);
    clearTimeout(timer);
    if (outcome !== "ready") {
      await stop();
      throw new Error(`etcd ${outcome}:\n${log.slice(-3000)}`);
    }
  };

  const stop = async () => {
    const p = sub;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGTERM");
    const timer = setTimeout(() => {
      if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    }, 3000);
    await p.exited;
    clearTimeout(timer);
  };

  const ctl = async (ctlArgs: string[], o: { stdin?: string; env?: Record<string, string> } = {}) => {
    const p = Bun.spawn([...prefix, ETCDCTL, "--endpoints", endpoint, "--command-timeout", "5s", ...ctlTls, ...ctlArgs], {
      stdin: o.stdin === undefined ? "ignore" : new TextEncoder().encode(o.stdin),
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ETCDCTL_API: "3", ...o.env },
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    if (code !== 0) throw new Error(`etcdctl ${ctlArgs.join(" ")} exited ${code}: ${err.trim()}`);
    return out;
  };

  await start();
  return {
    endpoint,
    dataDir,
    pid: () => (sub && sub.exitCode === null && sub.signalCode === null ? sub.pid : undefined),
    log: () => log,
    start,
    stop,
    kill: async () => {
      const p = sub;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      p.kill("SIGKILL");
      await p.exited;
    },
    destroy: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
    ctl,
  };
}
