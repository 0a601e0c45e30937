/**
 * [I/O] sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (reference/bun.md §11).
 *
 * Bun has no unix datagram sockets (Bun.connect is stream-only, node:dgram is IP-only), so
 * this calls libc through bun:ffi: socket(AF_UNIX, SOCK_DGRAM|SOCK_CLOEXEC), sendto, close.
 * `@name` is an abstract address (leading NUL, no trailing NUL). Without NOTIFY_SOCKET (not
 * started by systemd with Type=notify) it does nothing; libc is loaded on first use only.
 */
import { dlopen, FFIType } from "bun:ffi";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(sockaddr_un.sun_path) on Linux. */
const SUN_PATH_MAX = 108;

type Libc = ReturnType<typeof openLibc>;
let libc: Libc | undefined;

function openLibc() {
  return dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
  }).symbols;
}

/** sockaddr_un for a path or an `@abstract` name, and its length; undefined if too long. */
export function sockaddrUn(target: string): { addr: Uint8Array; len: number } | undefined {
  const abstract = target.startsWith("@");
  const name = new TextEncoder().encode(abstract ? target.slice(1) : target);
  const pathBytes = abstract ? 1 + name.length : name.length + 1;
  if (pathBytes > SUN_PATH_MAX) return undefined;
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, abstract ? 3 : 2);
  return { addr, len: 2 + pathBytes };
}

/**
 * Sends `message` (e.g. "READY=1\nSTATUS=…") to the service manager. Returns true if it was
 * sent, false if there is no NOTIFY_SOCKET or sending failed (never throws: a missing notify
 * socket must not stop the firewall).
 */
export function sdNotify(message: string, env: Record<string, string | undefined> = process.env): boolean {
  const target = env.NOTIFY_SOCKET;
  if (!target || (!target.startsWith("/") && !target.startsWith("@"))) return false;
  const sa = sockaddrUn(target);
  if (!sa) return false;
  try {
    libc ??= openLibc();
    const fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    try {
      const body = new TextEncoder().encode(message);
      return Number(libc.sendto(fd, body, body.length, MSG_NOSIGNAL, sa.addr, sa.len)) === body.length;
    } finally {
      libc.close(fd);
    }
  } catch {
    return false;
  }
}
