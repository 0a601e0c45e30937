/**
 * What hostwall refuses to trust from the process it was started in (issue #18, finding 7).
 *
 * hostwall is a `bun build --compile` executable, and the Bun runtime inside it reads some
 * environment variables before a line of hostwall's code runs (Bun 1.4.5, measured against
 * dist/hostwall; sources in oven-sh/bun):
 *
 * - `BUN_OPTIONS` is spliced into the runtime's own argv (`src/bun_core/argv.rs`,
 *   `argv_view_init`) and parsed as bun flags when a compiled executable boots
 *   (`boot_standalone` in the CLI's `Command::start`): `--preload`/`--require`/`--import` run
 *   any file, `--config` loads a bunfig (whose `preload` runs too), `--cpu-prof`/`--heap-prof`
 *   write files wherever `--cpu-prof-dir`/`--heap-prof-dir` say.
 * - `BUN_BE_BUN` (any value but "", 0, false, no, off) makes the executable skip its embedded
 *   program and act as the bun CLI (`hostwall -e CODE` runs CODE). It is checked before the
 *   program is even loaded, so hostwall cannot see it, let alone refuse it: only the
 *   environment can keep it out (the systemd unit unsets it).
 * - `BUN_INSPECT`, `BUN_INSPECT_CONNECT_TO`, `BUN_INSPECT_PRELOAD`, `BUN_INSPECT_NOTIFY`: the
 *   debugger; with `BUN_INSPECT` the process listens for one (whoever connects runs code as root).
 * - `BUN_JSC_<option>`: JavaScriptCore options, set when the VM is created (`BUN_JSC_dumpOptions=1`
 *   shows them applied; `BUN_JSC_configFile` reads more from a file).
 * - `BUN_BYTECODE_ORDER_OUT`, `BUN_BYTECODE_DIGEST_OUT` (…`_ORDER_NAMES_OUT`): a file written,
 *   as root, at whatever path they name when the process exits.
 * - `BUN_CRASH_REPORT_URL`: the address the runtime sends its crash reports to.
 * - `NODE_OPTIONS` is not read by 1.4.5's executables, but newer Bun sources parse it for
 *   `--require`/`--import` (`src/runtime/cli/node_options.rs`), so it is refused ahead of time.
 * - `LD_PRELOAD`, `LD_AUDIT`, `LD_LIBRARY_PATH`: the dynamic loader's, before Bun itself.
 * No `Bun.build` compile option turns any of these off (`compile.execArgv` only adds flags;
 * `autoloadDotenv`/`autoloadBunfig`, already off, only cover files in the working directory).
 *
 * Code that ran before hostwall cannot be undone by hostwall. What it can do is refuse to work
 * under such a runtime: with any of these set, every command exits 2 at once with one line
 * naming them, before reading config or spawning nft, and it exits through libc's `_exit`, so
 * the runtime's exit hooks (the files of `BUN_BYTECODE_*`, `--cpu-prof`) do not run either.
 */
import { dlopen, FFIType } from "bun:ffi";
import { UsageError, type ParsedArgs } from "./args.ts";

/** One environment variable (or a prefix of names) that changes the runtime under hostwall. */
export interface RuntimeHook {
  /** The variable's name, or the prefix every such name starts with. */
  name: string;
  /** True when `name` is a prefix. */
  prefix: boolean;
}

/** Every variable refused, in the order of the list above. */
export const RUNTIME_HOOKS: readonly RuntimeHook[] = [
  { name: "BUN_OPTIONS", prefix: false },
  { name: "BUN_BE_BUN", prefix: false },
  { name: "BUN_INSPECT", prefix: true },
  { name: "BUN_JSC_", prefix: true },
  { name: "BUN_BYTECODE_", prefix: true },
  { name: "BUN_CRASH_REPORT_URL", prefix: false },
  { name: "NODE_OPTIONS", prefix: false },
  { name: "LD_PRELOAD", prefix: false },
  { name: "LD_AUDIT", prefix: false },
  { name: "LD_LIBRARY_PATH", prefix: false },
];

/** The hook that `variable` is, if any. */
export function hookOf(variable: string): RuntimeHook | undefined {
  return RUNTIME_HOOKS.find((h) => (h.prefix ? variable.startsWith(h.name) : variable === h.name));
}

/**
 * The names of the runtime hooks set in `env`, sorted. Set means present with any value, the
 * empty string included: the rule is "unset them", which a reader can check without knowing
 * how Bun parses each value.
 */
export function runtimeHooksIn(env: Record<string, string | undefined>): string[] {
  return Object.keys(env)
    .filter((k) => env[k] !== undefined && hookOf(k) !== undefined)
    .sort();
}

/** The one stderr line of the refusal. */
export function refusal(names: readonly string[]): string {
  const them = names.length === 1 ? "it" : "them";
  return `hostwall: refusing to run with ${names.join(", ")} set: such variables make the Bun runtime inside hostwall run other code, attach a debugger, change its JavaScript engine or write files as root; unset ${them}\n`;
}

/**
 * Ends the process with `code` without running the runtime's exit hooks (libc `_exit`), so a
 * tampered runtime gets no file written at exit. Falls back to process.exit where libc.so.6
 * cannot be loaded (a musl build).
 */
export function exitNow(code: number): never {
  try {
    dlopen("libc.so.6", { _exit: { args: [FFIType.i32], returns: FFIType.void } }).symbols._exit(code);
  } catch {
    // No glibc: the ordinary exit below.
  }
  process.exit(code);
}

/**
 * Tool paths given on the command line must be absolute: a relative `--nft nft` would be
 * looked up in PATH or the working directory, whatever they hold when root runs it.
 */
export function checkToolFlags(args: ParsedArgs): void {
  const nft = args.flags.nft;
  if (typeof nft === "string" && !nft.startsWith("/")) throw new UsageError(`--nft needs an absolute path (the default is /usr/sbin/nft), got "${nft}"`);
}
