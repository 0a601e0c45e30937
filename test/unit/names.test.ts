/**
 * Generated nft names never collide (issue 18, finding 1): a `*` endpoint plus an endpoint on
 * an interface named like the `*` endpoint's old chain suffix (`any-interface`) used to share
 * chains, which nft merges, so the allow-all profile of one decided for the other. A property
 * test over random endpoint and policy sets, names picked from an alphabet of look-alikes, checks
 * every table's chain and set names are unique and every jump lands on the endpoint's own chain.
 */
import { describe, expect, test } from "bun:test";
import { buildRuleset } from "../../src/pipeline.ts";
import { type Cidr } from "../../src/model/cidr.ts";
import { parseAddress } from "../../src/model/cidr-parse.ts";
import { endpointChain, policyChain } from "../../src/nft/names.ts";
import { shuffled } from "../support/shuffle.ts";

const NODE = "jasper";

function address(text: string): Cidr {
  const p = parseAddress(text);
  if (!p.ok) throw new Error(p.message);
  return p.cidr;
}

function hep(name: string, iface: string, profiles: string[] = []): string {
  return `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: ${name}, labels: {ep: ${name}}}
spec: {node: ${NODE}, interfaceName: "${iface}", profiles: [${profiles.join(", ")}]}
`;
}

function gnp(name: string, selector: string, log: boolean): string {
  return `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: ${name}}
spec:
  selector: ${selector}
  types: [Ingress]
  ingress:
${log ? "    - {action: Log, protocol: TCP, destination: {ports: [80, http]}}\n" : ""}    - {action: Allow, protocol: TCP, destination: {ports: [8080]}}
`;
}

/** Interface names that look like the suffixes and separators the compiler uses. */
const INTERFACES = ["any", "any-interface", "eth0", "in-eth0", "out-eth0", "normal-in-eth0", "eth0-r0", "eth0-r0-log", "ingress-x", "r0-log", "in", "out", "a.b", "x_y", "log"];
/** Policy names that look like generated chain names and their suffixes. */
const POLICIES = ["p", "p-in", "p-in-r0", "p-in-r0-log", "in", "out", "gnp-p", "normal-in-any", "any-interface", "h" + "a".repeat(12), "r0", "x.y"];

function chainsAndSets(script: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let table = "";
  for (const line of script.split("\n")) {
    const t = /^table (\S+ \S+) \{$/.exec(line);
    if (t) table = t[1]!;
    const c = /^\t(chain|set) (\S+) \{$/.exec(line);
    if (c) out.set(table, [...(out.get(table) ?? []), `${c[1]} ${c[2]}`]);
  }
  return out;
}

describe("generated names", () => {
  test("the reported clash: a * endpoint and an endpoint on interface any-interface get separate chains", () => {
    const files = [
      { path: "a.yaml", text: hep("wild", "*") },
      { path: "b.yaml", text: hep("named", "any-interface", ["projectcalico-default-allow"]) },
    ];
    const built = buildRuleset({ files, node: NODE });
    expect(built.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const text = built.script!.text;
    expect(text).toContain(`\tchain ${endpointChain("normal", "in", "*")} {`);
    expect(text).toContain(`\tchain ${endpointChain("normal", "in", "any-interface")} {`);
    expect(endpointChain("normal", "in", "*")).not.toBe(endpointChain("normal", "in", "any-interface"));
    // The * endpoint's chain has no accept-all profile rule: it ends in its default deny.
    const wild = text.split(`\tchain ${endpointChain("normal", "in", "*")} {\n`)[1]!.split("\t}")[0]!;
    expect(wild).not.toContain("projectcalico-default-allow");
    expect(wild).toContain("hep/wild/ingress: no policy or profile allowed");
  });

  test("interfaces from the system whose names nft text cannot carry are never bound, and `*` is never the wildcard", () => {
    const text = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: by-ip}
spec: {node: ${NODE}, expectedIPs: [192.0.2.10]}
`;
    for (const iface of ['e"}*', "*", "a b", "x{y}"]) {
      const addresses = new Map([[iface, [address("192.0.2.10")]], ["eth0", [address("192.0.2.99")]]]);
      const built = buildRuleset({ files: [{ path: "a.yaml", text }], node: NODE, addresses });
      expect(built.diagnostics.map((d) => `${d.severity} ${d.code}`)).toEqual(["warning UNSUPPORTED_INTERFACE_NAME", "warning NO_ENDPOINT_ON_NODE"]);
      expect(built.plan!.endpoints).toEqual([]);
      expect(built.script!.text).not.toContain("/any");
    }
  });

  test("a policy name that cannot be embedded is hashed into a name no resource name can take", () => {
    expect(policyChain("h" + "a".repeat(12), "in")).toBe(`gnp-h${"a".repeat(12)}-in`);
    expect(policyChain("x".repeat(230), "in")).toMatch(/^gnp\/[a-z2-7]{12}-in$/);
  });

  test("property: 300 random endpoint and policy sets compile with unique names per table", () => {
    let checked = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const ifaces = shuffled(INTERFACES, seed).slice(0, 1 + (seed % 6));
      const withWildcard = seed % 2 === 0;
      const policies = shuffled(POLICIES, seed * 7).slice(0, 1 + (seed % 5));
      const docs = [
        ...ifaces.map((i, n) => hep(`ep${n}`, i, n % 2 ? ["projectcalico-default-allow"] : [])),
        ...(withWildcard ? [hep("wild", "*")] : []),
        ...policies.map((p, n) => gnp(p, n % 2 ? "all()" : `ep == 'ep0'`, n % 3 === 0)),
      ];
      const built = buildRuleset({ files: [{ path: `seed-${seed}.yaml`, text: docs.join("---\n") }], node: NODE });
      const errors = built.diagnostics.filter((d) => d.severity === "error");
      expect({ seed, errors }).toEqual({ seed, errors: [] });
      for (const [table, names] of chainsAndSets(built.script!.text)) {
        expect({ seed, table, duplicates: names.filter((n, i) => names.indexOf(n) !== i) }).toEqual({ seed, table, duplicates: [] });
      }
      // Each endpoint's dispatch jumps to its own chain only.
      for (const iface of ifaces) expect(built.script!.text).toContain(`"${iface}" : jump ${endpointChain("normal", "in", iface)}`);
      checked++;
    }
    expect(checked).toBe(300);
  });
});
