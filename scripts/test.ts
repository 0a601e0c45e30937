/**
 * `npm test`: builds dist/hostwall (the kernel tests run the real binary), then runs every
 * test under test/ with bun test, and ends with one plain summary line "N passed, N failed"
 * that CI systems read. Extra arguments go to bun test (e.g. `npm test -- test/unit`).
 * Kernel tests need root, nftables and iproute2: as root, missing Debian packages are
 * installed; without root they skip and say why, except under CI=true, where they must run.
 */
import { $ } from "bun";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureSystemTools } from "./system-deps.ts";

const bun = process.execPath;
// As root, install what the kernel tests need; in CI they must run, never skip.
if (process.getuid?.() === 0) await ensureSystemTools({ install: true });
// Agents started by tests keep their last good ruleset here, not in the machine's /var/lib/hostwall.
const stateDir = process.env.HOSTWALL_STATE_DIR ?? mkdtempSync(join(tmpdir(), "hw-test-state-"));
const env = { ...process.env, HOSTWALL_STATE_DIR: stateDir, ...(process.env.CI === "true" ? { HOSTWALL_REQUIRE_KERNEL_TESTS: "1" } : {}) };
const build = await $`${bun} run scripts/build.ts`.nothrow();
if (build.exitCode !== 0) {
  console.error("build failed");
  console.log("0 passed, 1 failed");
  process.exit(1);
}
const args = process.argv.slice(2);
const proc = Bun.spawn([bun, "test", "--timeout", "120000", ...(args.length > 0 ? args : ["test/"])], { stdout: "inherit", stderr: "pipe", env });
let tail = "";
const decoder = new TextDecoder();
for await (const chunk of proc.stderr) {
  process.stderr.write(chunk);
  tail = (tail + decoder.decode(chunk)).slice(-4096);
}
const code = await proc.exited;
const count = (word: string) => Number(new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(tail)?.[1] ?? 0);
const failed = count("fail") + count("error");
console.log(`${count("pass")} passed, ${failed} failed${count("skip") ? `, ${count("skip")} skipped` : ""}`);
process.exit(code !== 0 ? code : failed > 0 ? 1 : 0);
