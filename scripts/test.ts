/**
 * `npm test`: builds dist/hostwall (the kernel tests run the real binary), then runs every
 * test under test/ with bun test, and ends with one plain summary line "N passed, N failed"
 * that CI systems read. Extra arguments go to bun test (e.g. `npm test -- test/unit`).
 * Kernel tests need root, nftables and iproute2: as root, missing Debian packages are
 * installed; without root they skip and say why, except under CI=true, where they must run.
 *
 * Skips are counted from bun's JUnit report and printed with their reasons (scripts/skips.ts);
 * under CI=true a skip that test/skips.allow does not list fails the run.
 */
import { $ } from "bun";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { accountSkips, formatSkips, parseAllowList, parseJunit } from "./skips.ts";
import { ensureSystemTools, TEST_TOOLS } from "./system-deps.ts";

const bun = process.execPath;
const REPO = join(import.meta.dir, "..");
const ALLOW = "test/skips.allow";
const ci = process.env.CI === "true";
// As root, install what the kernel tests need; in CI they must run, never skip.
if (process.getuid?.() === 0) await ensureSystemTools({ install: true, tools: TEST_TOOLS });
// Agents started by tests keep their last good ruleset here, not in the machine's /var/lib/hostwall.
const stateDir = process.env.HOSTWALL_STATE_DIR ?? mkdtempSync(join(tmpdir(), "hw-test-state-"));
const env = { ...process.env, HOSTWALL_STATE_DIR: stateDir, ...(ci ? { HOSTWALL_REQUIRE_KERNEL_TESTS: "1" } : {}) };
const build = await $`${bun} run scripts/build.ts`.nothrow();
if (build.exitCode !== 0) {
  console.error("build failed");
  console.log("0 passed, 1 failed");
  process.exit(1);
}
const reportDir = mkdtempSync(join(tmpdir(), "hw-test-report-"));
const junit = join(reportDir, "junit.xml");
const args = process.argv.slice(2);
const proc = Bun.spawn([bun, "test", "--timeout", "120000", "--reporter=junit", `--reporter-outfile=${junit}`, ...(args.length > 0 ? args : ["test/"])], { stdout: "inherit", stderr: "pipe", env });
let tail = "";
const decoder = new TextDecoder();
for await (const chunk of proc.stderr) {
  process.stderr.write(chunk);
  tail = (tail + decoder.decode(chunk)).slice(-4096);
}
const code = await proc.exited;
const count = (word: string) => Number(new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(tail)?.[1] ?? 0);
const failed = count("fail") + count("error");

// Skips: every one printed with its reason; in CI, only those on the allow-list are tolerated.
let skipProblem = "";
if (existsSync(junit)) {
  const allow = parseAllowList(existsSync(join(REPO, ALLOW)) ? readFileSync(join(REPO, ALLOW), "utf8") : "");
  const source = (file: string) => (existsSync(join(REPO, file)) ? readFileSync(join(REPO, file), "utf8") : undefined);
  const { skips, todos, unused } = accountSkips(parseJunit(readFileSync(junit, "utf8")), allow.entries, source);
  console.log(formatSkips(skips, todos, unused, ALLOW));
  const refused = skips.filter((s) => !s.allowedBy);
  if (allow.errors.length > 0) skipProblem = `${ALLOW}: ${allow.errors.join("; ")}`;
  else if (ci && refused.length > 0) skipProblem = `CI=true: ${refused.length} skipped test(s) not on ${ALLOW}; make them run, or list them there with the reason`;
  if (skips.length !== count("skip")) console.log(`note: bun reported ${count("skip")} skipped, the JUnit report ${skips.length}`);
} else {
  skipProblem = ci ? "CI=true: bun wrote no JUnit report, so skips cannot be accounted for" : "";
  console.log("no JUnit report: skips not accounted for");
}
rmSync(reportDir, { recursive: true, force: true });
if (skipProblem) console.error(skipProblem);
console.log(`${count("pass")} passed, ${failed + (skipProblem ? 1 : 0)} failed${count("skip") ? `, ${count("skip")} skipped` : ""}`);
process.exit(code !== 0 ? code : failed > 0 || skipProblem ? 1 : 0);
