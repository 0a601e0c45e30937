/**
 * Packaging: the systemd unit (`systemd-analyze verify` and `security --offline=true`, where
 * systemd-analyze exists; skipped with the reason otherwise) and scripts/install.sh into a
 * DESTDIR (modes, the unit's ExecStart following PREFIX, existing config never overwritten).
 * Needs no root and no namespaces; it lives here with the other operations tests.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY } from "../support/binary.ts";

const REPO = join(import.meta.dir, "../..");
const UNIT = join(REPO, "systemd/hostwall.service");
const INSTALL = join(REPO, "scripts/install.sh");

const analyze = Bun.which("systemd-analyze", { PATH: `${process.env.PATH}:/usr/bin:/bin` });
const analyzeVersion = analyze ? Number(/systemd (\d+)/.exec(Bun.spawnSync([analyze, "--version"]).stdout.toString())?.[1] ?? 0) : 0;
if (!analyze) console.warn("SKIP unit verification: systemd-analyze is not installed");
else if (analyzeVersion < 250) console.warn(`SKIP security rating: systemd-analyze ${analyzeVersion} has no --offline (needs 250+)`);

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "hostwall-pkg-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function run(cmd: string[], env: Record<string, string> = {}) {
  const r = Bun.spawnSync(cmd, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** The unit with ExecStart pointing at an existing binary (verify checks that it is executable). */
function unitFor(binary: string, unitText = readFileSync(UNIT, "utf8")): string {
  const dir = tempDir();
  const path = join(dir, "hostwall.service");
  writeFileSync(path, unitText.replace(/^ExecStart=\S+ /m, `ExecStart=${binary} `));
  return path;
}

const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8);

describe("systemd unit", () => {
  const unit = readFileSync(UNIT, "utf8");
  const directives = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]!);

  test("what issue #5 asks of it", () => {
    expect(directives("Type")).toEqual(["notify"]);
    expect(directives("NotifyAccess")).toEqual(["main"]);
    expect(directives("ExecStart")).toEqual(["/usr/local/bin/hostwall run"]);
    expect(directives("ExecReload")).toEqual(["/bin/kill -HUP $MAINPID"]);
    expect(directives("Restart")).toEqual(["on-failure"]);
    expect(directives("CapabilityBoundingSet")).toEqual(["CAP_NET_ADMIN"]);
    expect(directives("NoNewPrivileges")).toEqual(["yes"]);
    expect(directives("ProtectSystem")).toEqual(["strict"]);
    expect(directives("ReadOnlyPaths")).toEqual(["/etc/hostwall"]);
    expect(directives("RestrictAddressFamilies")).toEqual(["AF_UNIX AF_INET AF_INET6 AF_NETLINK"]);
    expect(directives("SystemCallFilter")[0]).toBe("@system-service");
    expect(directives("KillMode")).toEqual(["mixed"]);
  });

  test.skipIf(!analyze)("systemd-analyze verify accepts it without a warning", () => {
    expect(existsSync(BINARY)).toBe(true);
    const r = run([analyze!, "verify", unitFor(BINARY)]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // The check can fail: a typo is reported (verify still exits 0, so stderr is what counts).
    const broken = run([analyze!, "verify", unitFor(BINARY, unit.replace(/^Type=notify$/m, "Type=notifyy"))]);
    expect(broken.stderr).toContain("Failed to parse service type");
  });

  test.skipIf(!analyze || analyzeVersion < 250)("systemd-analyze security --offline=true rates it OK or better", () => {
    const r = run([analyze!, "security", "--offline=true", "--no-pager", unitFor(BINARY)]);
    const m = /Overall exposure level for hostwall\.service: ([\d.]+) (\w+)/.exec(r.stdout);
    expect(m?.[2] && ["OK", "SAFE", "PERFECT"].includes(m[2]) ? "OK or better" : r.stdout.slice(-400)).toBe("OK or better");
    expect(Number(m![1])).toBeLessThanOrEqual(2.0);
  });
});

describe("scripts/install.sh", () => {
  test.skipIf(!existsSync(BINARY))("into a DESTDIR: binary, unit, examples and config with the right modes", () => {
    const dest = tempDir();
    const r = run([INSTALL], { DESTDIR: dest });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("example config copied to /etc/hostwall");
    const examples = readdirSync(join(REPO, "rules")).filter((f) => f.endsWith(".yaml")).sort();
    expect(mode(join(dest, "usr/local/bin/hostwall"))).toBe("755");
    expect(statSync(join(dest, "usr/local/bin/hostwall")).size).toBe(statSync(BINARY).size);
    expect(mode(join(dest, "etc/systemd/system/hostwall.service"))).toBe("644");
    expect(readFileSync(join(dest, "etc/systemd/system/hostwall.service"), "utf8")).toBe(readFileSync(UNIT, "utf8"));
    expect(mode(join(dest, "etc/hostwall"))).toBe("755");
    expect(readdirSync(join(dest, "etc/hostwall")).sort()).toEqual(examples);
    expect(readdirSync(join(dest, "usr/local/share/hostwall/examples")).sort()).toEqual(examples);
    for (const f of examples) {
      expect(mode(join(dest, "etc/hostwall", f))).toBe("644");
      expect(readFileSync(join(dest, "etc/hostwall", f), "utf8")).toBe(readFileSync(join(REPO, "rules", f), "utf8"));
    }
    // The installed binary reads the installed config: the agent accepts its modes.
    const check = run([join(dest, "usr/local/bin/hostwall"), "check", "--config-dir", join(dest, "etc/hostwall"), "--node", "jasper"]);
    expect([check.code, check.stderr]).toEqual([0, expect.stringContaining("is valid")]);
  });

  test.skipIf(!existsSync(BINARY))("again with another PREFIX: ExecStart follows, an edited config stays", () => {
    const dest = tempDir();
    expect(run([INSTALL], { DESTDIR: dest }).code).toBe(0);
    writeFileSync(join(dest, "etc/hostwall/10-host-endpoint.yaml"), "# mine\n");
    const r = run([INSTALL], { DESTDIR: dest, PREFIX: "/opt/hostwall" });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("existing config in /etc/hostwall left as it is");
    expect(readFileSync(join(dest, "etc/hostwall/10-host-endpoint.yaml"), "utf8")).toBe("# mine\n");
    expect(mode(join(dest, "opt/hostwall/bin/hostwall"))).toBe("755");
    const unit = readFileSync(join(dest, "etc/systemd/system/hostwall.service"), "utf8");
    expect(unit).toContain("\nExecStart=/opt/hostwall/bin/hostwall run\n");
    if (analyze) {
      // Verify the unit as installed, pointed at the installed binary inside the DESTDIR.
      const v = run([analyze, "verify", unitFor(join(dest, "opt/hostwall/bin/hostwall"), unit)]);
      expect([v.code, v.stderr]).toEqual([0, ""]);
    }
  });

  test("refuses what it cannot do safely", () => {
    const dest = tempDir();
    expect(run([INSTALL], { DESTDIR: dest, BINARY: join(dest, "nope") })).toMatchObject({ code: 1, stderr: expect.stringContaining("is missing; run 'npm run build' first") });
    expect(run([INSTALL], { DESTDIR: dest, PREFIX: "usr" })).toMatchObject({ code: 1, stderr: expect.stringContaining("PREFIX must be an absolute path") });
    expect(run([INSTALL], { DESTDIR: dest, PREFIX: "/opt/a b" })).toMatchObject({ code: 1, stderr: expect.stringContaining("PREFIX may only hold") });
    expect(readdirSync(dest)).toEqual([]);
  });
});
