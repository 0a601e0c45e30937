/**
 * Issue #11 item 10: a file refused for its permissions (or any read error) must not also
 * produce errors in the files that use what it defines. One mistake, one error: the read
 * error at the refused file, plus one warning that references could not be checked.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/validate/load.ts";
import { readConfigDir } from "../../src/source/read-dir.ts";
import { buildRuleset } from "../../src/pipeline.ts";

const TIERS = "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\nspec: {order: 100}\n---\napiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: base}\n";
const USERS = [
  "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: {tier: security, selector: all(), ingress: [{action: Allow}]}\n",
  "---\napiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {name: h}\nspec: {node: jasper, interfaceName: eth0, profiles: [base]}\n",
].join("");

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("without a refused file, an undefined tier is an error where it is used (unchanged)", () => {
  const { diagnostics } = loadConfig([{ path: "20-users.yaml", text: USERS }], { node: "jasper" });
  expect(diagnostics.map((d) => [d.code, d.file, d.line])).toEqual([
    ["UNKNOWN_TIER", "20-users.yaml", 4],
    ["MISSING_PROFILE", "20-users.yaml", 9],
  ]);
});

test("with a refused file, references are not reported one by one: one warning names them and the file", () => {
  const { diagnostics } = loadConfig([{ path: "cfg/20-users.yaml", text: USERS }], { node: "jasper", refused: ["cfg/10-tiers.yaml"] });
  // Placed on the refused file, beside its read error, not in the file that uses the references.
  expect(diagnostics.map((d) => [d.code, d.severity, d.file, d.line])).toEqual([["REFERENCES_UNCHECKED", "warning", "cfg/10-tiers.yaml", undefined]]);
  expect(diagnostics[0]!.message).toContain('tier "security" (used by GlobalNetworkPolicy/p), profile "base" (used by HostEndpoint/h) are not defined');
  expect(diagnostics[0]!.message).toContain('"cfg/10-tiers.yaml", which could not be read');
});

test("a world-writable file in a real config dir gives exactly one error, at that file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hw-refused-"));
  dirs.push(dir);
  writeFileSync(join(dir, "10-tiers.yaml"), TIERS, { mode: 0o644 });
  writeFileSync(join(dir, "20-users.yaml"), USERS, { mode: 0o644 });
  chmodSync(join(dir, "10-tiers.yaml"), 0o666);
  const read = await readConfigDir(dir);
  const built = buildRuleset({ files: read.files, readDiagnostics: read.diagnostics, node: "jasper" });
  const all = [...read.diagnostics, ...built.diagnostics];
  expect(all.filter((d) => d.severity === "error").map((d) => [d.code, d.file])).toEqual([["INSECURE_PERMISSIONS", join(dir, "10-tiers.yaml")]]);
  expect(all.filter((d) => d.severity === "warning").map((d) => d.code)).toEqual(["REFERENCES_UNCHECKED"]);
  expect(built.script).toBeUndefined();
});
