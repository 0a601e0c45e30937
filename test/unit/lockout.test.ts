/**
 * The lockout check's inputs (agent/lockout.ts): /proc/net/tcp and tcp6 as the kernel writes
 * them (little-endian words), hostile or broken lines skipped, only established connections to
 * a port with a listener kept; SSH_CONNECTION read strictly; the POST /reload body (api/requests.ts).
 */
import { describe, expect, test } from "bun:test";
import { inboundSessions, parseTcpTable, sshSession } from "../../src/agent/sessions.ts";
import { reloadRequest } from "../../src/api/requests.ts";
import { parseWindow } from "../../src/agent/confirm.ts";

const HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
// 192.0.2.10:22 and :443 listening; 198.51.100.7:40000 → 192.0.2.10:443 established; an outgoing
// 192.0.2.10:50000 → 203.0.113.5:443 established (no listener on 50000); a TIME_WAIT (06).
const TCP4 =
  HEADER +
  "   0: 0A0200C0:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n" +
  "   1: 00000000:01BB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n" +
  "   2: 0A0200C0:01BB 076433C6:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1\n" +
  "   3: 0A0200C0:C350 057100CB:01BB 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1\n" +
  "   4: 0A0200C0:01BB 086433C6:9C41 06 00000000:00000000 03:00000F5F 00000000     0        0 0 3 0\n";
// [2001:db8::10]:22 listening, [2001:db8::66]:51000 → [2001:db8::10]:22 established, and an
// IPv4-mapped connection ::ffff:198.51.100.9:41000 → ::ffff:192.0.2.10:443 (a dual-stack listener).
const TCP6 =
  HEADER +
  "   0: B80D0120000000000000000010000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0\n" +
  "   1: B80D0120000000000000000010000000:0016 B80D0120000000000000000066000000:C738 01 00000000:00000000 00:00000000 00000000     0        0 6 1 0\n" +
  "   2: 0000000000000000FFFF00000A0200C0:01BB 0000000000000000FFFF0000096433C6:A028 01 00000000:00000000 00:00000000 00000000     0        0 7 1 0\n";

describe("/proc/net/tcp", () => {
  test("established connections to a listening port, IPv4, IPv6 and IPv4-mapped", () => {
    const sessions = inboundSessions([{ text: TCP4, family: 4 }, { text: TCP6, family: 6 }], true);
    expect(sessions.map((s) => [s.family, s.peer, s.peerPort, s.local, s.localPort])).toEqual([
      [4, "198.51.100.7", 40000, "192.0.2.10", 443],
      [6, "2001:db8::66", 51000, "2001:db8::10", 22],
      [4, "198.51.100.9", 41000, "192.0.2.10", 443],
    ]);
  });

  test("big-endian words are read as such", () => {
    const be = HEADER + "   0: C000020A:01BB 00000000:0000 0A x\n   1: C000020A:01BB C6336407:9C40 01 x\n";
    expect(inboundSessions([{ text: be, family: 4 }], false).map((s) => [s.peer, s.local])).toEqual([["198.51.100.7", "192.0.2.10"]]);
  });

  test("broken and hostile lines are skipped, not guessed", () => {
    const junk = [
      "   0: 0A0200C0:01BB 076433C6:9C40 01",
      "   1: 0A0200C0:01BBB 076433C6:9C40 01 x",
      "   2: 0A0200C0:01BB 076433C6:9C4 01 x",
      "   3: ZZ0200C0:01BB 076433C6:9C40 01 x",
      "x".repeat(100_000),
      "   4: 0A0200C0 076433C6:9C40 01 x",
    ].join("\n");
    expect(parseTcpTable(junk, 4, true)).toEqual({ established: [], listening: new Set() });
  });
});

