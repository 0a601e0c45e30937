/**
 * [I/O] The system's libnftables (`libnftables.so.1`, Debian's libnftables1, a dependency of
 * the nftables package) loaded with bun:ffi: one long-lived nft context, so a transaction costs
 * ~0.2 ms instead of the ~16 ms a fresh `nft` process spends, mostly in close() of its netlink
 * socket (reference/nftables.md §6).
 *
 * A context acts in the network namespace of the thread that uses it; the agent runs in the
 * namespace it serves (one agent per namespace, lock.ts), so one context per process is one
 * per namespace. It is not thread-safe: only the main thread calls it, one command at a time
 * (each call below is synchronous).
 *
 * Scripts are handed over as a file (a memfd, opened by nft through /proc/self/fd/N) rather
 * than with nft_run_cmd_from_buffer: from a buffer nft 1.0.6 reports errors without their
 * line number (and quotes the buffer's first line), and the agent maps error lines back to
 * YAML rules (runner.ts mapNftErrors). From a file the messages are the CLI's, line and all.
 */
import { closeSync, writeSync } from "node:fs";
import { CString, dlopen, FFIType, ptr, type Pointer } from "bun:ffi";

/** nft_ctx_output_set_flags bits (libnftables.h). */
export const OUTPUT_HANDLE = 1 << 3;
export const OUTPUT_JSON = 1 << 4;
export const OUTPUT_TERSE = 1 << 11;

const MFD_CLOEXEC = 1;

export interface NftCommandResult {
  /** nft returned 0. */
  ok: boolean;
  /** What nft printed (listings). */
  stdout: string;
  /** nft's error text, as the CLI would print it. */
  stderr: string;
}

/** One long-lived context. */
export interface NftContext {
  /** Runs a script (nft -f) as one transaction; `check` is nft -c (dry run: the kernel validates, nothing changes). */
  runScript(script: string, opts?: { check?: boolean }): NftCommandResult;
  /** Runs one command line (a listing) with output flags (OUTPUT_*), e.g. `list ruleset`. */
  runCommand(command: string, flags: number): NftCommandResult;
  /** Frees the context (the agent keeps it for its lifetime; tests free theirs). */
  close(): void;
}

const SYMBOLS = {
  nft_ctx_new: { args: [FFIType.u32], returns: FFIType.ptr },
  nft_ctx_free: { args: [FFIType.ptr], returns: FFIType.void },
  nft_ctx_buffer_output: { args: [FFIType.ptr], returns: FFIType.i32 },
  nft_ctx_buffer_error: { args: [FFIType.ptr], returns: FFIType.i32 },
  nft_ctx_get_output_buffer: { args: [FFIType.ptr], returns: FFIType.ptr },
  nft_ctx_get_error_buffer: { args: [FFIType.ptr], returns: FFIType.ptr },
  nft_ctx_output_set_flags: { args: [FFIType.ptr, FFIType.u32], returns: FFIType.void },
  nft_ctx_set_dry_run: { args: [FFIType.ptr, FFIType.bool], returns: FFIType.void },
  nft_run_cmd_from_buffer: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  nft_run_cmd_from_filename: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
} as const;

/** A NUL-terminated copy of `text` (bun:ffi passes pointers, not JS strings); kept alive by the caller for the call. */
const cString = (text: string) => Buffer.from(`${text}\0`);

/**
 * Loads the library by soname (the dynamic loader's search path only: a relative or
 * environment-chosen path would let whoever sets it run code as root) and creates a context.
 * Throws with the loader's message when the library is missing or its symbols do not match.
 */
export function openNftContext(): NftContext {
  const lib = dlopen("libnftables.so.1", SYMBOLS);
  const libc = dlopen("libc.so.6", { memfd_create: { args: [FFIType.ptr, FFIType.u32], returns: FFIType.i32 } });
  const s = lib.symbols;
  const text = (p: Pointer | null) => (p ? new CString(p).toString() : "");
  const newRaw = (): Pointer => {
    const ctx = s.nft_ctx_new(0) as Pointer | null;
    if (!ctx) throw new Error("nft_ctx_new failed");
    // Output and errors go to buffers read after each command (not to the agent's stdout/stderr).
    if (s.nft_ctx_buffer_output(ctx) !== 0 || s.nft_ctx_buffer_error(ctx) !== 0) {
      s.nft_ctx_free(ctx);
      throw new Error("cannot buffer libnftables output");
    }
    return ctx;
  };
  /**
   * nft keeps a cache of the ruleset in its context and refreshes it only when the kernel's
   * generation changes. A dry run or a refused transaction leaves the generation as it was but
   * the cache edited as if the script had been applied: the next command would see elements
   * that are not there ("interval overlaps", "element does not exist"; found by the engine's
   * kernel test). So dry runs use a throwaway context (~1 ms), and a failed command retires
   * the long-lived one.
   */
  let main: Pointer | undefined = newRaw();
  let open = true;
  const retire = () => {
    if (main) s.nft_ctx_free(main);
    main = undefined;
  };
  // Reading a buffer also resets it (libnftables rewinds it), so each result holds only its own command's text.
  const run = (ctx: Pointer, call: () => number): NftCommandResult => {
    const rc = call();
    return { ok: rc === 0, stdout: text(s.nft_ctx_get_output_buffer(ctx) as Pointer | null), stderr: text(s.nft_ctx_get_error_buffer(ctx) as Pointer | null) };
  };
  const current = (): Pointer => {
    if (!open) throw new Error("the libnftables context is closed");
    return (main ??= newRaw());
  };
  return {
    runScript(script, opts) {
      const check = opts?.check === true;
      const ctx = check ? (current(), newRaw()) : current();
      try {
        if (script.includes("\0")) return { ok: false, stdout: "", stderr: "Error: the script contains a NUL byte\n" };
        const name = cString("hostwall-nft");
        const fd = libc.symbols.memfd_create(ptr(name), MFD_CLOEXEC);
        if (fd < 0) return { ok: false, stdout: "", stderr: "Error: memfd_create failed\n" };
        try {
          const bytes = Buffer.from(script);
          for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
          const path = cString(`/proc/self/fd/${fd}`);
          s.nft_ctx_set_dry_run(ctx, check);
          const result = run(ctx, () => s.nft_run_cmd_from_filename(ctx, ptr(path)));
          if (!result.ok && !check) retire();
          return result;
        } finally {
          closeSync(fd);
        }
      } finally {
        if (check) s.nft_ctx_free(ctx);
      }
    },
    runCommand(command, flags) {
      const ctx = current();
      if (command.includes("\0")) return { ok: false, stdout: "", stderr: "Error: the command contains a NUL byte\n" };
      const buf = cString(command);
      s.nft_ctx_output_set_flags(ctx, flags);
      try {
        const result = run(ctx, () => s.nft_run_cmd_from_buffer(ctx, ptr(buf)));
        if (!result.ok) retire();
        return result;
      } finally {
        if (main === ctx) s.nft_ctx_output_set_flags(ctx, 0);
      }
    },
    close() {
      if (!open) return;
      open = false;
      retire();
      lib.close();
      libc.close();
    },
  };
}
