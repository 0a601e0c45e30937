/**
 * [I/O] stdout and stderr as ordered queues that can be awaited, so output is always whole.
 *
 * `process.stdout.write` to a pipe is asynchronous in Bun, and `process.exit` drops whatever
 * is still queued: `hostwall compile | nft -c -f -` used to see the script cut at 64 KiB or
 * 128 KiB. Every write goes through `Bun.write` in order, and `flushOutput()` (awaited by
 * src/main.ts before it exits) resolves when all of it has reached the file descriptor. A
 * reader that went away (EPIPE, `| head`) ends writing to that stream quietly.
 */
type Stream = { sink: typeof Bun.stdout; pending: Promise<unknown>; closed: boolean };

const streams = { out: { sink: Bun.stdout, pending: Promise.resolve(), closed: false } as Stream, err: { sink: Bun.stderr, pending: Promise.resolve(), closed: false } as Stream };

function enqueue(s: Stream, text: string): void {
  if (s.closed || text === "") return;
  s.pending = s.pending.then(() =>
    s.closed
      ? undefined
      : Bun.write(s.sink, text).catch(() => {
          s.closed = true;
        }),
  );
}

/** Writes to stdout, after everything written before. */
export const writeOut = (text: string): void => enqueue(streams.out, text);
/** Writes to stderr, after everything written before. */
export const writeErr = (text: string): void => enqueue(streams.err, text);

/** Resolves when everything written so far is out. */
export async function flushOutput(): Promise<void> {
  await Promise.all([streams.out.pending, streams.err.pending]);
}
