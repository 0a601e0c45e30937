/**
 * [I/O] Reads the config directory: every *.yaml, *.yml and *.json below it, sorted by path,
 * skipping hidden files and editor leftovers (DESIGN.md §2). Whoever can change these files, or
 * any directory on the way to them, controls the firewall, so, like OpenSSH's StrictModes and
 * sudo's secure path (trusted = owned by root or the agent's uid, writable by no one else):
 *
 * - The config dir, each directory walked and the directory holding each file read must be
 *   trusted; so must every directory from / down to them (the config dir's ancestors, symlink
 *   targets), except that those passed through may be root-owned sticky ones like /tmp: there
 *   no one else can rename or remove our entry, and that entry is checked in turn. (OpenSSH
 *   refuses /tmp; the kernel's protected_symlinks reasoning is the same as ours, and the test
 *   harnesses build config dirs under /tmp.)
 * - A symlink is resolved one component at a time, each symlink met owned by root or the agent,
 *   each directory passed checked (INSECURE_PATH names the offender); then the resolved path,
 *   never the symlink, is opened.
 * - A file is opened once with O_NOFOLLOW | O_NONBLOCK (a swapped-in symlink fails, a FIFO
 *   cannot hang us); type, owner, mode and size come from fstat of that descriptor, and the
 *   bytes from the same descriptor. Directories are checked by path, which is safe because
 *   their parent was checked first: only root or the agent could swap them.
 * - Each directory is walked once (device:inode remembered): a second visit is DIRECTORY_LOOP,
 *   so symlinks to `.` or `..` cost one check, not an exponential walk.
 * - Caps: files and directories (TOO_MANY_FILES), bytes per file (FILE_TOO_LARGE) and in total
 *   (CONFIG_TOO_LARGE). Every problem is an error: nothing of a half-read config is applied.
 * - node:fs/promises throughout: a big tree never blocks the agent's event loop.
 * - A file of 1 MiB or more read whole into a spare buffer (source-file.ts takeBuffer) becomes
 *   a BytesFile that owns that buffer: its text is decoded only if asked (the parse cache can
 *   read an edit from the bytes). Only the bytes read from the checked descriptor go in.
 *
 * `checkPermissions: false` (tests on temp dirs owned by others) drops the owner and mode
 * checks only; O_NOFOLLOW, loop detection and the caps stay.
 */
import { constants, type BigIntStats, type Dirent } from "node:fs";
import { lstat, open, readdir, readlink, realpath, stat, type FileHandle } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import type { DiagnosticCode } from "../diagnostics/codes.ts";
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import { BytesFile, recycleBytes, SPARE_MIN, takeBuffer, type SourceFile } from "./source-file.ts";

