/**
 * hostwall's entry point: the only place that calls process.exit. Output written just before
 * exiting is flushed first (Bun can drop a large stdout write followed by exit()).
 */
import { parseArgs, UsageError } from "./cli/args.ts";
import { runCommand } from "./cli/commands.ts";

async function main(): Promise<number> {
  const io = {
    out: (t: string) => void process.stdout.write(t),
    err: (t: string) => void process.stderr.write(t),
    env: process.env,
  };
  try {
    return await runCommand(parseArgs(process.argv.slice(2)), io);
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
