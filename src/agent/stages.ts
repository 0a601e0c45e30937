/**
 * Where an attempt's time went, for its log line (agent.ts): an operator whose one-address edit
 * of a million-entry deny list took a second sees which stage took it, without a profiler.
 * `(read 2.1, parse+validate 18.4, resolve 3, lint 0.1, compile 4.2, hash 0.3, snapshot 0.2,
 * checks 0.5, delta 0.4, send 3.9 ms; after: describe 0.1, observe 2.8, save 41.7 ms)`: the
 * first list adds up to the attempt's time to enforcement (checks: the lockout check and, at
 * start, adopting the kernel's tables; render: the whole script, only for a full replace), the
 * second is what runs once the kernel has the ruleset (describing the change, listing the
 * tables for the drift check, the last good record; `save queued` when that record is written
 * in the background, its writing not counted).
 */

/** Stage name and milliseconds, in order; undefined: the stage did not run (render for a delta). */
export type Stages = [string, number | undefined][];

const ms = (n: number) => String(Math.round(n * 10) / 10);

function list(stages: Stages): string {
  return stages.flatMap(([name, t]) => (t === undefined ? [] : [`${name} ${ms(t)}`])).join(", ");
}

/** `(stage ms, …; after: stage ms, …)`. */
export function formatStages(stages: Stages, after: Stages = []): string {
  const tail = list(after);
  return `(${list(stages)} ms${tail ? `; after: ${tail} ms` : ""})`;
}
