/**
 * Tiers and ordering, reference §2.2–§2.4: tier order (and its tie-break by name, and the
 * default order 1,000,000 of §10.9), Pass to the next tier, the end-of-tier deny,
 * `defaultAction: Pass`, tiers without applicable policy being invisible, policy order
 * (missing order last, negative and fractional orders) and Calico's name tie-break
 * (`<name>/<namespace>/<kind>`, so `web.x` sorts before `web`), profiles after the tiers
 * (reached only through Pass), and the forward stage (Pass through every tier is no verdict).
 * The HostEndpoint is eth0 of the lab host; probes come from the client on the LAN.
 */
import { describe, expect, test } from "bun:test";
import { kernelTestGate } from "./lab";
import { docs, gnp, hep, tcp, tier, useSemLab } from "./semantics-helpers";

const enabled = await kernelTestGate();

/** A TCP probe in both families: client → host eth0 (in), host → client (out), client → backend (forwarded). */
const tcpIn = (port: number, ok: boolean) => tcp("client", "host", port, ok);
const tcpOut = (port: number, ok: boolean) => tcp("host", "client", port, ok);
const tcpFwd = (port: number, ok: boolean) => tcp("client", "backend", port, ok);

/** Ingress rules, one per line: "Allow 8080", "Deny 80", "Pass 8080", "Pass", "Allow". */
function ingress(...rules: string[]): string {
  return rulesYaml("ingress", rules);
}
function egress(...rules: string[]): string {
  return rulesYaml("egress", rules);
}
function rulesYaml(dir: "ingress" | "egress", rules: string[]): string {
  const lines = [`  ${dir}:`];
  for (const r of rules) {
    const [action, port] = r.split(" ");
    lines.push(`  - action: ${action}`);
    if (port) lines.push("    protocol: TCP", "    destination:", `      ports: [${port}]`);
  }
  return lines.join("\n");
}
/** A policy spec body: optional tier and order, types, rules. */
function body(o: { tier?: string; order?: number; types?: string; aof?: boolean }, ...parts: string[]): string {
  const lines: string[] = [];
  if (o.tier) lines.push(`  tier: ${o.tier}`);
  if (o.order !== undefined) lines.push(`  order: ${o.order}`);
  if (o.aof) lines.push("  applyOnForward: true");
  lines.push(`  types: [${o.types ?? "Ingress"}]`);
  return [...lines, ...parts].join("\n");
}

