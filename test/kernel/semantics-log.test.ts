/**
 * Log rules, reference §2.3, §1.9 (`logPrefix`, placeholders %t %k %n %p, unknown %x left
 * as is, ": " appended) and §6.7: a Log rule writes one kernel log line (level info) with
 * the configured prefix and processing continues with the next rule, so the packet is still
 * decided by what follows (Allow → answered; nothing → end-of-tier deny; Deny → dropped).
 * Covered in every stage: normal ingress and egress, forwarded, untracked (netdev), pre-DNAT,
 * and in a profile (%k = pro).
 *
 * The kernel log is machine-wide, so every prefix carries this file's lab tag. Netfilter
 * logging from lab namespaces needs `net.netfilter.nf_log_all_netns=1`, which
 * `useSemLab(..., { logging: true })` sets and restores (the harness's enableNetnsLogging).
 */
import { describe, expect, test } from "bun:test";
import { kernelTestGate, kmsgCursor, readKernelLog, type KmsgRecord } from "./lab";
import { docs, felix, gnp, hep, tcp, tier, useSemLab, type Row } from "./semantics-helpers";

const enabled = await kernelTestGate();

/** An Ingress policy body: log TCP connections to 8080, then allow them. */
const LOG_THEN_ALLOW_8080 = `  types: [Ingress]
  ingress:
  - action: Log
    protocol: TCP
    destination:
      ports: [8080]
  - action: Allow
    protocol: TCP
    destination:
      ports: [8080]`;