const CONFIG_FILE = /\.(ya?ml|json)$/;
const SKIPPED = [/^\./, /~$/, /\.swp$/, /^#.*#$/, /\.tmp$/, /\.dpkg-/, /\.rpm/];
/** A 1M-prefix network set is ~20 MB of YAML; anything far above that is a mistake. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;
const MAX_FILES = 10_000;
const MAX_TOTAL_BYTES = 512 * 1024 * 1024;
/** Symlinks followed while resolving one path, as the kernel's ELOOP limit. */
const MAX_SYMLINKS = 40;
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export interface ReadDirOptions {
  /** Check ownership and permissions (off for tests that use temp dirs owned by others). */
  checkPermissions?: boolean;
  /** Largest file read, in bytes (default 256 MiB). */
  maxFileBytes?: number;
  /** Most files and directories walked in one read (default 10,000). */
  maxFiles?: number;
  /** Most bytes read across all files (default 512 MiB). */
  maxTotalBytes?: number;
}

export function isConfigFileName(name: string): boolean {
  return CONFIG_FILE.test(name) && !SKIPPED.some((re) => re.test(name));
}

export async function readConfigDir(dir: string, opts: ReadDirOptions = {}): Promise<{ files: SourceFile[]; diagnostics: Diagnostic[] }> {
  const reader = new DirReader(opts);
  await reader.read(dir);
  return { files: reader.files, diagnostics: reader.diagnostics };
}

/** A path resolved to one without symlinks, with its lstat and its parent directory's. */
interface Resolved {
  real: string;
  st: BigIntStats;
  /** The directory holding it (only resolved with permission checks). */
  parent?: { path: string; st: BigIntStats };
}

class DirReader {
  readonly files: SourceFile[] = [];
  readonly diagnostics: Diagnostic[] = [];
  private readonly check: boolean;
  private readonly uid = process.getuid?.() ?? 0;
  private readonly limits: { file: number; files: number; total: number };
  private readonly seen = new Set<string>();
  private count = 0;
  private bytes = 0;
  private stopped = false;

  constructor(opts: ReadDirOptions) {
    this.check = opts.checkPermissions ?? true;
    this.limits = { file: opts.maxFileBytes ?? MAX_FILE_BYTES, files: opts.maxFiles ?? MAX_FILES, total: opts.maxTotalBytes ?? MAX_TOTAL_BYTES };
  }

  async read(dir: string): Promise<void> {
    const root = await this.resolve(dir, dir, "config directory");
    if (!root) return;
    if (!root.st.isDirectory()) return this.error("READ_ERROR", dir, `config directory ${dir}: not a directory`);
    await this.walk(dir, root.real, root.st);
  }

  private error(code: DiagnosticCode, file: string, message: string): void {
    this.diagnostics.push({ code, severity: "error", message, file });
  }

  /** Why `st` is not trusted, or undefined; `passThrough` also accepts a root-owned sticky directory. */
  private untrusted(st: BigIntStats, passThrough = false): string | undefined {
    const mode = Number(st.mode);
    const owner = Number(st.uid);
    const problems: string[] = [];
    const trustedOwner = owner === 0 || owner === this.uid;
    const sticky = passThrough && trustedOwner && (mode & 0o1000) !== 0;
    if (mode & 0o022 && !sticky) problems.push(`is ${mode & 0o002 ? "world" : "group"}-writable (mode ${(mode & 0o7777).toString(8)}); run chmod go-w`);
    if (!trustedOwner) problems.push(`is owned by uid ${owner}, not root`);
    return problems.length > 0 ? problems.join(" and ") : undefined;
  }

  /** Counts one file or directory against the cap; false (and one error) once it is exceeded. */
  private admit(path: string): boolean {
    if (this.stopped) return false;
    if (++this.count <= this.limits.files) return true;
    this.stopped = true;
    this.error("TOO_MANY_FILES", path, `more than ${this.limits.files} files and directories below the config directory; stopped reading (a symlink to a big tree, or the wrong directory?)`);
    return false;
  }

  private async walk(shown: string, real: string, st: BigIntStats): Promise<void> {
    const key = `${st.dev}:${st.ino}`;
    if (this.seen.has(key)) {
      return this.error("DIRECTORY_LOOP", shown, `directory ${real} was already read (a symlink loop or a second link to it); it is read once`);
    }
    this.seen.add(key);
    if (this.check) {
      const why = this.untrusted(st);
      if (why) return this.error("INSECURE_PERMISSIONS", shown, `config directory ${why}: whoever can write it controls the firewall`);
    }
    if (!this.admit(shown)) return;
    let entries: Dirent[];
    try {
      entries = (await readdir(real, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (e) {
      return this.error("READ_ERROR", shown, `cannot read directory: ${(e as Error).message}`);
    }
    for (const entry of entries) {
      if (this.stopped) return;
      await this.entry(join(shown, entry.name), join(real, entry.name), entry);
    }
  }

  private async entry(shown: string, real: string, entry: Dirent): Promise<void> {
    const { name } = entry;
    const hidden = name.startsWith(".");
    const config = isConfigFileName(name);
    // The directory's own type hint spares a plain file an lstat: the descriptor's fstat decides.
    if (entry.isFile()) return config ? this.readFile(shown, real) : undefined;
    let st: BigIntStats;
    try {
      st = await lstat(real, { bigint: true });
    } catch (e) {
      return this.error("READ_ERROR", shown, `cannot stat: ${(e as Error).message}`);
    }
    if (st.isDirectory()) {
      if (!hidden) await this.walk(shown, real, st);
      return;
    }
    if (st.isSymbolicLink()) {
      if (hidden) return;
      // Only a directory or a config file is followed; `stat` just spares other names a check.
      if (!config) {
        try {
          if (!(await stat(real)).isDirectory()) return;
        } catch (e) {
          return this.error("READ_ERROR", shown, `cannot stat: ${(e as Error).message}`);
        }
      }
      const target = await this.resolve(real, shown, "symlink");
      if (!target) return;
      if (target.st.isDirectory()) return this.walk(shown, target.real, target.st);
      if (!config) return;
      if (target.parent) {
        const why = this.untrusted(target.parent.st);
        if (why) return this.error("INSECURE_PATH", shown, `symlink target ${target.real} is in ${target.parent.path}, which ${why}: whoever can write it controls the firewall`);
      }
      return this.readFile(shown, target.real, target.st);
    }
    if (config) await this.readFile(shown, real, st);
  }

  /**
   * Resolves `path` to a path without symlinks. With permission checks, one component at a
   * time: every symlink met must be owned by root or the agent and every directory passed
   * trusted (or root-owned sticky); otherwise realpath. Undefined after reporting a problem.
   */
  private async resolve(path: string, shown: string, what: string): Promise<Resolved | undefined> {
    const absolute = isAbsolute(path) ? path : `${process.cwd()}/${path}`;
    try {
      if (!this.check) {
        const real = await realpath(absolute);
        return { real, st: await lstat(real, { bigint: true }) };
      }
      const rootSt = await lstat("/", { bigint: true });
      const stack: { path: string; st: BigIntStats }[] = [{ path: "/", st: rootSt }];
      const pending = absolute.split("/").filter(Boolean);
      let current = { path: "/", st: rootSt };
      let links = 0;
      const insecure = (where: string, why: string) =>
        this.error("INSECURE_PATH", shown, `${what} ${path} passes through ${where}, which ${why}: whoever can write it can swap what hostwall reads`);
      for (;;) {
        const name = pending.shift();
        if (name === undefined) break;
        // Passed through: the last component is checked by the caller, strictly.
        const why = this.untrusted(current.st, true);
        if (why) return void insecure(current.path, why);
        if (!current.st.isDirectory()) return void this.error("READ_ERROR", shown, `cannot resolve ${path}: ${current.path} is not a directory`);
        if (name === ".") continue;
        if (name === "..") {
          if (stack.length > 1) stack.pop();
          current = stack[stack.length - 1]!;
          continue;
        }
        const next = join(current.path, name);
        const st = await lstat(next, { bigint: true });
        if (st.isSymbolicLink()) {
          if (++links > MAX_SYMLINKS) return void this.error("READ_ERROR", shown, `cannot resolve ${path}: more than ${MAX_SYMLINKS} symlinks (a loop)`);
          const owner = Number(st.uid);
          if (owner !== 0 && owner !== this.uid) return void insecure(next, `is a symlink owned by uid ${owner}, not root`);
          const target = await readlink(next);
          if (target.startsWith("/")) stack.splice(1);
          pending.unshift(...target.split("/").filter(Boolean));
          current = stack[stack.length - 1]!;
          continue;
        }
        current = { path: next, st };
        stack.push(current);
      }
      // `current` is the last stack entry; its parent is the one before (/ for / itself).
      return { real: current.path, st: current.st, parent: stack[stack.length - 2] ?? stack[0]! };
    } catch (e) {
      this.error("READ_ERROR", shown, `cannot resolve ${what} ${path}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** Opens once without following symlinks and checks, sizes and reads through that descriptor. */
  private async readFile(shown: string, real: string, st?: BigIntStats): Promise<void> {
    // A FIFO or device is not even opened: opening one can have side effects.
    if (st && !st.isFile()) return this.error("READ_ERROR", shown, `not a regular file (${kindOf(st)}); a config file must be one`);
    if (!this.admit(shown)) return;
    let fh: FileHandle;
    try {
      fh = await open(real, OPEN_FLAGS);
    } catch (e) {
      return this.error("READ_ERROR", shown, `cannot open: ${(e as Error).message}`);
    }
    try {
      const fst = await fh.stat({ bigint: true });
      if (!fst.isFile()) return this.error("READ_ERROR", shown, `not a regular file (${kindOf(fst)}); a config file must be one`);
      if (this.check) {
        const why = this.untrusted(fst);
        if (why) return this.error("INSECURE_PERMISSIONS", shown, `config file ${why}: whoever can write it controls the firewall`);
      }
      const size = Number(fst.size);
      if (size > this.limits.file) return this.tooLarge(shown, size);
      if (this.bytes + size > this.limits.total) return this.overTotal(shown);
      const spare = size >= SPARE_MIN ? takeBuffer(size) : undefined;
      let owned = false;
      try {
        const buf = await readAtMost(fh, size, this.limits.file, spare);
        if (!buf) return this.tooLarge(shown, size);
        this.bytes += buf.length;
        if (this.bytes > this.limits.total) return this.overTotal(shown);
        // Read whole into the spare: the file owns it, its text decoded only if asked (source-file.ts).
        owned = spare !== undefined && buf.buffer === spare.buffer;
        this.files.push(owned ? new BytesFile(shown, buf) : { path: shown, text: buf.toString("utf8") });
      } finally {
        if (!owned) recycleBytes(spare);
      }
    } catch (e) {
      this.error("READ_ERROR", shown, `cannot read: ${(e as Error).message}`);
    } finally {
      await fh.close().catch(() => {});
    }
  }

  private overTotal(shown: string): void {
    this.stopped = true;
    this.error("CONFIG_TOO_LARGE", shown, `the config files total more than ${this.limits.total} bytes; stopped reading`);
  }

  private tooLarge(shown: string, size: number): void {
    this.error("FILE_TOO_LARGE", shown, `file is ${size} bytes or more; the limit is ${this.limits.file}`);
  }
}

/** The file's bytes, or undefined when it has (or grew to) more than `limit`. */
async function readAtMost(fh: FileHandle, size: number, limit: number, spare?: Buffer): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  // One read of the size fstat saw (plus a byte to notice growth); more only after a short
  // read or growth, then in 64 KiB steps until EOF.
  let want = Math.min(size, limit) + 1;
  for (;;) {
    const buf = chunks.length === 0 && spare && spare.length >= want ? spare.subarray(0, want) : Buffer.allocUnsafe(want);
    const { bytesRead } = await fh.read(buf, 0, want, total);
    if (bytesRead === 0) break;
    chunks.push(buf.subarray(0, bytesRead));
    total += bytesRead;
    if (total > limit) return undefined;
    if (total === size) break;
    want = Math.min(65536, limit - total + 1);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
}

function kindOf(st: BigIntStats): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isDirectory()) return "a directory";
  if (st.isSymbolicLink()) return "a symlink";
  return "not a file";
}
