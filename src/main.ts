/**
 * hostwall's entry point: the only place that ends the process. Output written just before
 * exiting is flushed first (Bun can drop a large stdout write followed by exit()).
 *
 * First of all it refuses a tampered runtime (src/cli/environment.ts): with BUN_OPTIONS and the
 * like set, every command exits 2 before reading config or spawning anything.
 */
import { writeSync } from "node:fs";
import { checkToolFlags, exitNow, refusal, runtimeHooksIn } from "./cli/environment.ts";
import { parseArgs, UsageError } from "./cli/args.ts";
import { runCommand } from "./cli/commands.ts";

const hooks = runtimeHooksIn(process.env);
if (hooks.length > 0) {
  // Synchronous, because exitNow skips the runtime's exit path (and its stream flushing).
  writeSync(2, refusal(hooks));
  exitNow(2);
}

async function main(): Promise<number> {
  const io = {
    out: (t: string) => void process.stdout.write(t),
    err: (t: string) => void process.stderr.write(t),
    env: process.env,
  };
  try {
    const args = parseArgs(process.argv.slice(2));
    checkToolFlags(args);
    return await runCommand(args, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`hostwall: ${e.message}\n`);
      return 2;
    }
    io.err(`hostwall: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return 70;
  }
}

const code = await main();
await new Promise<void>((resolve) => (process.stdout.writableNeedDrain ? process.stdout.once("drain", resolve) : resolve()));
process.exit(code);
