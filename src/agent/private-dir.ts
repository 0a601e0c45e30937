/**
 * [I/O] The agent's own directories (the control socket's, the lock's, the state dir): whoever
 * can write one can replace what the agent creates or reads there (a socket swapped for a
 * symlink, a lock held by someone else, a last good ruleset of their choosing). So each must
 * be a real directory (lstat: a symlink is refused, never followed), owned by root or the
 * agent's uid, and writable by nobody else. Missing, it is created with the given mode.
 */
import { lstatSync, mkdirSync, type Stats } from "node:fs";

export interface PrivateDir {
  /** How messages name it: "the socket directory", "the state dir". */
  what: string;
  /** Mode for a directory created here. */
  mode: number;
  /** What to do about a refused one, appended to the error. */
  fix?: string;
}

/** Creates the directory (one level) if missing, checks it, and returns its lstat; throws a clear Error otherwise. */
export function ensurePrivateDir(dir: string, opts: PrivateDir): Stats {
  let st = lstatOrUndefined(dir);
  if (!st) {
    try {
      mkdirSync(dir, { mode: opts.mode }); // one level: the directory above must exist
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new Error(`cannot create ${opts.what} ${dir}: ${(e as Error).message}`);
    }
    st = lstatSync(dir);
  }
  const problem = untrusted(st, "directory");
  if (problem) throw new Error(`${opts.what} ${dir} ${problem}${opts.fix ? `; ${opts.fix}` : ""}`);
  return st;
}

/** Why a file or directory cannot be trusted (wrong type, owner or mode), or undefined. */
export function untrusted(st: Stats, kind: "directory" | "file"): string | undefined {
  if (st.isSymbolicLink()) return "is a symlink";
  if (kind === "directory" ? !st.isDirectory() : !st.isFile()) return `is not a ${kind === "file" ? "regular file" : kind}`;
  const uid = process.geteuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== uid) return `is owned by uid ${st.uid}, not root`;
  if (st.mode & 0o022) return `is ${st.mode & 0o002 ? "world" : "group"}-writable (mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")}); run chmod go-w`;
  return undefined;
}

/** lstat, or undefined when nothing is there (other errors throw). */
export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}
