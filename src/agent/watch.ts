/**
 * [I/O] Watches the config dir. Events are only hints that something changed: editors write
 * temp files and rename, and inotify gives no coalescing (reference/bun.md §2). So every burst
 * of events becomes one reload after a quiet period (trailing debounce) or at the latest after
 * `maxWaitMs`, and the reload rescans the whole dir. A periodic tick covers missed events
 * (inotify queue overflow, a recursive watch that misses files behind symlinks, bun#43065):
 * every `resyncMs` it compares a cheap signature of the tree (path, inode, size, mtime of
 * every entry, symlinks followed; no file is read) and fires when it changed.
 */
import { readdirSync, statSync, watch, type FSWatcher } from "node:fs";
import { join } from "node:path";

/** How often the watched directory itself is checked (removed, re-created, replaced). */
const DIR_CHECK_MS = 1000;

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
  /** Period of the signature check (default 30 s; 0 turns it off). */
  resyncMs?: number;
}

/** Path, inode, size and mtime of every entry below `dir` (stat follows symlinks). */
export function treeSignature(dir: string): string {
  let names: string[];
  try {
    names = (readdirSync(dir, { recursive: true }) as string[]).sort();
  } catch (e) {
    return `unreadable: ${(e as NodeJS.ErrnoException).code ?? ""}`;
  }
  return names
    .map((name) => {
      try {
        const st = statSync(join(dir, name));
        return `${name}:${st.ino}:${st.size}:${st.mtimeMs}`;
      } catch {
        return `${name}:gone`;
      }
    })
    .join("\n");
}

export function watchDir(opts: WatchOptions): { close(): void } {
  const debounceMs = opts.debounceMs ?? 150;
  const maxWaitMs = opts.maxWaitMs ?? 2000;
  let timer: Timer | undefined;
  let firstEventAt: number | undefined;
  let watcher: FSWatcher | undefined;
  let rearm: Timer | undefined;
  let closed = false;

  let signature = "";
  const fire = () => {
    timer = undefined;
    firstEventAt = undefined;
    signature = treeSignature(opts.dir); // what the reload will see: the resync compares against it
    opts.onChange();
  };
  const hint = () => {
    const now = performance.now();
    firstEventAt ??= now;
    if (timer) clearTimeout(timer);
    const wait = Math.max(0, Math.min(debounceMs, firstEventAt + maxWaitMs - now));
    timer = setTimeout(fire, wait);
  };
  // The inode of the directory the watch is on: Bun's fs.watch reports nothing when the dir is
  // removed (or replaced), so a cheap stat every second notices and re-arms on the new one.
  let armedIno: number | undefined;
  const dirIno = (): number | undefined => {
    try {
      return statSync(opts.dir).ino;
    } catch {
      return undefined;
    }
  };
  const arm = () => {
    if (closed) return;
    try {
      armedIno = dirIno();
      watcher = watch(opts.dir, { recursive: true }, () => {
        // The dir itself gone: its inode may be reused at once by a re-created dir, so the
        // guard below must not compare against the old number.
        if (dirIno() === undefined) armedIno = undefined;
        hint();
      });
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
  signature = treeSignature(opts.dir);
  const guard = setInterval(() => {
    const ino = dirIno();
    if (ino === armedIno) return;
    // Removed, re-created or replaced: what the reload sees changed, and the watch is stale.
    watcher?.close();
    watcher = undefined;
    if (rearm) clearTimeout(rearm);
    if (ino === undefined) armedIno = undefined;
    else arm();
    hint();
  }, DIR_CHECK_MS);
  const resyncMs = opts.resyncMs ?? 30_000;
  const resync =
    resyncMs > 0
      ? setInterval(() => {
          if (!timer && treeSignature(opts.dir) !== signature) fire();
        }, resyncMs)
      : undefined;
  return {
    close() {
      closed = true;
      watcher?.close();
      if (timer) clearTimeout(timer);
      if (rearm) clearTimeout(rearm);
      if (resync) clearInterval(resync);
      clearInterval(guard);
    },
  };
}