describe.skipIf(!enabled)("Log rules", () => {
  const s = useSemLab("log", { logging: true });
  /** The log prefix `<tag> %t/%k/%n/%p/%x` as configured; the kernel shows it with the placeholders filled in. */
  const logFelix = () => felix([`logPrefix: "${s.tag} %t/%k/%n/%p/%x"`]);
  const prefix = (tierName: string, kind: string, name: string) => `${s.tag} ${tierName}/${kind}/${name}/${name}/%x: `;
  const tcpIn = (port: number, ok: boolean) => tcp("client", "host", port, ok);
  /** Kernel log lines since `since` that start with `pfx` and mention `dpt`, split by family. */
  async function logLines(since: number, pfx: string, dpt: number, want: number): Promise<{ v4: KmsgRecord[]; v6: KmsgRecord[]; all: KmsgRecord[] }> {
    const all = (await readKernelLog({ since, match: pfx, count: want, timeoutMs: 3000 })).filter((r) => r.message.includes(` DPT=${dpt} `));
    return { all, v4: all.filter((r) => / SRC=\d+\.\d+\.\d+\.\d+ /.test(r.message)), v6: all.filter((r) => / SRC=[0-9a-f:]+:[0-9a-f:]+ /.test(r.message)) };
  }

  test("Log then Allow: one log line per new connection with the configured prefix, and the connection is allowed", async () => {
    await s.apply(
      docs(
        logFelix(),
        hep("eth0"),
        tier("audit", 50),
        gnp("log-web", `  tier: audit\n${LOG_THEN_ALLOW_8080}`),
      ),
    );
    const since = kmsgCursor();
    const [c0, c1] = [await s.packets("gnp/log-web/ingress/0"), await s.packets("gnp/log-web/ingress/1")];
    await s.expectReach(tcpIn(8080, true));
    const pfx = prefix("audit", "gnp", "log-web");
    const lines = await logLines(since, pfx, 8080, 2);
    expect(lines.v4.length).toBe(1);
    expect(lines.v6.length).toBe(1);
    for (const r of lines.all) {
      expect(r.message.startsWith(`${pfx}IN=eth0 OUT= `)).toBe(true);
      expect(r.level).toBe(6); // level info
    }
    expect(lines.v4[0]!.message).toContain(" SRC=192.0.2.20 DST=192.0.2.10 ");
    expect(lines.v4[0]!.message).toContain(" PROTO=TCP ");
    expect((await s.packets("gnp/log-web/ingress/0")) - c0).toBe(2);
    expect((await s.packets("gnp/log-web/ingress/1")) - c1).toBe(2);
  });

  test("Log without a following Allow gives no verdict: logged, then denied at the end of the tier; Log then Deny: logged and dropped", async () => {
    await s.apply(
      docs(
        logFelix(),
        hep("eth0"),
        gnp("log-only", `  types: [Ingress]
  ingress:
  - action: Log
    protocol: TCP
    destination:
      ports: [8081]
  - action: Log
    protocol: TCP
    destination:
      ports: [9000]
  - action: Deny
    protocol: TCP
    destination:
      ports: [9000]
  - action: Allow
    protocol: TCP
    destination:
      ports: [9000, 8080]`),
      ),
    );
    const since = kmsgCursor();
    await s.expectReach([...tcpIn(8081, false), ...tcpIn(9000, false), ...tcpIn(8080, true)]);
    const pfx = prefix("default", "gnp", "log-only");
    const l8081 = await logLines(since, pfx, 8081, 2);
    const l9000 = await logLines(since, pfx, 9000, 4);
    const l8080 = await logLines(since, pfx, 8080, 0);
    // One SYN per probe within the probe window (TCP retransmits after 1 s).
    expect([l8081.v4.length, l8081.v6.length]).toEqual([1, 1]);
    expect([l9000.v4.length, l9000.v6.length]).toEqual([1, 1]);
    expect(l8080.all.length).toBe(0);
  });

  test("Log in egress and in a forwarded (applyOnForward) policy", async () => {
    await s.apply(
      docs(
        logFelix(),
        hep("eth0", { profiles: ["projectcalico-default-allow"] }),
        gnp("log-out", `  types: [Egress]
  egress:
  - action: Log
    protocol: TCP
    destination:
      ports: [8081]
  - action: Allow`),
        gnp("log-fwd", `  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Log
    protocol: TCP
    destination:
      ports: [8080]
      nets: ["198.51.100.20/32"]
  - action: Allow`),
      ),
    );
    const since = kmsgCursor();
    await s.expectReach([
      ["host", "tcp", 4, "client", 8081, true],
      ["client", "tcp", 4, "backend", 8080, true],
    ]);
    const out = await logLines(since, prefix("default", "gnp", "log-out"), 8081, 1);
    expect(out.v4.length).toBe(1);
    expect(out.v4[0]!.message).toMatch(/IN= OUT=eth0 .*SRC=192\.0\.2\.10 DST=192\.0\.2\.20 /);
    const fwd = await logLines(since, prefix("default", "gnp", "log-fwd"), 8080, 1);
    expect(fwd.v4.length).toBe(1);
    expect(fwd.v4[0]!.message).toMatch(/IN=eth0 OUT=eth1 .*SRC=192\.0\.2\.20 DST=198\.51\.100\.20 /);
  });

  test("Log in an untracked (netdev) policy and in a pre-DNAT policy continues to the later stages", async () => {
    // The same Log rule in both stages: TCP to 8080, local and forwarded.
    const log8080 = `  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Log
    protocol: TCP
    destination:
      ports: [8080]`;
    await s.apply(
      docs(
        logFelix(),
        hep("eth0"),
        gnp("log-raw", `  doNotTrack: true\n${log8080}`),
        gnp("log-pre", `  preDNAT: true\n${log8080}`),
        gnp("allow-8080", `  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    destination:
      ports: [8080]`),
      ),
    );
    const since = kmsgCursor();
    await s.expectReach([...tcpIn(8080, true), ...tcpIn(8081, false)]);
    const raw = await logLines(since, prefix("default", "gnp", "log-raw"), 8080, 2);
    const pre = await logLines(since, prefix("default", "gnp", "log-pre"), 8080, 2);
    // Untracked: no conntrack shortcut, every packet of the connection is evaluated and
    // logged (the SYN and at least the handshake's ACK); pre-DNAT: only the first packet.
    expect(raw.v4.length).toBeGreaterThanOrEqual(2);
    expect(raw.v6.length).toBeGreaterThanOrEqual(2);
    expect(raw.v4[0]!.message).toContain(" SYN ");
    expect([pre.v4.length, pre.v6.length]).toEqual([1, 1]);
    expect(pre.v4[0]!.message).toContain(" SYN ");
  });

  test("Log in a profile: %k is pro", async () => {
    await s.apply(
      docs(
        logFelix(),
        hep("eth0", { profiles: ["logging-profile"] }),
        ["apiVersion: projectcalico.org/v3", "kind: Profile", "metadata:", "  name: logging-profile", "spec:", "  ingress:", "  - action: Log", "    protocol: TCP", "  - action: Allow", "    protocol: TCP", "    destination:", "      ports: [8080]"].join("\n"),
      ),
    );
    const since = kmsgCursor();
    await s.expectReach([...tcpIn(8080, true), ...tcpIn(8081, false)]);
    const lines = (await readKernelLog({ since, match: `${s.tag} `, count: 4, timeoutMs: 3000 })).filter((r) => / DPT=808[01] /.test(r.message));
    expect(lines.length).toBe(4);
    for (const r of lines) expect(r.message).toMatch(new RegExp(`^${s.tag} [^ ]*/pro/logging-profile/logging-profile/%x: IN=eth0 `));
  });
  test("logActionRateLimit with burst: at most burst lines at once, and the packets still pass", async () => {
    const rated = felix([`logPrefix: "${s.tag} rated %n"`, "logActionRateLimit: 1/minute", "logActionRateLimitBurst: 2"]);
    await s.apply(
      docs(
        rated,
        hep("eth0"),
        gnp("log-rated", LOG_THEN_ALLOW_8080),
      ),
    );
    const since = kmsgCursor();
    const c0 = await s.packets("gnp/log-rated/ingress/0");
    const rows: Row[] = Array.from({ length: 6 }, (_, i): Row => ["client", "tcp", i % 2 === 0 ? 4 : 6, "host", 8080, true]);
    await s.expectReach(rows);
    const lines = await readKernelLog({ since, match: `${s.tag} rated log-rated: `, count: 3, timeoutMs: 1500 });
    expect(lines.length).toBe(2);
    // The counter sits behind the limit: it counts logged packets only.
    expect((await s.packets("gnp/log-rated/ingress/0")) - c0).toBe(2);
  });
});
