/**
 * Output is always whole (issue 11, item 1): `hostwall compile | nft -c -f -` used to get the
 * script cut at 64 or 128 KiB, with exit 0. The built binary writes a 1.5 MB script into a pipe
 * whose reader is slow, and into a file: both get every byte, and the same bytes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BINARY, RULES, tempConfigDirs } from "./support/cli.ts";

const dirs = tempConfigDirs("hw-output-");
afterAll(() => dirs.remove());

function bigConfig(): string {
  const files: Record<string, string> = {};
  for (const f of readdirSync(RULES)) files[f] = readFileSync(join(RULES, f), "utf8");
  // Every other address, so nothing merges into a prefix: 100,000 set elements.
  const nets = Array.from({ length: 100_000 }, (_, k) => `  - 100.${64 + ((2 * k) >> 16)}.${((2 * k) >> 8) & 255}.${(2 * k) & 255}/32`);
  files["50-big.yaml"] = `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: big, labels: {dos-deny-list: 'true'}}\nspec:\n  nets:\n${nets.join("\n")}\n`;
  return dirs.make(files);
}

describe("whole output", () => {
  test("compile into a slow pipe and into a file: every byte, the same bytes, exit 0", async () => {
    const dir = bigConfig();
    const args = [...BINARY, "compile", "--all-interfaces", "--config-dir", dir, "--node", "jasper"];
    const toFile = join(dir, "script.nft"); // not a config file name: never read as config
    const file = Bun.spawnSync(["sh", "-c", `"$@" > ${toFile}`, "sh", ...args], { timeout: 60_000 });
    expect(file.exitCode).toBe(0);
    const expected = readFileSync(toFile, "utf8");
    expect(expected.length).toBeGreaterThan(1_000_000);
    expect(expected).toEndWith("}\n");

    const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", timeout: 60_000 });
    const chunks: Uint8Array[] = [];
    const reader = proc.stdout.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      await Bun.sleep(2); // a slow reader: the writer's pipe fills up again and again
    }
    expect(await proc.exited).toBe(0);
    expect(Buffer.concat(chunks).toString("utf8")).toBe(expected);
  }, 120_000);
});
