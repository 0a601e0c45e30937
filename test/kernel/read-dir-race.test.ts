/**
 * Security issue #18, finding 2: a root-owned symlink in the config dir points into a directory
 * that user nobody owns, and nobody flips the name it points at between a root-owned file and
 * its own, as fast as it can. The old reader checked the target by path, then read it by path
 * again, so some reads returned nobody's file. The reader must refuse the symlink outright
 * (INSECURE_PATH, naming nobody's directory) on every one of 1000 reads and never return
 * nobody's bytes. No network namespace is involved; it needs root (chown, setpriv), so it runs
 * with the kernel tests and is required under HOSTWALL_REQUIRE_KERNEL_TESTS=1.
 *
 * The tree lives in /run/hw-readdir-test-<pid> (root-owned 0755, like /etc), not in /tmp, so
 * that only the directory under test is writable by nobody.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readConfigDir } from "../../src/source/read-dir.ts";

const NOBODY = 65534;
const READS = 1000;
/** The flipper stops by itself after this long even if the test process dies. */
const FLIP_SECONDS = 120;

function gate(): boolean {
  const why =
    process.platform !== "linux" ? `needs Linux, not ${process.platform}`
    : process.getuid?.() !== 0 ? "needs root (chown, setpriv)"
    : !Bun.which("setpriv") ? "needs setpriv (util-linux)"
    : !Bun.which("perl") ? "needs perl"
    : undefined;
  if (!why) return true;
  if (process.env.HOSTWALL_REQUIRE_KERNEL_TESTS === "1") throw new Error(`read-dir race test required (HOSTWALL_REQUIRE_KERNEL_TESTS=1) but unavailable: ${why}`);
  console.warn(`SKIP read-dir race test: ${why}`);
  return false;
}

const enabled = gate();
const base = `/run/hw-readdir-test-${process.pid}`;

describe.skipIf(!enabled)("config reading races (issue #18)", () => {
  let cfg = "";
  let theirs = "";
  let flipper: ReturnType<typeof Bun.spawn> | undefined;

  beforeAll(async () => {
    mkdirSync(base, { mode: 0o755 });
    chmodSync(base, 0o755);
    const t = mkdtempSync(join(base, "t-"));
    chmodSync(t, 0o755);
    cfg = join(t, "cfg");
    theirs = join(t, "theirs");
    mkdirSync(cfg, { mode: 0o755 });
    mkdirSync(theirs, { mode: 0o755 });
    writeFileSync(join(cfg, "a.yaml"), "root-a\n", { mode: 0o644 });
    // root.yaml is root's (root may create it in nobody's directory); evil.yaml is nobody's.
    writeFileSync(join(theirs, "root.yaml"), "root-file\n", { mode: 0o644 });
    writeFileSync(join(theirs, "evil.yaml"), "NOBODY-ALLOW-ALL\n", { mode: 0o644 });
    chownSync(join(theirs, "evil.yaml"), NOBODY, NOBODY);
    chownSync(theirs, NOBODY, NOBODY);
    symlinkSync(join(theirs, "target.yaml"), join(cfg, "p.yaml"));
    // nobody flips target.yaml between the two with atomic renames of fresh symlinks.
    const script = `chdir $ARGV[0] or die; my $end = time + $ARGV[1];
      while (time < $end) { for my $f ("root.yaml", "evil.yaml") { symlink($f, "t.new") or die; rename("t.new", "target.yaml") or die; } }`;
    flipper = Bun.spawn(["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "perl", "-e", script, theirs, String(FLIP_SECONDS)], { stdout: "ignore", stderr: "pipe" });
    for (let i = 0; i < 200 && !existsSync(join(theirs, "target.yaml")); i++) await Bun.sleep(10);
    expect(lstatSync(join(theirs, "target.yaml")).uid).toBe(NOBODY);
  });

  afterAll(async () => {
    if (flipper) {
      flipper.kill();
      await flipper.exited;
    }
    rmSync(base, { recursive: true, force: true });
  });

  test(`${READS} reads while nobody flips the target: the symlink is refused every time, nobody's bytes never read`, async () => {
    let nobodys = 0;
    let refused = 0;
    for (let i = 0; i < READS; i++) {
      const r = await readConfigDir(cfg);
      if (r.files.some((f) => f.text.includes("NOBODY"))) nobodys++;
      const insecure = r.diagnostics.filter((d) => d.code === "INSECURE_PATH" && d.file === join(cfg, "p.yaml") && d.message.includes(`passes through ${theirs}, which is owned by uid ${NOBODY}`));
      if (insecure.length === 1 && r.diagnostics.length === 1 && r.files.length === 1 && r.files[0]!.text === "root-a\n") refused++;
    }
    // The flipper was running all along (it dies on the first failed rename).
    expect(flipper!.exitCode).toBeNull();
    expect({ nobodys, refused }).toEqual({ nobodys: 0, refused: READS });
  });
});
