/**
 * `hostwall run`: wires the agent to the real world (files, nft, interfaces, signals, the
 * HTTP server) and runs until SIGTERM/SIGINT. Rules stay in force when it stops.
 */
import { existsSync, unlinkSync } from "node:fs";
import { connect } from "node:net";
import { readConfigDir } from "../config/read-dir.ts";
import { spawnRunner } from "../nft/runner.ts";
import { Agent } from "../agent/agent.ts";
import { createApi } from "../agent/api.ts";
import { stderrLogger } from "../agent/log.ts";
import { listInterfaces } from "../agent/system.ts";
import { watchDir } from "../agent/watch.ts";
import { VERSION } from "../version.ts";
import type { ListenAddress } from "./args.ts";
import type { Io } from "./commands.ts";

export interface RunOptions {
  configDir: string;
  node: string;
  once: boolean;
  listen: ListenAddress;
  nftPath: string;
  debug: boolean;
}

/** How often the interface list is re-read (a read of /proc/net/dev, no spawn). */
const INTERFACE_CHECK_MS = 1000;

export async function runAgent(opts: RunOptions, io: Io): Promise<number> {
  const logger = stderrLogger({ debug: opts.debug });
  const agent = new Agent({
    node: opts.node,
    configDir: opts.configDir,
    readConfig: () => readConfigDir(opts.configDir),
    listInterfaces,
    runner: spawnRunner(opts.nftPath),
    now: () => new Date(),
    clock: () => performance.now(),
    logger,
  });
  const first = await agent.reload("startup");
  if (opts.once) return first.ok ? 0 : first.diagnostics.some((d) => d.code === "NFT_REJECTED") ? 2 : 1;

  const app = createApi({ agent, version: VERSION, node: opts.node, configDir: opts.configDir });
  let server: ReturnType<typeof Bun.serve> | undefined;
  try {
    server = await serve(opts.listen, app.fetch);
  } catch (e) {
    io.err(`hostwall: cannot listen on ${describeListen(opts.listen)}: ${(e as Error).message}\n`);
    return 1;
  }
  if (server) logger.log("info", `status API on ${describeListen(opts.listen)}`);
  const watcher = watchDir({
    dir: opts.configDir,
    onChange: () => void agent.reload("config changed"),
    onError: (m) => logger.log("warning", m),
  });
  const tick = setInterval(() => {
    if (agent.interfacesChanged()) void agent.reload("interfaces changed");
  }, INTERFACE_CHECK_MS);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) {
        logger.log("warning", `${signal} again: exiting now`);
        resolve(130);
        return;
      }
      stopping = true;
      logger.log("info", `${signal}: stopping; the ruleset of generation ${agent.generation} stays in force`);
      watcher.close();
      clearInterval(tick);
      await server?.stop();
      resolve(0);
    };
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGINT", () => void stop("SIGINT"));
    process.on("SIGHUP", () => {
      logger.log("info", "SIGHUP: reloading");
      void agent.reload("SIGHUP", { force: true });
    });
  });
}

function describeListen(l: ListenAddress): string {
  return l.kind === "tcp" ? `http://${l.hostname.includes(":") ? `[${l.hostname}]` : l.hostname}:${l.port}` : l.kind === "unix" ? `unix:${l.path}` : "off";
}

async function serve(listen: ListenAddress, fetch: (req: Request) => Response | Promise<Response>) {
  if (listen.kind === "off") return undefined;
  if (listen.kind === "tcp") return Bun.serve({ hostname: listen.hostname, port: listen.port, fetch });
  if (existsSync(listen.path)) {
    if (await socketAnswers(listen.path)) throw new Error("another process is listening on this socket");
    unlinkSync(listen.path); // stale socket from a crashed run
  }
  const old = process.umask(0o177);
  try {
    return Bun.serve({ unix: listen.path, fetch });
  } finally {
    process.umask(old);
  }
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (v: boolean) => {
      sock.destroy();
      resolve(v);
    };
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
    setTimeout(() => done(false), 1000);
  });
}
