/**
 * The document `hostwall plan --json` prints: the `endpoints` array in the shape of /status,
 * plus profiles, plus the resources that apply nowhere on this node and why.
 */
import type { Model } from "../model/types.ts";
import type { Plan } from "../resolve/resolve.ts";

export function planDocument(plan: Plan, model: Model) {
  const endpoints = plan.endpoints.map((ep) => {
    const names = (stage: keyof typeof ep.stages, dir: "ingress" | "egress") => ep.stages[stage][dir].flatMap((t) => t.policies.map((p) => p.meta.name));
    return {
      name: ep.hep.meta.name,
      interface: ep.interfaceName,
      policies: {
        ingress: { untracked: names("untracked", "ingress"), preDNAT: names("preDNAT", "ingress"), normal: names("normal", "ingress"), forward: names("forward", "ingress") },
        egress: { untracked: names("untracked", "egress"), normal: names("normal", "egress"), forward: names("forward", "egress") },
      },
      profiles: ep.profiles.map((p) => (p.kind === "profile" ? p.profile.meta.name : p.kind === "missing" ? `${p.name} (missing: deny-all)` : "projectcalico-default-allow")),
    };
  });
  const used = new Set<string>();
  for (const ep of plan.endpoints) {
    for (const stage of Object.values(ep.stages)) for (const tier of [...stage.ingress, ...stage.egress]) for (const p of tier.policies) used.add(p.meta.name);
  }
  const active = new Set(plan.endpoints.map((ep) => ep.hep.meta.name));
  const notApplied: { resource: string; reason: string }[] = [];
  for (const hep of model.hostEndpoints) {
    if (active.has(hep.meta.name)) continue;
    const reason =
      hep.node !== plan.node ? `belongs to node ${hep.node}, not ${plan.node}` :
      hep.interfaceName === undefined ? "bound by expectedIPs only: not supported yet, so not enforced" :
      hep.interfaceName === "*" ? 'interfaceName "*" is not supported yet, so not enforced' :
      `another HostEndpoint governs interface ${hep.interfaceName}`;
    notApplied.push({ resource: `HostEndpoint/${hep.meta.name}`, reason });
  }
  for (const p of model.policies) {
    if (used.has(p.meta.name) && p.kind === "GlobalNetworkPolicy") continue;
    const reason =
      p.kind === "NetworkPolicy" ? "a NetworkPolicy never applies to a host endpoint" :
      p.namespaced ? "namespaceSelector/serviceAccountSelector: never applies to a host endpoint" :
      "its selector matches no HostEndpoint of this node";
    notApplied.push({ resource: `${p.kind}/${p.meta.namespace ? `${p.meta.namespace}/` : ""}${p.meta.name}`, reason });
  }
  return { node: plan.node, endpoints, notApplied };
}

