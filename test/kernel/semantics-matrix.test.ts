/**
 * Reference §2.6, the default behaviour matrix of host endpoints, row by row, for local
 * traffic (to and from host processes) and forwarded traffic (client ↔ backend through
 * host eth0/eth1), in both directions where the row is about a direction, IPv4 and IPv6.
 * The real binary is the agent; every scenario is a complete config it applies.
 *
 * Probe vocabulary: client → host is local ingress on eth0; host → client is local egress
 * on eth0; client → backend is forwarded (in eth0, out eth1); backend → client the reverse.
 */
import { describe, test } from "bun:test";
import { kernelTestGate } from "./lab";
import { allKinds, docs, gnp, hep, tcp, useSemLab, DENY_8081_ALLOW_8080, type Row } from "./semantics-helpers";

const enabled = await kernelTestGate();

/** Every kind of local and forwarded traffic, with the expected outcome per group. */
function matrixRows(e: { localIn: boolean; localOut: boolean; fwdIn: boolean; fwdOut: boolean }): Row[] {
  return [
    ...allKinds("client", "host", e.localIn, 8080, 5353),
    ...allKinds("host", "client", e.localOut, 8080, 5353),
    ...allKinds("client", "backend", e.fwdIn, 8080, 5353),
    ...allKinds("backend", "client", e.fwdOut, 8080, 5353),
  ];
}

/** Failsafe ports: inbound TCP 22 to the host, outbound TCP 179 from the host. */
const FAILSAFE: Row[] = [...tcp("client", "host", 22, true), ...tcp("host", "client", 179, true)];

/** Rule matches no lab traffic meets: a source, or a destination, in TEST-NET-3 (where no lab machine is). */
const NO_MATCH_SRC = `    source:
      nets: ["203.0.113.0/24"]`;
const NO_MATCH_DST = `    destination:
      nets: ["203.0.113.0/24"]`;

/** An applyOnForward egress policy whose only rule matches nothing. */
const AOF_EGRESS_NO_MATCH = `  applyOnForward: true
  types: [Egress]
  egress:
  - action: Allow
${NO_MATCH_DST}`;

