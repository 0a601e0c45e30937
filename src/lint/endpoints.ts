/**
 * NO_ENDPOINT_ON_NODE: a config that enforces nothing on this node. Policies and profiles
 * apply only to HostEndpoints of this node (`spec.node` equal to --node, HOSTWALL_NODE or the
 * hostname), so a config without one, or whose endpoints are all for other nodes or bind no
 * interface here, is valid and protects nothing. Said once, with what would make it apply.
 */
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import { formatCidr, type Cidr } from "../model/cidr.ts";
import { didYouMean } from "../validate/check.ts";
import type { Model } from "../model/types.ts";
import type { Plan } from "../resolve/resolve.ts";
import { listed, resourceName, warningAt } from "./where.ts";

const CODE = "NO_ENDPOINT_ON_NODE";
const NODE_HINT = "this node's name comes from --node, else HOSTWALL_NODE, else the hostname";

export interface EndpointLintInput {
  model: Model;
  plan: Plan;
  node: string;
  /** Number of config files read. */
  files: number;
  /** Interface addresses, when known (they bind endpoints that have only expectedIPs). */
  addresses?: ReadonlyMap<string, readonly Cidr[]>;
}

export function lintEndpoints({ model, plan, node, files, addresses }: EndpointLintInput): Diagnostic[] {
  if (plan.endpoints.length > 0) return [];
  const resources = Object.values(model.counts).reduce((a, b) => a + b, 0);
  if (resources === 0) {
    const what = files === 0 ? "no config files" : `no resources (${files} file${files === 1 ? "" : "s"}, all empty)`;
    return [{ code: CODE, severity: "warning", message: `the config holds ${what}: nothing is enforced on node "${node}"` }];
  }
  const heps = model.hostEndpoints;
  if (heps.length === 0) {
    return [{ code: CODE, severity: "warning", message: `no HostEndpoint in the config (${resources} resource${resources === 1 ? "" : "s"}): policies and profiles apply only to HostEndpoints, so nothing is enforced on node "${node}"; add a HostEndpoint with spec.node: ${node}` }];
  }
  const mine = heps.filter((h) => h.node === node);
  if (mine.length === 0) {
    const nodes = [...new Set(heps.map((h) => h.node))].sort();
    const byNode = nodes.map((n) => `"${n}" (${listed(heps.filter((h) => h.node === n).map(resourceName), 3)})`);
    const hint = didYouMean(node, nodes);
    const message = `no HostEndpoint is for this node, "${node}" (${NODE_HINT}): the endpoints are for ${listed(byNode)}, so nothing is enforced here${hint}; run with --node or HOSTWALL_NODE set to the name the endpoints use, or set their spec.node to ${node}`;
    return [warningAt(heps[0]!, ["spec", "node"], CODE, message)];
  }
  // Only endpoints without interfaceName can fail to bind: no interface here holds their expectedIPs.
  const ips = listed(mine.flatMap((h) => h.expectedIPs.map(formatCidr)));
  const one = mine.length === 1;
  const their = one ? "its" : "their";
  const why = addresses ? `no interface of this host holds ${their} expectedIPs (${ips})` : `interface addresses are unknown, so ${their} expectedIPs (${ips}) bind no interface`;
  const message = `no HostEndpoint of this node, "${node}", governs an interface: ${listed(mine.map(resourceName))} ${one ? "has" : "have"} no interfaceName, and ${why}, so nothing is enforced here; set interfaceName, or check the addresses`;
  return [warningAt(mine[0]!, ["spec", "expectedIPs"], CODE, message)];
}
