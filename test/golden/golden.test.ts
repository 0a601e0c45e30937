/**
 * Golden tests of the compiler: every directory under test/golden/ holds a `source.txt` and the
 * expected nft script (`expected.nft`, netdev chains for every endpoint).
 * `UPDATE_GOLDEN=1 bun test test/golden` rewrites the expectations; reviewers read real nft.
 *
 * source.txt, one setting per line (`#` lines are comments, e.g. what the case pins):
 *   first line                where the YAML is: `.` (this directory) or a repo-relative
 *                             directory (`rules/`, `test/fixtures/guides/defend-dos-attack/corrected`),
 *                             so shipped examples and guide fixtures are pinned byte for byte
 *   also: DIR                 optional; more YAML from DIR (`.` or repo-relative), e.g. a
 *                             HostEndpoint in the case directory for a guide that defines none
 *   node: NAME                optional; the node to compile for (default jasper)
 *   addresses: IF=IP,IP IF=IP optional; interface addresses, for endpoints bound by expectedIPs
 *
 * Each case is also compiled with its documents shuffled across files: the script must not change.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SourceFile } from "../../src/config/parse.ts";
import { parseAddress, type Cidr } from "../../src/model/cidr.ts";
import { formatDiagnostic } from "../../src/config/diagnostics.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { redistribute } from "../support/shuffle.ts";
import { refuseUpdateGoldenInCi } from "../support/update-golden.ts";

refuseUpdateGoldenInCi();

const ROOT = import.meta.dir;
const REPO = join(ROOT, "../..");

interface CaseSource {
  /** The YAML files. */
  files: SourceFile[];
  /** Node to compile for. */
  node: string;
  /** Interface addresses, when the case binds endpoints by expectedIPs. */
  addresses?: Map<string, Cidr[]>;
}

function caseSource(dir: string): CaseSource {
  const [where = ".", ...settings] = readFileSync(join(dir, "source.txt"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const yamlIn = (spec: string): SourceFile[] => {
    const from = spec === "." ? dir : join(REPO, spec);
    return readdirSync(from)
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => ({ path: join(from, f), text: readFileSync(join(from, f), "utf8") }));
  };
  const source: CaseSource = { files: yamlIn(where), node: "jasper" };
  for (const line of settings) {
    const [key, value = ""] = line.split(/:\s*(.*)/);
    if (key === "also") source.files.push(...yamlIn(value));
    else if (key === "node") source.node = value;
    else if (key === "addresses") source.addresses = parseAddresses(value);
    else throw new Error(`${dir}/source.txt: unknown setting "${line}"`);
  }
  return source;
}

/** `eth2=192.0.2.20,2001:db8::20 eth3=198.51.100.30` → interface → addresses. */
function parseAddresses(text: string): Map<string, Cidr[]> {
  const out = new Map<string, Cidr[]>();
  for (const entry of text.split(/\s+/).filter(Boolean)) {
    const [iface, list = ""] = entry.split("=");
    out.set(iface!, list.split(",").filter(Boolean).map((a) => {
      const parsed = parseAddress(a);
      if (!parsed.ok) throw new Error(`bad address ${a} in source.txt`);
      return parsed.cidr;
    }));
  }
  return out;
}

function compile(source: CaseSource, files = source.files): string {
  const result = buildRuleset({ files, node: source.node, addresses: source.addresses });
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0 || !result.script) throw new Error(errors.map(formatDiagnostic).join("\n"));
  return result.script.text;
}

const cases = readdirSync(ROOT, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

describe("golden compile", () => {
  test("there are golden cases", () => expect(cases.length).toBeGreaterThanOrEqual(2));
  for (const name of cases) {
    const dir = join(ROOT, name);
    test(name, () => {
      const actual = compile(caseSource(dir));
      const expectedPath = join(dir, "expected.nft");
      if (process.env.UPDATE_GOLDEN === "1") writeFileSync(expectedPath, actual);
      expect(actual).toBe(readFileSync(expectedPath, "utf8"));
    });
    test(`${name}: same script when documents and files are shuffled`, () => {
      const source = caseSource(dir);
      const reference = compile(source);
      for (const seed of [1, 2, 3, 4, 5]) expect(compile(source, redistribute(source.files, seed))).toBe(reference);
    });
  }
});