describe.skipIf(!enabled)("tiers, Pass, end of tier, ordering, profiles", () => {
  const s = useSemLab("tiers");
  const HEP = hep("eth0");
  const HEP_ALLOW = hep("eth0", { profiles: ["projectcalico-default-allow"] });

  test("tiers run in ascending order, not by name", async () => {
    // zeta (10): deny 8080, pass the rest. alpha (20): allow 8080 and 80.
    const config = (zetaOrder: number) =>
      docs(
        HEP,
        tier("zeta", zetaOrder),
        tier("alpha", 20),
        gnp("z-deny", body({ tier: "zeta" }, ingress("Deny 8080", "Pass"))),
        gnp("a-allow", body({ tier: "alpha" }, ingress("Allow 8080", "Allow 80"))),
      );
    await s.apply(config(10));
    const z0 = await s.packets("gnp/z-deny/ingress/0");
    await s.expectReach([...tcpIn(8080, false), ...tcpIn(80, true)]);
    expect((await s.packets("gnp/z-deny/ingress/0")) - z0).toBe(2); // one SYN per family: a dropped probe gives up before TCP retransmits
    await s.apply(config(30));
    await s.expectReach([...tcpIn(8080, true), ...tcpIn(80, true)]);
  });

  test("tiers of equal order are ordered by name; a tier without order sorts with default (1,000,000) by name", async () => {
    await s.apply(
      docs(
        HEP,
        tier("beta", 10),
        tier("alpha", 10),
        gnp("b-deny", body({ tier: "beta" }, ingress("Deny 8080", "Pass"))),
        gnp("a-allow", body({ tier: "alpha" }, ingress("Allow 8080", "Pass"))),
        gnp("d-allow-80", body({}, ingress("Allow 80"))),
      ),
    );
    await s.expectReach([...tcpIn(8080, true), ...tcpIn(80, true)]);

    // "aaa" (no order) ties with default and comes first by name; "zzz" (no order) comes after it.
    const unordered = (name: string) =>
      docs(
        HEP,
        tier(name),
        gnp("u-allow", body({ tier: name }, ingress("Allow 8080", "Pass"))),
        gnp("d-deny", body({}, ingress("Deny 8080", "Allow 80"))),
      );
    await s.apply(unordered("aaa"));
    await s.expectReach([...tcpIn(8080, true), ...tcpIn(80, true)]);
    await s.apply(unordered("zzz"));
    await s.expectReach([...tcpIn(8080, false), ...tcpIn(80, true)]);
  });

  test("Pass skips the rest of the tier and continues with the next tier", async () => {
    const config = (tier2: string) =>
      docs(
        HEP,
        tier("t1", 10),
        tier("t2", 20),
        gnp("p1", body({ tier: "t1", order: 1 }, ingress("Pass 8080"))),
        gnp("p2", body({ tier: "t1", order: 2 }, ingress("Allow 8080", "Allow 80"))),
        gnp("p3", body({ tier: "t2" }, ingress(tier2))),
      );
    await s.apply(config("Deny 8080"));
    const [p1, p2, p3] = await Promise.all(["gnp/p1/ingress/0", "gnp/p2/ingress/0", "gnp/p3/ingress/0"].map((c) => s.packets(c)));
    await s.expectReach([...tcpIn(8080, false), ...tcpIn(80, true)]);
    // The 8080 SYNs, one per family (dropped probes give up before TCP retransmits).
    expect((await s.packets("gnp/p1/ingress/0")) - p1!).toBe(2);
    expect((await s.packets("gnp/p2/ingress/0")) - p2!).toBe(0); // skipped after Pass
    expect((await s.packets("gnp/p3/ingress/0")) - p3!).toBe(2);
    await s.apply(config("Allow 8080"));
    await s.expectReach([...tcpIn(8080, true), ...tcpIn(80, true)]);
  });

  test("a tier whose policies decide nothing ends in a deny; the next tier and the profile are not reached", async () => {
    await s.apply(
      docs(
        HEP_ALLOW,
        tier("t1", 10),
        tier("t2", 20),
        gnp("only-80", body({ tier: "t1" }, ingress("Allow 80"))),
        gnp("allow-8080", body({ tier: "t2" }, ingress("Allow 8080"))),
      ),
    );
    const t2 = await s.packets("gnp/allow-8080/ingress/0");
    await s.expectReach([...tcpIn(8080, false), ...tcpIn(80, true), ...tcpIn(8081, false)]);
    expect((await s.packets("gnp/allow-8080/ingress/0")) - t2).toBe(0);
  });

  test("defaultAction: Pass lets undecided packets continue to the next tier, and after the last tier to the profiles", async () => {
    const config = (t2Default: "Deny" | "Pass", profiles: boolean) =>
      docs(
        profiles ? HEP_ALLOW : HEP,
        tier("t1", 10, "Pass"),
        tier("t2", 20, t2Default),
        gnp("only-80", body({ tier: "t1" }, ingress("Allow 80"))),
        gnp("allow-8080", body({ tier: "t2" }, ingress("Allow 8080"))),
      );
    await s.apply(config("Deny", true));
    await s.expectReach([...tcpIn(80, true), ...tcpIn(8080, true), ...tcpIn(8081, false)]);
    await s.apply(config("Pass", true));
    await s.expectReach([...tcpIn(80, true), ...tcpIn(8080, true), ...tcpIn(8081, true)]);
    await s.apply(config("Pass", false)); // no profile: the final deny
    await s.expectReach([...tcpIn(80, true), ...tcpIn(8080, true), ...tcpIn(8081, false)]);
  });

  test("only tiers with a policy applicable to this endpoint and direction take part (no end-of-tier deny from others)", async () => {
    await s.apply(
      docs(
        HEP,
        tier("t1", 10),
        tier("t2", 20),
        // t1: one policy for another endpoint, one for this endpoint but egress only.
        gnp("elsewhere", body({ tier: "t1" }, ingress("Allow 80")), "host == 'other'"),
        gnp("t1-egress", body({ tier: "t1", types: "Egress" }, egress("Allow 8080"))),
        gnp("t2-in", body({ tier: "t2" }, ingress("Allow 8080"))),
      ),
    );
    await s.expectReach([
      ...tcpIn(8080, true), // t1 has nothing for ingress here: invisible
      ...tcpIn(80, false), // t2 ends in a deny
      ...tcpOut(8080, true),
      ...tcpOut(80, false), // t1's egress end of tier
    ]);
  });

  test("Pass and end of tier work the same for egress", async () => {
    await s.apply(
      docs(
        HEP_ALLOW,
        tier("t1", 10),
        tier("t2", 20),
        gnp("e1", body({ tier: "t1", types: "Egress" }, egress("Pass 8080", "Allow 80"))),
        gnp("e2", body({ tier: "t2", types: "Egress" }, egress("Deny 8080", "Allow 8081"))),
      ),
    );
    await s.expectReach([...tcpOut(8080, false), ...tcpOut(80, true), ...tcpOut(8081, false), ...tcpIn(8080, true)]);
  });

  test("policies within a tier run by ascending order; a missing order sorts last; negative and fractional orders work", async () => {
    await s.apply(
      docs(
        HEP,
        gnp("deny-first", body({ order: 10 }, ingress("Deny 8080"))),
        gnp("allow-later", body({ order: 20 }, ingress("Allow 8080", "Allow 80"))),
      ),
    );
    await s.expectReach([...tcpIn(8080, false), ...tcpIn(80, true)]);
    await s.apply(
      docs(
        HEP,
        gnp("zero", body({ order: 0 }, ingress("Deny 8080", "Allow 80"))),
        gnp("negative", body({ order: -5.5 }, ingress("Allow 8080"))),
        // 0.25 before 0.5 (truncated to integers they would tie, and "fraction" < "fraction-deny")
        gnp("fraction", body({ order: 0.5 }, ingress("Allow 8081"))),
        gnp("fraction-deny", body({ order: 0.25 }, ingress("Deny 8081"))),
      ),
    );
    await s.expectReach([...tcpIn(8080, true), ...tcpIn(80, true), ...tcpIn(8081, false)]);
    await s.apply(
      docs(
        HEP,
        gnp("aaa-no-order", body({}, ingress("Allow 8080", "Allow 80"))),
        gnp("zzz-huge-order", body({ order: 1e9 }, ingress("Deny 8080"))),
      ),
    );
    await s.expectReach([...tcpIn(8080, false), ...tcpIn(80, true)]);
  });

  test("equal orders are broken by name, with Calico's key <name>/<namespace>/<kind>: web.x before web", async () => {
    await s.apply(
      docs(
        HEP,
        gnp("bb", body({ order: 10 }, ingress("Allow 8080", "Allow 80"))),
        gnp("aa", body({ order: 10 }, ingress("Deny 8080"))),
      ),
    );
    await s.expectReach([...tcpIn(8080, false), ...tcpIn(80, true)]);
    // Plain string order puts "web" first; Calico compares "web/..." with "web.x/...", and
    // '.' (0x2e) < '/' (0x2f), so web.x runs first.
    await s.apply(
      docs(
        HEP,
        gnp("web", body({ order: 10 }, ingress("Allow 8080", "Allow 80"))),
        gnp("web.x", body({ order: 10 }, ingress("Deny 8080"))),
      ),
    );
    await s.expectReach([...tcpIn(8080, false), ...tcpIn(80, true)]);
    await s.apply(
      docs(
        HEP,
        gnp("ab", body({}, ingress("Deny 8080"))),
        gnp("b", body({}, ingress("Allow 8080", "Allow 80"))),
      ),
    );
    await s.expectReach([...tcpIn(8080, false), ...tcpIn(80, true)]);
  });

  test("profiles come after all tiers: Pass in the last tier reaches them, in list order, then the final deny", async () => {
    const profile = (name: string, rules: string) =>
      ["apiVersion: projectcalico.org/v3", "kind: Profile", "metadata:", `  name: ${name}`, "spec:", rules].join("\n");
    const passAll = gnp("pass-all", body({}, ingress("Pass 8080", "Pass 80", "Pass 8081")));
    await s.apply(docs(hep("eth0", { profiles: ["web-only"] }), profile("web-only", ingress("Allow 8080")), passAll));
    await s.expectReach([...tcpIn(8080, true), ...tcpIn(80, false)]);

    await s.apply(
      docs(hep("eth0", { profiles: ["no-8080", "projectcalico-default-allow"] }), profile("no-8080", ingress("Deny 8080")), passAll),
    );
    await s.expectReach([...tcpIn(8080, false), ...tcpIn(80, true), ...tcpIn(8081, true)]);

    // Pass inside a profile leaves that profile (its later Deny is not reached).
    await s.apply(
      docs(hep("eth0", { profiles: ["pass-80", "projectcalico-default-allow"] }), profile("pass-80", ingress("Pass 80", "Deny 80", "Deny 8080")), passAll),
    );
    await s.expectReach([...tcpIn(80, true), ...tcpIn(8080, false), ...tcpIn(8081, true)]);

    // A profile that does not exist is deny-all: the next profile is never reached (§1.7).
    await s.apply(docs(hep("eth0", { profiles: ["does-not-exist", "projectcalico-default-allow"] }), passAll));
    await s.expectReach([...tcpIn(80, false), ...tcpIn(8080, false), ...tcpFwd(8080, true)]);
  });

  test("untracked and pre-DNAT stages: Pass goes to the next tier, and a tier never ends in a deny (always default Pass, §2.4)", async () => {
    const raw = (name: string, o: { tier: string; order?: number }, rules: string) =>
      gnp(name, body({ tier: o.tier, order: o.order, types: "Ingress, Egress" }, "  doNotTrack: true", "  applyOnForward: true", rules));
    const pre = (name: string, o: { tier: string; order?: number }, rules: string) => gnp(name, body({ tier: o.tier, order: o.order }, "  preDNAT: true", "  applyOnForward: true", rules));
    // Symmetric untracked allow of 8443 lives in t2; t1 passes it over a Deny.
    await s.apply(
      docs(
        HEP,
        tier("t1", 10),
        tier("t2", 20),
        raw("raw-pass", { tier: "t1", order: 1 }, `${ingress("Pass 8443", "Deny 8081")}\n${egress("Pass")}`),
        raw("raw-deny", { tier: "t1", order: 2 }, `${ingress("Deny 8443")}\n${egress("Deny")}`),
        raw("raw-allow", { tier: "t2" }, `${ingress("Allow 8443")}\n  egress:\n  - action: Allow\n    protocol: TCP\n    source:\n      ports: [8443]`),
        pre("pre-pass", { tier: "t1", order: 1 }, ingress("Pass 9000")),
        pre("pre-deny", { tier: "t1", order: 2 }, ingress("Deny 9000", "Deny 8080")),
        pre("pre-allow", { tier: "t2" }, ingress("Allow 9000")),
        gnp("normal", body({ tier: "t2" }, ingress("Allow 80"))),
      ),
    );
    await s.expectReach([
      ...tcpIn(8443, true), // untracked: Pass in t1, Allow in t2
      ...tcpIn(9000, true), // pre-DNAT: Pass in t1, Allow in t2
      ...tcpIn(80, true), // no untracked/pre-DNAT verdict anywhere (no end-of-tier deny): normal stage allows
      ...tcpIn(8081, false), // untracked Deny
      ...tcpIn(8080, false), // pre-DNAT Deny
    ]);
  });

  test("forward stage: Pass through every tier gives no verdict (allowed); end of tier denies; profiles do not apply", async () => {
    // No profile: local traffic ends in the final deny, forwarded traffic has no profiles.
    await s.apply(docs(HEP, gnp("fwd-pass", body({ aof: true }, ingress("Pass 8080", "Allow 80")))));
    await s.expectReach([...tcpFwd(8080, true), ...tcpFwd(80, true), ...tcpFwd(8081, false), ...tcpIn(8080, false), ...tcpIn(80, true)]);
    // defaultAction Pass on the only tier: nothing decided, nothing denied when forwarded.
    await s.apply(docs(HEP, tier("t1", 10, "Pass"), gnp("fwd-t1", body({ tier: "t1", aof: true }, ingress("Allow 80")))));
    await s.expectReach([...tcpFwd(8080, true), ...tcpFwd(80, true), ...tcpIn(8080, false), ...tcpIn(80, true)]);
    // A missing (deny-all) profile does not touch forwarded traffic.
    await s.apply(docs(hep("eth0", { profiles: ["does-not-exist"] }), gnp("fwd-pass", body({ aof: true }, ingress("Pass 8080")))));
    await s.expectReach([...tcpFwd(8080, true), ...tcpIn(8080, false)]);
  });
});
