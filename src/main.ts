/**
 * hostwall's entry point: the only place that ends the process. Every command writes through
 * src/output.ts, and all of it is flushed before the process exits, through pipes, files and
 * terminals alike.
 *
 * First of all it refuses a tampered runtime (src/cli/environment.ts): with BUN_OPTIONS and the
 * like set, every command exits 2 before reading config or spawning anything.
 */
import { writeSync } from "node:fs";
import { checkToolFlags, exitNow, refusal, runtimeHooksIn } from "./cli/environment.ts";
import { parseArgs, UsageError } from "./cli/args.ts";
import { runCommand } from "./cli/commands.ts";
import { flushOutput, writeErr, writeOut } from "./output.ts";

const hooks = runtimeHooksIn(process.env);
if (hooks.length > 0) {
  // Synchronous, because exitNow skips the runtime's exit path (and its stream flushing).
  writeSync(2, refusal(hooks));
  exitNow(2);
}

async function main(): Promise<number> {
  const io = {
    out: writeOut,
    err: writeErr,
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
await flushOutput();
process.exit(code);
