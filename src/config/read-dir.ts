/**
 * [I/O] Reads the config directory: every *.yaml, *.yml and *.json below it, sorted by path,
 * skipping hidden files and editor leftovers (DESIGN.md §2). Whoever can write these files
 * controls the firewall, so files and directories that are group- or world-writable or owned
 * by someone other than root or the agent itself are refused with an error.
 */
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Diagnostic } from "./diagnostics.ts";
import type { SourceFile } from "./parse.ts";

const CONFIG_FILE = /\.(ya?ml|json)$/;
const SKIPPED = [/^\./, /~$/, /\.swp$/, /^#.*#$/, /\.tmp$/, /\.dpkg-/, /\.rpm/];
/** A 1M-prefix network set is ~20 MB of YAML; anything far above that is a mistake. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

export interface ReadDirOptions {
  /** Check ownership and permissions (off for tests that use temp dirs owned by others). */
  checkPermissions?: boolean;
}

export function isConfigFileName(name: string): boolean {
  return CONFIG_FILE.test(name) && !SKIPPED.some((re) => re.test(name));
}

export async function readConfigDir(dir: string, opts: ReadDirOptions = {}): Promise<{ files: SourceFile[]; diagnostics: Diagnostic[] }> {
  const diagnostics: Diagnostic[] = [];
  const files: SourceFile[] = [];
  const checkPermissions = opts.checkPermissions ?? true;
  const uid = process.getuid?.() ?? 0;
  const insecure = (path: string, what: string): boolean => {
    if (!checkPermissions) return false;
    const st = statSync(path);
    const problems: string[] = [];
    if (st.mode & 0o022) problems.push(`is ${st.mode & 0o020 ? "group" : "world"}-writable (mode ${(st.mode & 0o777).toString(8)}); run chmod go-w`);
    if (st.uid !== 0 && st.uid !== uid) problems.push(`is owned by uid ${st.uid}, not root`);
    if (problems.length === 0) return false;
    diagnostics.push({ code: "INSECURE_PERMISSIONS", severity: "error", message: `${what} ${problems.join(" and ")}: whoever can write it controls the firewall`, file: path });
    return true;
  };
  const walk = (d: string): void => {
    if (insecure(d, "config directory")) return;
    let entries: string[];
    try {
      entries = readdirSync(d).sort();
    } catch (e) {
      diagnostics.push({ code: "READ_ERROR", severity: "error", message: `cannot read directory: ${(e as Error).message}`, file: d });
      return;
    }
    for (const name of entries) {
      const path = join(d, name);
      let st;
      try {
        st = lstatSync(path);
        if (st.isSymbolicLink()) st = statSync(path);
      } catch (e) {
        diagnostics.push({ code: "READ_ERROR", severity: "error", message: `cannot stat: ${(e as Error).message}`, file: path });
        continue;
      }
      if (st.isDirectory()) {
        if (!name.startsWith(".")) walk(path);
        continue;
      }
      if (!st.isFile() || !isConfigFileName(name)) continue;
      if (insecure(path, "config file")) continue;
      if (st.size > MAX_FILE_BYTES) {
        diagnostics.push({ code: "FILE_TOO_LARGE", severity: "error", message: `file is ${st.size} bytes; the limit is ${MAX_FILE_BYTES}`, file: path });
        continue;
      }
      try {
        files.push({ path, text: readFileSync(path, "utf8") });
      } catch (e) {
        diagnostics.push({ code: "READ_ERROR", severity: "error", message: `cannot read: ${(e as Error).message}`, file: path });
      }
    }
  };
  try {
    if (!statSync(dir).isDirectory()) throw new Error("not a directory");
  } catch (e) {
    diagnostics.push({ code: "READ_ERROR", severity: "error", message: `config directory ${dir}: ${(e as Error).message}`, file: dir });
    return { files, diagnostics };
  }
  walk(dir);
  return { files, diagnostics };
}
