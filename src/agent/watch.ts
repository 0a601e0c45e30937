/**
 * [I/O] Watches the config dir. Events are only hints that something changed: editors write
 * temp files and rename, and inotify gives no coalescing (reference/bun.md §2). So every burst
 * of events becomes one reload after a quiet period (trailing debounce) or at the latest after
 * `maxWaitMs`, and the reload rescans the whole dir. A periodic tick covers missed events
 * (inotify queue overflow, a recursive watch that misses files behind symlinks, bun#43065):
 * every `resyncMs` it compares a cheap signature of the tree (path, inode, size, mtime of
 * every entry, symlinks followed; no file is read) and fires when it changed.
 *
 * A config file renamed into place (what editors, `mv`, sed -i and config managers do) is
 * complete the moment it appears, so it fires at once, not after the debounce (issue #13
 * item 6). inotify's IN_CREATE and IN_MOVED_TO both reach us as "rename", so "renamed in" is
 * told apart from "created and being written" by what follows within RENAME_SETTLE_MS: a
 * created file gets "change" events for its writes (delivered within ~0.1 ms of the create,
 * measured), an empty one or one whose size moved meanwhile is not complete, and a name that
 * no longer exists (vim moves the original away before writing the new one) is the middle of a
 * save. Those take the debounce, as in-place writes do. Under heavy load a write's event can
 * come after the settle time; the size check narrows that, and the write's own event still
 * brings a debounced reload of the finished file.
 */
import { readdirSync, statSync, watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { isConfigFileName } from "../source/read-dir.ts";

/** How often the watched directory itself is checked (removed, re-created, replaced). */
const DIR_CHECK_MS = 1000;
/** How long a config file's "rename" waits for a "change" of the same name (a create being written). */
export const RENAME_SETTLE_MS = 2;

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

/**
 * True for an event name that is a config file the reader reads (no hidden or editor-temp
 * segment), as a relative path under the watched dir.
 */
export function isConfigPath(rel: string): boolean {
  const parts = rel.split("/");
  return parts.every((p) => p !== "" && !p.startsWith(".")) && isConfigFileName(parts[parts.length - 1]!);
}

/** The size of a regular file now (stat follows symlinks, as the reader does); -1 for anything else. */
function fileSize(path: string): number {
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : -1;
  } catch {
    return -1;
  }
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
  // Config files renamed in, with their size at the event, waiting RENAME_SETTLE_MS for a
  // "change" that would make them a write (or a size that moved: a write whose event is late).
  const renamed = new Map<string, number>();
  let settle: Timer | undefined;
  // A config file was written in place since the last reload: its debounce must still run.
  let writtenInPlace = false;
  const fire = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    firstEventAt = undefined;
    writtenInPlace = false;
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
  const settled = () => {
    settle = undefined;
    const complete = [...renamed].some(([rel, size]) => size > 0 && fileSize(join(opts.dir, rel)) === size);
    renamed.clear();
    if (!complete) return; // the debounce the event started runs on
    const inProgress = writtenInPlace;
    fire(); // also ends the debounce the events started
    // Another file is being written in place: reload again after that write's debounce.
    if (inProgress) hint();
  };
  const event = (type: string, name: string | null) => {
    hint();
    const rel = name === null ? undefined : String(name);
    if (rel === undefined || !isConfigPath(rel)) return;
    if (type === "rename") {
      renamed.set(rel, fileSize(join(opts.dir, rel)));
      settle ??= setTimeout(settled, RENAME_SETTLE_MS);
    } else {
      renamed.delete(rel); // created and being written: the debounce decides
      writtenInPlace = true;
    }
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
      watcher = watch(opts.dir, { recursive: true }, (type, name) => {
        // The dir itself gone: its inode may be reused at once by a re-created dir, so the
        // guard below must not compare against the old number.
        if (dirIno() === undefined) armedIno = undefined;
        event(type, name as string | null);
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
      if (settle) clearTimeout(settle);
      if (rearm) clearTimeout(rearm);
      if (resync) clearInterval(resync);
      clearInterval(guard);
    },
  };
}
