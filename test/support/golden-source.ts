/**
 * Where a golden case's YAML comes from, one reader for test/golden (compile) and
 * test/golden-plan (plan --json). A case directory holds its YAML files, or a `source.txt`:
 *
 *   first line                where the YAML is: `.` (this directory) or a repo-relative
 *                             directory (`rules/`, `test/fixtures/guides/defend-dos-attack/corrected`),
 *                             so shipped examples and guide fixtures are pinned byte for byte
 *   also: DIR                 optional; more YAML from DIR (`.` or repo-relative)
 *   node: NAME                optional; the node (default: the caller's)
 *   addresses: IF=IP,IP IF=IP optional; interface addresses, for endpoints bound by expectedIPs
 *
 * `#` lines are comments (what the case pins); an unknown setting is an error. Files are the
 * `*.yaml`/`*.yml` of each directory, sorted by name.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { SourceFile } from "../../src/source/source-file.ts";
import { type Cidr } from "../../src/model/cidr.ts";
import { parseAddress } from "../../src/model/cidr-parse.ts";

const REPO = join(import.meta.dir, "../..");

export interface GoldenSource {
  /** The YAML files. */
  files: SourceFile[];
  /** Node to compile or plan for. */
  node: string;
  /** Interface addresses, when the case binds endpoints by expectedIPs. */
  addresses?: Map<string, Cidr[]>;
}

export interface GoldenSourceOptions {
  /** The node when source.txt names none. */
  node: string;
  /** File paths as absolute paths (the default) or as bare names (what plan documents were pinned with). */
  paths?: "absolute" | "names";
}

export function goldenSource(dir: string, opts: GoldenSourceOptions): GoldenSource {
  const sourceTxt = join(dir, "source.txt");
  const lines = existsSync(sourceTxt) ? readFileSync(sourceTxt, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")) : [];
  const [where = ".", ...settings] = lines;
  const yamlIn = (spec: string): SourceFile[] => {
    const from = spec === "." ? dir : join(REPO, spec);
    return readdirSync(from)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort()
      .map((f) => ({ path: opts.paths === "names" ? f : join(from, f), text: readFileSync(join(from, f), "utf8") }));
  };
  const source: GoldenSource = { files: yamlIn(where), node: opts.node };
  for (const line of settings) {
    const [key, value = ""] = line.split(/:\s*(.*)/);
    if (key === "also") source.files.push(...yamlIn(value));
    else if (key === "node") source.node = value;
    else if (key === "addresses") source.addresses = parseAddresses(value, sourceTxt);
    else throw new Error(`${sourceTxt}: unknown setting "${line}"`);
  }
  return source;
}

/** `eth2=192.0.2.20,2001:db8::20 eth3=198.51.100.30` → interface → addresses. */
function parseAddresses(text: string, where: string): Map<string, Cidr[]> {
  const out = new Map<string, Cidr[]>();
  for (const entry of text.split(/\s+/).filter(Boolean)) {
    const [iface, list = ""] = entry.split("=");
    out.set(
      iface!,
      list.split(",").filter(Boolean).map((a) => {
        const parsed = parseAddress(a);
        if (!parsed.ok) throw new Error(`${where}: bad address ${a}`);
        return parsed.cidr;
      }),
    );
  }
  return out;
}
