/**
 * [I/O] A `hostwall trace` killed with SIGKILL cannot remove its trace table (src/trace/table.ts);
 * the agent does, at its first attempt and when its drift check sees the table. A table whose
 * holder (the pid in its comment) is alive belongs to a running trace and is left alone.
 * Never touches any other table: the script names the two trace tables only.
 */
import type { NftRunner } from "../nft/runner.ts";
import { holderPid, removeScript, TRACE_TABLE } from "../trace/table.ts";
import { pidAlive } from "../trace/holder.ts";
import type { Logger } from "./log.ts";

/** Removes a stale trace table; true when one was removed. */
export async function removeStaleTrace(runner: NftRunner, logger: Logger, alive: (pid: number) => boolean = pidAlive): Promise<boolean> {
  const listed = await runner.tables?.();
  if (!listed?.ok) return false;
  const found = [`netdev ${TRACE_TABLE}`, `inet ${TRACE_TABLE}`].filter((k) => listed.tables.has(k));
  if (found.length === 0) return false;
  const holder = found.map((k) => holderPid(listed.tables.get(k))).find((p) => p !== undefined);
  if (holder !== undefined && holder !== process.pid && alive(holder)) return false;
  const r = await runner.apply(removeScript());
  if (!r.ok) {
    logger.log("warning", `cannot remove the stale trace table ${found.join(", ")}: ${r.stderr.trim()}`);
    return false;
  }
  logger.log("notice", `removed the stale trace table (${found.join(", ")}${holder ? `, its trace pid ${holder} is gone` : ""})`);
  return true;
}
