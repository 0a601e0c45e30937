/**
 * [I/O] What `check` (and the other offline commands) read: the config dir, or the files and
 * directories named on the command line. Directories go through the config dir's reader and its
 * trust rules (read-dir.ts); a file named explicitly is read whatever its name, since the
 * operator chose it, and only validated (nothing named on the command line is ever applied).
 */
import { readFile, stat } from "node:fs/promises";
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import type { SourceFile } from "./source-file.ts";
import { readConfigDir } from "./read-dir.ts";

export async function readSources(paths: readonly string[]): Promise<{ files: SourceFile[]; diagnostics: Diagnostic[] }> {
  const files: SourceFile[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const path of paths) {
    let isFile = false;
    try {
      isFile = (await stat(path)).isFile();
    } catch {
      // readConfigDir reports a missing path with its usual READ_ERROR.
    }
    if (!isFile) {
      const read = await readConfigDir(path);
      files.push(...read.files);
      diagnostics.push(...read.diagnostics);
      continue;
    }
    try {
      files.push({ path, text: await readFile(path, "utf8") });
    } catch (e) {
      diagnostics.push({ code: "READ_ERROR", severity: "error", message: `cannot read: ${(e as Error).message}`, file: path });
    }
  }
  return { files, diagnostics };
}
