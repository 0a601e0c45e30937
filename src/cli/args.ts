/**
 * Command-line parsing: `hostwall <command> [--flag value | --flag=value | --switch]…`.
 * Unknown flags are errors, so a typo never silently falls back to a default; so are a flag
 * given twice and a value flag followed by another flag instead of its value.
 */

import type { ListenAddress } from "../api/listen.ts";
import { nearest } from "../validate/check.ts";

export interface ParsedArgs {
  command?: string;
  flags: Record<string, string | true>;
  positional: string[];
}

export class UsageError extends Error {}

/** Flags of `hostwall explain` that describe the packet (src/cli/explain-args.ts); no other command takes them. */
export const PACKET_FLAGS: readonly string[] = ["in", "out", "src", "dst", "proto", "sport", "dport", "icmp-type", "icmp-code", "state", "dnat"];

/** Value flags of `hostwall trace` beyond the packet flags it shares with explain (src/cli/trace-args.ts). */
export const TRACE_FLAGS: readonly string[] = ["count", "duration", "iface", "direction"];

/** The datastore flags of run, plan and the datastore commands (src/cli/datastore-args.ts). */
export const DATASTORE_FLAGS: readonly string[] = ["datastore", "etcd-endpoints", "etcd-ca-cert-file", "etcd-cert-file", "etcd-key-file", "etcd-username", "etcd-password"];

/** Flags that take a value; everything else listed in `switches` is boolean. */
export const VALUE_FLAGS: ReadonlySet<string> = new Set(["config-dir", ...DATASTORE_FLAGS, "node", "listen", "socket", "api", "nft", "state-dir", "boot-policy", "kind", "confirm", "confirm-changes", "top", "drop-summaries", ...PACKET_FLAGS, ...TRACE_FLAGS]);
const SWITCHES = new Set(["once", "json", "help", "all-interfaces", "debug", "version", "strict", "allow-lockout", "live"]);

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { flags: {}, positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h") {
      out.flags.help = true;
      continue;
    }
    if (arg === "-V" || arg === "-v") {
      out.flags.version = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      if (out.command === undefined) out.command = arg;
      else out.positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq > 0 ? eq : undefined);
    if (name !== "help" && Object.hasOwn(out.flags, name) && (VALUE_FLAGS.has(name) || SWITCHES.has(name))) throw new UsageError(`--${name} is given twice`);
    if (VALUE_FLAGS.has(name)) {
      // `--src --dst X` is a forgotten value, not a source address "--dst"; --src=--x still works.
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || (eq < 0 && value.startsWith("--"))) throw new UsageError(`--${name} needs a value`);
      out.flags[name] = value;
    } else if (SWITCHES.has(name) && eq < 0) {
      out.flags[name] = true;
    } else {
      const near = nearest(name, [...VALUE_FLAGS, ...SWITCHES]);
      throw new UsageError(`unknown flag ${arg}${near ? `; did you mean --${near}?` : ""}`);
    }
  }
  return out;
}

/** A value flag that is `on` or `off` (`--drop-summaries=off`); undefined when not given. */
export function parseOnOff(value: string | true | undefined, flag: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === "on" || value === "off") return value === "on";
  throw new UsageError(`${flag} must be on or off; got "${value === true ? "" : value}"`);
}

/** `--listen` (and the forms `--api` shares): HOST:PORT, [V6]:PORT, unix:/PATH or off. */
export function parseListen(text: string, flag = "--listen"): ListenAddress {
  if (text === "off") return { kind: "off" };
  if (text.startsWith("unix:")) return { kind: "unix", path: absolutePath(text.slice(5), `${flag} unix:`) };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s/\[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new UsageError(`${flag} must be HOST:PORT, [V6]:PORT, unix:/PATH or off; got "${text}"`);
  return { kind: "tcp", hostname: m[1] ?? m[2]!, port };
}

function absolutePath(path: string, what: string): string {
  if (!path.startsWith("/")) throw new UsageError(`${what} needs an absolute path, got "${path}"`);
  return path;
}

/**
 * Where `hostwall run` serves the API. A TCP listener serves the read-only endpoints; the
 * control socket (a unix socket, mode 0600) serves everything, POST /reload included.
 *
 *   --listen HOST:PORT [--socket PATH|off]   read-only TCP, and the control socket (default on)
 *   --listen unix:/PATH                      that socket is the control socket; no TCP, no --socket
 *   --listen off [--socket PATH|off]         the control socket only (or, with off, no API)
 */
export interface ApiListeners {
  /** The --listen address; a unix one is the control socket. */
  listen: ListenAddress;
  /** The control socket served next to a TCP (or no) --listen; undefined: none. */
  socket?: string;
}

export function apiListeners(listen: string, socket: string | undefined, defaultSocket: string): ApiListeners {
  const l = parseListen(listen);
  if (l.kind === "unix") {
    if (socket !== undefined) throw new UsageError(`--listen ${listen} is the control socket already; give either --listen unix:/PATH or --socket, not both`);
    return { listen: l };
  }
  const s = socket ?? defaultSocket;
  if (s === "off") return { listen: l };
  return { listen: l, socket: absolutePath(s.startsWith("unix:") ? s.slice(5) : s, "--socket") };
}
