/**
 * [I/O] Watches the config dir. Events are only hints that something changed: editors write
 * temp files and rename, and inotify gives no coalescing (reference/bun.md §2). So every burst
 * of events becomes one reload after a quiet period (trailing debounce) or at the latest after
 * `maxWaitMs`, and the reload rescans the whole dir. A periodic tick covers missed events.
 */
import { watch, type FSWatcher } from "node:fs";

export interface WatchOptions {
  /** Directory to watch, recursively. */
  dir: string;
  /** Quiet time before a reload. */
  debounceMs?: number;
  /** Upper bound on the delay while events keep coming. */
  maxWaitMs?: number;
  /** Called once per burst. */
  onChange(): void;
  /** Called when the watch fails (dir removed); the watcher re-arms itself. */
  onError?(message: string): void;
}

export function watchDir(opts: WatchOptions): { close(): void } {
  const debounceMs = opts.debounceMs ?? 150;
  const maxWaitMs = opts.maxWaitMs ?? 2000;
  let timer: Timer | undefined;
  let firstEventAt: number | undefined;
  let watcher: FSWatcher | undefined;
  let rearm: Timer | undefined;
  let closed = false;

  const fire = () => {
    timer = undefined;
    firstEventAt = undefined;
    opts.onChange();
  };
  const hint = () => {
    const now = performance.now();
    firstEventAt ??= now;
    if (timer) clearTimeout(timer);
    const wait = Math.max(0, Math.min(debounceMs, firstEventAt + maxWaitMs - now));
    timer = setTimeout(fire, wait);
  };
  const arm = () => {
    if (closed) return;
    try {
      watcher = watch(opts.dir, { recursive: true }, hint);
      watcher.on("error", (e) => {
        opts.onError?.(`watch failed: ${e.message}; retrying`);
        watcher?.close();
        rearm = setTimeout(() => {
          arm();
          hint();
        }, 1000);
      });
    } catch (e) {
      opts.onError?.(`cannot watch ${opts.dir}: ${(e as Error).message}; retrying`);
      rearm = setTimeout(arm, 1000);
    }
  };
  arm();
  return {
    close() {
      closed = true;
      watcher?.close();
      if (timer) clearTimeout(timer);
      if (rearm) clearTimeout(rearm);
    },
  };
}
