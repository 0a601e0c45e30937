/**
 * Issue #11 items 3 and 7: a valid config that enforces nothing, or less than it says, gets a
 * positioned warning with a hint, from the pipeline every command runs (buildRuleset: check,
 * plan, compile and the agent). Each row: files in, exact warnings out (code, file, line,
 * column, and a phrase of the hint); the config still compiles. Ends with a check that every
 * lint code is exercised, and that the shipped example rules raise none.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { formatDiagnostic } from "../../src/diagnostics/diagnostic.ts";
import type { Cidr } from "../../src/model/cidr.ts";
import { parseAddress } from "../../src/model/cidr-parse.ts";
import { buildRuleset } from "../../src/pipeline.ts";

const V3 = "apiVersion: projectcalico.org/v3";
const hep = (name: string, spec: string, labels = "{role: web}") => `${V3}\nkind: HostEndpoint\nmetadata: {name: ${name}, labels: ${labels}}\nspec: ${spec}\n`;
const gnp = (name: string, spec: string) => `${V3}\nkind: GlobalNetworkPolicy\nmetadata: {name: ${name}}\nspec:\n${spec}`;
const WEB = hep("web", "{node: jasper, interfaceName: eth0, expectedIPs: [192.0.2.10], ports: [{name: http, protocol: TCP, port: 80}]}");

interface Row {
  name: string;
  files: string[];
  node?: string;
  addresses?: Record<string, string[]>;
  /** [code, "file:line:column" ("" for a warning that belongs to no file), a phrase of the message]. */
  want: [string, string, string][];
}

const ROWS: Row[] = [
  { name: "an empty config dir", files: [], want: [["NO_ENDPOINT_ON_NODE", "", "no config files"]] },
  { name: "config files without resources", files: ["# nothing yet\n", ""], want: [["NO_ENDPOINT_ON_NODE", "", "no resources (2 files, all empty)"]] },
  {
    name: "policies but no HostEndpoint",
    files: [gnp("p", "  selector: all()\n  ingress: [{action: Allow}]\n")],
    want: [["NO_ENDPOINT_ON_NODE", "", "no HostEndpoint in the config (1 resource): policies and profiles apply only to HostEndpoints"]],
  },
  {
    name: "the endpoints are for another node: which nodes, which node this is, how to set it",
    files: [WEB, gnp("p", "  selector: role == 'web'\n  ingress: [{action: Allow}]\n")],
    node: "vm",
    want: [["NO_ENDPOINT_ON_NODE", "0.yaml:4:14", 'no HostEndpoint is for this node, "vm" (this node\'s name comes from --node, else HOSTWALL_NODE, else the hostname): the endpoints are for "jasper" (HostEndpoint/web)']],
  },
  {
    name: "a node name one typo away is suggested",
    files: [WEB],
    node: "jaspr",
    want: [["NO_ENDPOINT_ON_NODE", "0.yaml:4:14", "did you mean jasper?"]],
  },
  {
    name: "this node's endpoints bind no interface (expectedIPs held by none)",
    files: [hep("web", "{node: jasper, expectedIPs: [192.0.2.10]}")],
    addresses: { eth0: ["192.0.2.99"] },
    want: [["NO_ENDPOINT_ON_NODE", "0.yaml:4:35", "HostEndpoint/web has no interfaceName, and no interface of this host holds its expectedIPs (192.0.2.10)"]],
  },
  {
    name: "a named port no endpoint declares: the rule never matches",
    files: [WEB, gnp("p", "  selector: role == 'web'\n  ingress:\n    - action: Allow\n      destination: {ports: [https]}\n")],
    want: [["NAMED_PORT_UNDECLARED", "1.yaml:8:29", 'named port "https" (TCP) is declared by no HostEndpoint this side can match, so the rule never matches; declare it']],
  },
  {
    name: "a named port beside a number matches nothing; in notPorts it excludes nothing",
    files: [WEB, gnp("p", "  selector: role == 'web'\n  ingress:\n    - action: Allow\n      protocol: TCP\n      destination: {ports: [22, https]}\n    - action: Deny\n      protocol: TCP\n      destination: {notPorts: [https]}\n")],
    want: [
      ["NAMED_PORT_UNDECLARED", "1.yaml:9:33", "so this entry matches nothing"],
      ["NAMED_PORT_UNDECLARED", "1.yaml:12:32", "so it excludes nothing"],
    ],
  },
  {
    name: "a named port declared with another protocol, or by endpoints the side does not match",
    files: [WEB, gnp("p", "  selector: role == 'web'\n  ingress:\n    - action: Allow\n      protocol: UDP\n      destination: {ports: [http]}\n    - action: Allow\n      destination: {selector: role == 'db', ports: [http]}\n"), `${V3}\nkind: GlobalNetworkSet\nmetadata: {name: db, labels: {role: db}}\nspec: {nets: [198.51.100.0/24]}\n`],
    want: [
      ["NAMED_PORT_UNDECLARED", "1.yaml:9:29", "HostEndpoint/web declares it as TCP"],
      ["NAMED_PORT_UNDECLARED", "1.yaml:11:53", "HostEndpoint/web declares it, but this side's selector does not match it"],
    ],
  },
  {
    name: "types [Egress] with ingress rules, and the reverse",
    files: [WEB, gnp("p", "  selector: role == 'web'\n  types: [Egress]\n  ingress: [{action: Deny}]\n  egress: [{action: Allow}]\n---\n" + gnp("q", "  selector: role == 'web'\n  types: [Ingress]\n  egress: [{action: Allow}, {action: Deny}]\n"))],
    want: [
      ["RULES_IGNORED", "1.yaml:7:3", "types is [Egress], so this ingress rule is never evaluated; add Ingress to spec.types"],
      ["RULES_IGNORED", "1.yaml:16:3", "these 2 egress rules are never evaluated"],
    ],
  },
  {
    name: "a typo in a label key of a rule selector and of a policy selector",
    files: [WEB, gnp("p", "  selector: rol == 'web'\n  ingress:\n    - action: Deny\n      source: {selector: rol == 'web'}\n")],
    want: [
      ["SELECTOR_MATCHES_NOTHING", "1.yaml:5:13", `selector "rol == "web"" matches no HostEndpoint (of any node), so this policy applies nowhere: no label "rol" on any of them; did you mean role?`],
      ["SELECTOR_MATCHES_NOTHING", "1.yaml:8:26", "matches no HostEndpoint and no network set, so this rule never matches"],
    ],
  },
  {
    name: "a typo in a value; a notSelector that matches nothing excludes nothing",
    files: [WEB, gnp("p", "  selector: role == 'web'\n  ingress:\n    - action: Allow\n      source: {notSelector: role == 'wbe'}\n")],
    want: [["SELECTOR_MATCHES_NOTHING", "1.yaml:8:29", "so it excludes nothing: role has the values 'web'; did you mean web?"]],
  },
  {
    name: "not flagged: all(), !has(x), !=, and selectors that match a network set or a profile's labels",
    files: [
      WEB.replace("{role: web}", "{role: web}").replace("ports:", "profiles: [edge], ports:"),
      `${V3}\nkind: Profile\nmetadata: {name: edge}\nspec: {labelsToApply: {zone: dmz}}\n`,
      `${V3}\nkind: GlobalNetworkSet\nmetadata: {name: bad, labels: {deny: 'true'}}\nspec: {nets: [198.51.100.0/24]}\n`,
      gnp("p", "  selector: zone == 'dmz'\n  ingress:\n    - {action: Deny, source: {selector: deny == 'true'}}\n    - {action: Allow, source: {selector: all()}}\n    - {action: Allow, source: {selector: '!has(x)'}}\n    - {action: Allow, source: {selector: role != 'db'}}\n"),
    ],
    want: [],
  },
];