describe("SSH_CONNECTION", () => {
  test.each([
    ["198.51.100.7 40000 192.0.2.10 22", { family: 4, peer: "198.51.100.7", peerPort: 40000, local: "192.0.2.10", localPort: 22 }],
    ["2001:db8:0::66 51000 2001:db8::10 22", { family: 6, peer: "2001:db8::66", peerPort: 51000, local: "2001:db8::10", localPort: 22 }],
    ["::ffff:198.51.100.7 40000 ::ffff:192.0.2.10 22", { family: 4, peer: "198.51.100.7", peerPort: 40000, local: "192.0.2.10", localPort: 22 }],
  ])("%s", (value, expected) => expect(sshSession(value)).toEqual({ ...expected, source: "ssh" } as never));

  test.each([undefined, "", "198.51.100.7 40000 192.0.2.10", "198.51.100.7 0 192.0.2.10 22", "198.51.100.7 40000 192.0.2.10 70000", "1.2.3 1 192.0.2.10 22", "198.51.100.7 1 2001:db8::1 22", "$(reboot) 1 192.0.2.10 22", `198.51.100.7 1 192.0.2.10 22${" ".repeat(300)}`])("refused: %p", (value) =>
    expect(sshSession(value)).toBeUndefined());
});

describe("POST /reload body", () => {
  test("windows", () => {
    expect([parseWindow("60s"), parseWindow("2m"), parseWindow("1500ms"), parseWindow("90"), parseWindow(30)]).toEqual([60_000, 120_000, 1500, 90_000, 30_000]);
    expect([parseWindow("0s"), parseWindow("999ms"), parseWindow("2h"), parseWindow("61m"), parseWindow("-5"), parseWindow("5 s"), parseWindow(0.5)]).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
  });

  test("read strictly: unknown fields, wrong types and bad windows are errors", () => {
    expect(reloadRequest("")).toEqual({ explicit: true });
    expect(reloadRequest("{}")).toEqual({ explicit: true });
    expect(reloadRequest('{"confirm":"60s","allowLockout":true,"ssh":"198.51.100.7 40000 192.0.2.10 22"}')).toEqual({ explicit: true, confirmMs: 60_000, allowLockout: true, sessions: [{ family: 4, peer: "198.51.100.7", peerPort: 40000, local: "192.0.2.10", localPort: 22, source: "ssh" }] });
    const errors = ['{"confrim":"60s"}', '{"confirm":"1h1s"}', '{"confirm":true}', '{"allowLockout":"yes"}', '{"ssh":"x"}', "[]", "null", "{", '"60s"'].map((b) => "error" in reloadRequest(b));
    expect(errors).toEqual(Array(9).fill(true));
  });
});

describe("the check's time budget", () => {
  test("sessions the budget does not reach are counted, not evaluated, and said", async () => {
    const { checkLockout, lockoutGate } = await import("../../src/agent/lockout.ts");
    const { loadConfig } = await import("../../src/validate/load.ts");
    const { readdirSync, readFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const dir = join(import.meta.dir, "../../rules");
    const { model } = loadConfig(readdirSync(dir).map((f) => ({ path: f, text: readFileSync(join(dir, f), "utf8") })), { node: "jasper" });
    const { parseAddress } = await import("../../src/model/cidr-parse.ts");
    const p = parseAddress("192.0.2.10");
    const addresses = new Map([["eth0", p.ok ? [p.cidr] : []]]);
    const sessions = [1, 2, 3, 4].map((i) => ({ family: 4 as const, local: "192.0.2.10", localPort: 443, peer: `198.51.100.${i}`, peerPort: 40000, source: "socket" as const }));
    let t = 0;
    const r = checkLockout(model, "jasper", sessions, addresses, { now: () => t++, until: 1 });
    expect([r.checked, r.skipped, r.outOfTime]).toEqual([2, 2, 2]);
    expect(checkLockout(model, "jasper", sessions, addresses)).toMatchObject({ checked: 4, skipped: 0, outOfTime: 0, findings: [] });
    expect(lockoutGate({ model, node: "jasper", addresses, table: { ok: false, error: "cannot read the socket table /proc/self/net/tcp: EACCES" } }).diagnostics.map((d) => [d.code, d.severity, d.message])).toEqual([
      ["LOCKOUT_UNCHECKED", "warning", "cannot read the socket table /proc/self/net/tcp: EACCES: not checked for a lockout (the apply goes on)"],
    ]);
  });
});
