/**
 * [I/O] One agent per network namespace (DESIGN.md §3). Two agents on one ruleset undo each
 * other's work: each sees the other's apply as drift and re-applies, for ever. `run` takes an
 * exclusive flock(2) on `<run dir>/agent-netns-<inode>.lock` before it applies anything and
 * holds it until it exits (the kernel drops the lock with the process, even on SIGKILL, so a
 * crashed agent never leaves a stale lock). The file name carries the inode of the network
 * namespace (/proc/self/ns/net): agents in different namespaces are independent.
 *
 * The run dir must be a real directory owned by root (or us) that nobody else can write, as
 * for the control socket: otherwise another user could hold the lock, or swap the file. The
 * holder writes its pid into the file, so the second agent can say who holds it.
 */
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ensurePrivateDir } from "./private-dir.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;
/** Linux x86-64 and arm64: children (nft, ip monitor) must not inherit the lock. */
const O_CLOEXEC = 0o2000000;

let libc: { flock(fd: number, op: number): number } | undefined;

function flock(fd: number, op: number): number {
  libc ??= dlopen("libc.so.6", { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } }).symbols;
  return libc.flock(fd, op);
}

/** The inode of this process's network namespace, the key of the lock. */
export function netnsInode(): number {
  return statSync("/proc/self/ns/net").ino;
}

export interface AgentLock {
  /** The lock file. */
  path: string;
  /** Releases the lock (also released when the process exits). */
  release(): void;
}

/**
 * Takes the lock or throws an Error whose message says why (another agent's pid, or an unsafe
 * directory). `dir` is created 0755 when missing.
 */
export function lockAgent(dir: string): AgentLock {
  const uid = process.geteuid?.() ?? 0;
  ensurePrivateDir(dir, { what: "the run dir", mode: 0o755 });
  const path = join(dir, `agent-netns-${netnsInode()}.lock`);
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | O_CLOEXEC, 0o600);
  const fst = fstatSync(fd);
  if (!fst.isFile() || (fst.uid !== 0 && fst.uid !== uid)) {
    closeSync(fd);
    throw new Error(`${path} is not a regular file of root's`);
  }
  if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    closeSync(fd);
    const holder = readHolder(path);
    throw new Error(`another hostwall agent${holder ? ` (pid ${holder})` : ""} runs in this network namespace (it holds ${path}); stop it first, two agents would undo each other's applies`);
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  return { path, release: () => closeSync(fd) };
}

function readHolder(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, "utf8").trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