function run(row: Row) {
  const files = row.files.map((text, i) => ({ path: `${i}.yaml`, text }));
  const addresses = row.addresses && new Map(Object.entries(row.addresses).map(([k, v]) => [k, v.map((a) => (parseAddress(a) as { cidr: Cidr }).cidr)]));
  return buildRuleset({ files, node: row.node ?? "jasper", addresses });
}

describe("warnings for configs that do nothing, or less than meant", () => {
  for (const row of ROWS) {
    test(row.name, () => {
      const built = run(row);
      const warnings = built.diagnostics.filter((d) => d.severity === "warning");
      if (warnings.length !== row.want.length) console.error(built.diagnostics.map(formatDiagnostic).join("\n"));
      expect(built.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      expect(warnings.map((d) => [d.code, d.file ? `${d.file}:${d.line}:${d.column}` : ""])).toEqual(row.want.map(([c, at]) => [c, at]));
      warnings.forEach((d, i) => expect(d.message).toContain(row.want[i]![2]));
      expect(built.script).toBeDefined(); // warnings never stop the apply
    });
  }

  test("every lint code is exercised", () => {
    const src = readdirSync(join(import.meta.dir, "../../src/lint")).map((f) => readFileSync(join(import.meta.dir, "../../src/lint", f), "utf8")).join("\n");
    const codes = [...new Set([...src.matchAll(/"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"/g)].map((m) => m[1]!))].sort();
    const tested = new Set(ROWS.flatMap((r) => r.want.map((w) => w[0])));
    expect(codes.filter((c) => !tested.has(c))).toEqual([]);
    expect(codes.length).toBe(4);
  });

  test("the shipped example rules raise no warning on their node", () => {
    const dir = join(import.meta.dir, "../../rules");
    const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).map((f) => ({ path: f, text: readFileSync(join(dir, f), "utf8") }));
    expect(buildRuleset({ files, node: "jasper" }).diagnostics.map(formatDiagnostic)).toEqual([]);
    // … and say so on a host that is not jasper (issue #11 item 3: the README's rules on host "vm").
    expect(buildRuleset({ files, node: "vm" }).diagnostics.map((d) => d.code)).toEqual(["NO_ENDPOINT_ON_NODE"]);
  });
});
