/**
 * The in-process nft backend (src/nft/libnftables.ts) in a scratch namespace: a delta checked
 * then applied goes through (the dry run runs in a throwaway context: nft's cache would keep
 * its edits), a refused script's error names its line as the CLI's does so it maps to the YAML
 * rule, and a refusal leaves nothing behind.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { kernelTestGate, runOk } from "./lab";
import { REPO } from "./agent-harness";

const enabled = await kernelTestGate();
const NS = `hw-lnf-${process.pid.toString(36)}`;

describe.skipIf(!enabled)("libnftables in-process", () => {
  test("check then apply of a delta, error lines, a refusal changes nothing", async () => {
    await runOk(["ip", "netns", "add", NS]);
    try {
      const out = JSON.parse(await runOk(["ip", "netns", "exec", NS, process.execPath, join(REPO, "test/kernel/libnftables-probe.ts")], { timeoutMs: 20_000 }));
      expect(out.backend).toBe("libnftables");
      expect(out.base.ok).toBe(true);
      expect(out.check).toEqual({ ok: true, stdout: "", stderr: "" });
      expect(out.apply).toEqual({ ok: true, stdout: "", stderr: "" });
      expect(out.refused).toEqual({ ok: false, errors: [{ message: "Could not process rule: No such file or directory", line: 3, origin: { id: "gnp/x/ingress/0", file: "/etc/hostwall/x.yaml", line: 9, column: 7 } }] });
      expect(out.rules).toBe(1);
      expect(out.elements).toEqual(["10.0.0.0/16", "10.1.0.0/16"]);
    } finally {
      await runOk(["ip", "netns", "del", NS]);
    }
  }, 30_000);
});
