/** [I/O] Whether the trace that holds the trace table still runs (its pid is in the table's comment). */

/** Whether a process with this pid exists (EPERM: it does, someone else's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
