/**
 * Every golden script (test/golden/<case>/expected.nft) is a ruleset the kernel accepts:
 * `nft -c -f` in a throwaway namespace. The golden test proves the compiler renders these
 * exact scripts; this proves the scripts themselves are valid nft, so a golden rewritten with
 * UPDATE_GOLDEN=1 cannot pin a script nft would refuse.
 *
 * Netdev chains name their device. Kernels before 6.10 refuse a netdev base chain whose device
 * does not exist (6.18 accepts it), so the namespace gets a link for every device the goldens
 * name (a veth: this kernel has no dummy module). Negative controls show the check can fail here: a golden with one rule made
 * unparsable, and one that jumps to a chain that does not exist, are both refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { refuseUpdateGoldenInCi } from "../support/update-golden.ts";
import { createNs, deleteNs, kernelTestGate, type Ns } from "./netns";

const GOLDEN = join(import.meta.dir, "../golden");
const NS = `hw-gn-${process.pid.toString(36)}`;
const cases = readdirSync(GOLDEN, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
const scriptOf = (name: string) => readFileSync(join(GOLDEN, name, "expected.nft"), "utf8");

/** Devices the netdev chains of a script are bound to (`device "eth0"`, `devices = { ... }`). */
export function devicesOf(script: string): string[] {
  const out = new Set<string>();
  for (const m of script.matchAll(/\bdevice\s+"?([^";\s}]+)"?/g)) out.add(m[1]!);
  for (const m of script.matchAll(/\bdevices\s*=\s*\{([^}]*)\}/g)) for (const d of m[1]!.split(",")) out.add(d.trim().replace(/^"|"$/g, ""));
  for (const name of out) if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw new Error(`device name ${JSON.stringify(name)} is not a plain interface name`);
  return [...out].sort();
}

const enabled = await kernelTestGate();

describe("golden scripts (no kernel)", () => {
  test("there are 17 or more goldens, each with an expected.nft binding netdev chains to devices", () => {
    expect(cases.length).toBeGreaterThanOrEqual(17);
    for (const name of cases) expect({ name, devices: devicesOf(scriptOf(name)).length > 0 }).toEqual({ name, devices: true });
  });

  test("UPDATE_GOLDEN is refused under CI, allowed outside it", () => {
    expect(() => refuseUpdateGoldenInCi({ CI: "true", UPDATE_GOLDEN: "1" })).toThrow(/refused under CI=true/);
    expect(() => refuseUpdateGoldenInCi({ CI: "1", UPDATE_GOLDEN: "1" })).toThrow(/refused/);
    expect(() => refuseUpdateGoldenInCi({ CI: "true" })).not.toThrow();
    expect(() => refuseUpdateGoldenInCi({ UPDATE_GOLDEN: "1" })).not.toThrow();
    expect(() => refuseUpdateGoldenInCi({ CI: "false", UPDATE_GOLDEN: "1" })).not.toThrow();
  });
});

describe.skipIf(!enabled)("golden scripts: nft -c in a namespace", () => {
  let ns: Ns;
  const check = (script: string) => ns.exec(["nft", "-c", "-f", "-"], { stdin: script, timeoutMs: 20_000 });

  beforeAll(async () => {
    await deleteNs(NS);
    ns = await createNs(NS);
    const devices = new Set(cases.flatMap((name) => devicesOf(scriptOf(name))));
    for (const [i, dev] of [...devices].entries()) {
      const r = await ns.exec(["ip", "link", "add", dev, "type", "veth", "peer", "name", `gn-peer${i}`]);
      if (r.code !== 0) throw new Error(`ip link add ${dev}: ${r.stderr}`);
    }
  });
  afterAll(async () => {
    await ns?.close();
    await deleteNs(NS);
  });

  for (const name of cases) {
    test(`${name}/expected.nft is accepted by nft -c`, async () => {
      const r = await check(scriptOf(name));
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    });
  }

  test("control: a golden with one rule made unparsable is refused, with its line", async () => {
    const lines = scriptOf("example-rules").split("\n");
    const at = lines.findIndex((l) => /\bcounter\b.*\baccept\b/.test(l));
    expect(at).toBeGreaterThan(0);
    lines[at] = lines[at]!.replace(/\baccept\b/, "acept");
    const r = await check(lines.join("\n"));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`/dev/stdin:${at + 1}:`);
  });

  test("control: a jump to a chain that does not exist is refused", async () => {
    const script = scriptOf("example-rules").replace(/\bjump failsafe-raw-in\b/, "jump no-such-chain");
    expect(script).toContain("jump no-such-chain");
    const r = await check(script);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no-such-chain|No such file or directory/);
  });
});