describe.skipIf(!enabled)("reference §2.6 default matrix (local and forwarded)", () => {
  const s = useSemLab("matrix");

  test("no HostEndpoint at all: everything is untouched", async () => {
    await s.apply(docs(`# nothing but a comment`));
    await s.expectReach(matrixRows({ localIn: true, localOut: true, fwdIn: true, fwdOut: true }));
  });

  test("a HostEndpoint of another node has no effect here", async () => {
    await s.apply(docs(hep("eth0", { node: "some-other-node" }), hep("eth1", { node: "some-other-node" })));
    await s.expectReach(matrixRows({ localIn: true, localOut: true, fwdIn: true, fwdOut: true }));
  });

  test("row 1: an interface without a HostEndpoint is untouched, even when another interface has one", async () => {
    // Only eth1 is protected (no policy: local traffic through eth1 denied). Traffic that
    // enters through eth0 is not governed, whichever host address it is for.
    await s.apply(docs(hep("eth1")));
    await s.expectReach([
      ...allKinds("client", "host", true, 8080, 5353),
      ...allKinds("client", "hostBackend", true, 8080, 5353), // eth1's address, but arrives on eth0
      ...allKinds("host", "client", true, 8080, 5353),
      ...allKinds("backend", "hostBackend", false, 8080, 5353), // local traffic through eth1: denied
      ...allKinds("backend", "host", false, 8080, 5353), // eth0's address via eth1: eth1 governs it
      ...allKinds("client", "backend", true, 8080, 5353), // forwarded: allowed (no policy)
      ...allKinds("backend", "client", true, 8080, 5353),
    ]);
  });

  test("row 2: HostEndpoint, no policy, no profile: local traffic denied both ways except failsafe; forwarded allowed", async () => {
    await s.apply(docs(hep("eth0")));
    await s.expectReach([
      ...matrixRows({ localIn: false, localOut: false, fwdIn: true, fwdOut: true }),
      ...allKinds("client", "hostBackend", false, 8080, 5353), // any host address, arriving on eth0
      ...FAILSAFE,
    ]);
  });

  test("row 2: HostEndpoints on both interfaces, no policy: forwarded traffic still allowed both ways", async () => {
    await s.apply(docs(hep("eth0"), hep("eth1")));
    await s.expectReach([
      ...matrixRows({ localIn: false, localOut: false, fwdIn: true, fwdOut: true }),
      ...allKinds("backend", "hostBackend", false, 8080, 5353),
    ]);
  });

  test("row 2 per direction: an Ingress-only policy leaves egress with no policy, so egress is denied", async () => {
    await s.apply(
      docs(
        hep("eth0"),
        gnp("allow-all-in", `  types: [Ingress]
  ingress:
  - action: Allow`),
      ),
    );
    await s.expectReach([...matrixRows({ localIn: true, localOut: false, fwdIn: true, fwdOut: true }), ...FAILSAFE]);
    await s.apply(
      docs(
        hep("eth0"),
        gnp("allow-all-out", `  types: [Egress]
  egress:
  - action: Allow`),
      ),
    );
    await s.expectReach([...matrixRows({ localIn: false, localOut: true, fwdIn: true, fwdOut: true }), ...FAILSAFE]);
  });

  test("row 3: HostEndpoint with profile projectcalico-default-allow: local and forwarded allowed", async () => {
    await s.apply(docs(hep("eth0", { profiles: ["projectcalico-default-allow"] }), hep("eth1", { profiles: ["projectcalico-default-allow"] })));
    await s.expectReach([
      ...matrixRows({ localIn: true, localOut: true, fwdIn: true, fwdOut: true }),
      ...allKinds("backend", "hostBackend", true, 8080, 5353),
    ]);
  });

  test("row 4: policies apply but no rule matches: local denied (end of tier, before the profile); forwarded allowed without applyOnForward", async () => {
    await s.apply(
      docs(
        hep("eth0", { profiles: ["projectcalico-default-allow"] }),
        gnp("no-match", `  types: [Ingress, Egress]
  ingress:
  - action: Allow
${NO_MATCH_SRC}
  egress:
  - action: Allow
${NO_MATCH_DST}`),
      ),
    );
    await s.expectReach([...matrixRows({ localIn: false, localOut: false, fwdIn: true, fwdOut: true }), ...FAILSAFE]);
  });

  test("row 4: an applyOnForward Ingress policy with no matching rule denies forwarded traffic entering through that interface only", async () => {
    await s.apply(
      docs(
        hep("eth0"),
        gnp("no-match-fwd-in", `  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Allow
${NO_MATCH_SRC}`),
      ),
    );
    await s.expectReach([
      ...matrixRows({ localIn: false, localOut: false, fwdIn: false, fwdOut: true }),
      ...FAILSAFE,
    ]);
  });

  test("row 4: an applyOnForward Egress policy with no matching rule denies forwarded traffic leaving through that interface only", async () => {
    await s.apply(
      docs(
        hep("eth0"),
        gnp("no-match-fwd-out", AOF_EGRESS_NO_MATCH),
      ),
    );
    await s.expectReach([...matrixRows({ localIn: false, localOut: false, fwdIn: true, fwdOut: false }), ...FAILSAFE]);
  });

  test("row 4: applyOnForward policies on the far interface (eth1) govern forwarded traffic there", async () => {
    // eth0 has a HEP with default-allow profile and no policy; eth1's AOF egress policy
    // matches nothing, so client → backend (out eth1) is denied, backend → client is not.
    await s.apply(
      docs(
        hep("eth0", { profiles: ["projectcalico-default-allow"] }),
        hep("eth1", { labels: { backside: "true" }, profiles: ["projectcalico-default-allow"] }),
        gnp("no-match-fwd-eth1-out", AOF_EGRESS_NO_MATCH, "backside == 'true'"),
      ),
    );
    await s.expectReach([
      ...matrixRows({ localIn: true, localOut: true, fwdIn: false, fwdOut: true }),
      ...allKinds("backend", "hostBackend", true, 8080, 5353), // local ingress on eth1: profile allows
      ...allKinds("host", "backend", false, 8080, 5353), // local egress on eth1: the policy applies, no match
    ]);
  });

  test("row 5: only pre-DNAT policies: local denied unless explicitly allowed; forwarded allowed unless explicitly denied", async () => {
    await s.apply(
      docs(
        hep("eth0"),
        gnp("prednat-only", `  preDNAT: true
  applyOnForward: true
  types: [Ingress]
${DENY_8081_ALLOW_8080}`),
      ),
    );
    await s.expectReach([
      ...matrixRows({ localIn: false, localOut: false, fwdIn: true, fwdOut: true }).filter((r) => !(r[0] === "client" && r[1] === "tcp")),
      ...tcp("client", "host", 8080, true), // explicitly allowed by pre-DNAT
      ...tcp("client", "host", 80, false), // normal stage: no policy → no profile → deny
      ["client", "tcp", 4, "host", 8081, false],
      ...tcp("client", "backend", 8080, true),
      ["client", "tcp", 4, "backend", 80, true],
      ...tcp("client", "backend", 8081, false), // explicitly denied before DNAT/forwarding
      ...FAILSAFE,
    ]);
  });

  test("row 5: only untracked policies: local denied unless explicitly allowed; forwarded allowed unless explicitly denied", async () => {
    await s.apply(
      docs(
        hep("eth0"),
        gnp("untracked-only", `  doNotTrack: true
  applyOnForward: true
  types: [Ingress, Egress]
${DENY_8081_ALLOW_8080}
  egress:
  - action: Allow
    protocol: TCP
    source:
      ports: [8080]`),
      ),
    );
    await s.expectReach([
      ...matrixRows({ localIn: false, localOut: false, fwdIn: true, fwdOut: true }).filter((r) => !(r[0] === "client" && r[1] === "tcp")),
      ...tcp("client", "host", 8080, true), // untracked allow both ways (symmetric rules)
      ...tcp("client", "host", 80, false),
      ["client", "tcp", 4, "host", 8081, false],
      // The untracked Allow leaves no conntrack entry, so the backend's SYN-ACK is conntrack-invalid
      // in eth0's forward chain, which every endpoint has (Felix: HostEndpointToFilterChains).
      ["client", "tcp", 4, "backend", 8080, false],
      ...tcp("client", "backend", 80, true),
      ...tcp("client", "backend", 8081, false),
      ...FAILSAFE,
    ]);
  });

  // Which policies apply at all (§1.3–§1.5, §2.1): they decide between rows 2/3 and row 4.

  test("types defaulting (§1.3): egress rules only → [Egress]; no rules at all → [Ingress]; rules of a direction not in types are ignored", async () => {
    await s.apply(
      docs(
        hep("eth0", { profiles: ["projectcalico-default-allow"] }),
        gnp("egress-rules-only", `  egress:
  - action: Allow
    protocol: TCP
    destination:
      ports: [8080]`),
      ),
    );
    await s.expectReach([
      ...allKinds("client", "host", true, 8080, 5353), // no ingress policy: the profile allows
      ...tcp("host", "client", 8080, true),
      ["host", "udp", 4, "client", 5353, false], // the egress policy applies: end of tier
      ["host", "ping", 6, "client", undefined, false],
    ]);
    await s.apply(docs(hep("eth0", { profiles: ["projectcalico-default-allow"] }), gnp("no-rules", `  order: 1`)));
    await s.expectReach([...allKinds("client", "host", false, 8080, 5353), ...allKinds("host", "client", true, 8080, 5353)]);
    // Explicit types win: egress rules of an Ingress-only policy are ignored.
    await s.apply(
      docs(
        hep("eth0", { profiles: ["projectcalico-default-allow"] }),
        gnp("ingress-typed", `  types: [Ingress]
  ingress:
  - action: Allow
  egress:
  - action: Deny`),
      ),
    );
    await s.expectReach([...allKinds("client", "host", true, 8080, 5353), ...allKinds("host", "client", true, 8080, 5353)]);
  });

  test("a policy selects an endpoint by labels inherited from its profiles; the endpoint's own labels win (§1.7, §2.1)", async () => {
    const profile = ["apiVersion: projectcalico.org/v3", "kind: Profile", "metadata:", "  name: labels", "spec:", "  labelsToApply: { host: \"true\", tier: \"web\" }"].join("\n");
    const denyWeb = gnp("deny-web", `  types: [Ingress]
  ingress:
  - action: Deny`, "tier == 'web'");
    const allowHost = gnp("allow-host", `  order: 1
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    destination:
      ports: [8080]`);
    await s.apply(docs(hep("eth0", { labels: {}, profiles: ["labels"] }), profile, denyWeb, allowHost));
    await s.expectReach([...allKinds("client", "host", false, 8080, 5353).filter((r) => r[1] !== "tcp"), ...tcp("client", "host", 8080, true), ["client", "tcp", 4, "host", 8081, false]]);
    // Own label tier=db overrides the profile's tier=web: deny-web no longer applies.
    await s.apply(docs(hep("eth0", { labels: { tier: "db" }, profiles: ["labels", "projectcalico-default-allow"] }), profile, denyWeb));
    await s.expectReach(allKinds("client", "host", true, 8080, 5353));
  });

  test("policies that can never apply to a host endpoint: GNP with namespaceSelector, NetworkPolicy, staged policies (§1.3–§1.5)", async () => {
    const denyAll = (kind: string, name: string, extra: string) =>
      ["apiVersion: projectcalico.org/v3", `kind: ${kind}`, "metadata:", `  name: ${name}`, extra, "spec:", "  selector: all()", "  types: [Ingress, Egress]", "  ingress:", "  - action: Deny", "  egress:", "  - action: Deny"].filter(Boolean).join("\n");
    await s.apply(
      docs(
        hep("eth0", { profiles: ["projectcalico-default-allow"] }),
        denyAll("GlobalNetworkPolicy", "with-ns-selector", "").replace("  selector: all()", "  selector: all()\n  namespaceSelector: all()"),
        denyAll("NetworkPolicy", "namespaced", "  namespace: default"),
        denyAll("StagedGlobalNetworkPolicy", "staged", ""),
      ),
    );
    await s.expectReach(matrixRows({ localIn: true, localOut: true, fwdIn: true, fwdOut: true }));
  });

  // Beyond the brief's rows, from the same table of reference §1.2/§3.4: an endpoint bound by
  // expectedIPs, and the `*` endpoint that governs every interface without a named one.

  // Calico binds the endpoint to eth0, which owns one of its expectedIPs (reference §1.2).
  test("an endpoint without interfaceName binds to the interface that owns one of its expectedIPs (§1.2)", async () => {
    await s.apply(docs(hep(undefined, { name: "by-ip", expectedIPs: ["192.0.2.10"] })));
    await s.expectReach([
      ...matrixRows({ localIn: false, localOut: false, fwdIn: true, fwdOut: true }),
      ...allKinds("backend", "hostBackend", true, 8080, 5353), // eth1 owns none of the IPs
      ...FAILSAFE,
    ]);
  });

  test("interfaceName \"*\" governs every interface without a named endpoint, loopback excepted (§3.4, §10.2)", async () => {
    await s.apply(docs(hep("*", { name: "all-interfaces" })));
    await s.expectReach([
      ...matrixRows({ localIn: false, localOut: false, fwdIn: true, fwdOut: true }),
      ...allKinds("backend", "hostBackend", false, 8080, 5353),
      ...FAILSAFE,
    ]);
    // Loopback stays untouched: the agent's own API on 127.0.0.1 still answers.
    const health = await s.agent.get("/healthz");
    if (health?.status !== 200) throw new Error(`agent API over lo unreachable under a "*" endpoint: ${JSON.stringify(health)}`);
  });

  // Felix (endpoint_mgr.go) dispatches pre-DNAT only to endpoints with pre-DNAT policy, so a
  // named endpoint without it falls through to "*"; filter chains, forward ones included, exist
  // for every endpoint, so "*" never handles forwarded traffic of a named endpoint's interface.
  test("a named endpoint wins over \"*\" for its interface; pre-DNAT falls through to \"*\", forward does not (§3.4)", async () => {
    await s.apply(
      docs(
        hep("eth0", { name: "named-eth0", profiles: ["projectcalico-default-allow"] }),
        hep("*", { name: "wild", labels: { wild: "true" } }),
        gnp("wild-prednat", `  preDNAT: true
  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [8081]`, "wild == 'true'"),
        gnp("wild-fwd", `  applyOnForward: true
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    destination:
      ports: [8080]
  - action: Allow`, "wild == 'true'"),
      ),
    );
    await s.expectReach([
      ...tcp("client", "host", 8080, true), // eth0's normal stage is the named endpoint's: profile allows
      ...tcp("client", "host", 8081, false), // eth0 has no pre-DNAT policy: the "*" endpoint's pre-DNAT Deny
      ...tcp("client", "backend", 8080, true), // eth0's own forward chain (no applyOnForward policy: allow), not "*"'s
      ...tcp("client", "backend", 80, true),
      ...tcp("backend", "hostBackend", 80, true), // eth1 is governed by "*"
      ...tcp("backend", "hostBackend", 8080, false),
      ...tcp("backend", "client", 8080, false),
    ]);
  });
});
