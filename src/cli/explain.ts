/**
 * `hostwall explain`: the verdict one packet gets on this node and why, from the reference
 * evaluator (src/explain/evaluate.ts) run on the validated model. The config is loaded by the
 * same path as check, compile and plan (src/cli/commands.ts), so an invalid config gives the
 * same diagnostics and exit code, and nothing is explained for a config that would not apply.
 *
 * The evaluator is independent of the nft compiler by design (it is the oracle of the kernel
 * differential test), so this explains Calico's semantics as hostwall enforces them, not by
 * reading nft; the nft comment printed beside a rule is where its counter lives.
 */
import { Evaluator } from "../explain/evaluate.ts";
import type { Packet, Reason } from "../explain/explanation.ts";
import { formatExplanation } from "../explain/format.ts";
import { formatCidr, type Cidr } from "../model/cidr.ts";
import type { Direction, Model, Origin } from "../model/types.ts";
import { nearest } from "../validate/check.ts";
import type { Io } from "./io.ts";

export interface ExplainOptions {
  /** The validated model of the config dir. */
  model: Model;
  /** This node's name. */
  node: string;
  /** The packet, from the flags (src/cli/explain-args.ts). */
  packet: Packet;
  /** Print the Explanation as JSON instead of text. */
  json: boolean;
  /** Addresses per interface now, to bind endpoints by expectedIPs as the agent does. */
  addresses: ReadonlyMap<string, readonly Cidr[]>;
}

/** Prints the explanation; 0 whatever the verdict (the verdict is the output, not an error). */
export function explainPacket(opts: ExplainOptions, io: Io): number {
  const interfaceAddresses = Object.fromEntries([...opts.addresses].map(([name, list]) => [name, list.map(formatCidr)]));
  const explanation = new Evaluator(opts.model, opts.node, { interfaceAddresses }).evaluate(opts.packet);
  // A node the files give no endpoint is the pipeline's NO_ENDPOINT_ON_NODE warning, printed by the load.
  for (const note of interfaceNotes(opts)) io.err(`hostwall: note: ${note}\n`);
  if (opts.json) io.out(JSON.stringify({ node: opts.node, packet: opts.packet, ...explanation }, null, 2) + "\n");
  else io.out(`node: ${opts.node}\n${formatExplanation(explanation, { packet: opts.packet, locate: locator(opts.model) })}\n`);
  return 0;
}

/**
 * A packet on an interface no HostEndpoint of this node governs is untouched, which is right
 * when meant and a silent wrong answer after a typo (`--in eth9`): name the interfaces that are
 * governed, and the nearest one.
 */
function interfaceNotes(opts: ExplainOptions): string[] {
  const heps = opts.model.hostEndpoints.filter((h) => h.node === opts.node);
  if (heps.length === 0 || heps.some((h) => h.interfaceName === "*")) return [];
  const governed = new Set(heps.flatMap((h) => (h.interfaceName ? [h.interfaceName] : [])));
  for (const [name, list] of opts.addresses) {
    const mine = new Set(list.map(formatCidr));
    if (heps.some((h) => h.interfaceName === undefined && h.expectedIPs.some((ip) => mine.has(formatCidr(ip))))) governed.add(name);
  }
  const names = [...governed].sort();
  return [opts.packet.inInterface, opts.packet.outInterface]
    .filter((i): i is string => i !== undefined && !governed.has(i))
    .map((i) => {
      const near = nearest(i, names);
      return `no HostEndpoint of node ${opts.node} governs ${i}${names.length > 0 ? ` (governed: ${names.join(", ")}${near ? `; did you mean ${near}?` : ""})` : ""}`;
    });
}

const where = (o: Origin) => `${o.file}:${o.line}:${o.column}`;

/** Where the thing a reason names is defined, and the nft comment its counter carries (DESIGN §4). */
function locator(model: Model): (reason: Reason, side: Direction, endpoint?: string) => string | undefined {
  return (reason, side, endpoint) => {
    switch (reason.kind) {
      case "rule": {
        const policy = model.policies.find((p) => p.kind === "GlobalNetworkPolicy" && p.meta.name === reason.policy);
        const rule = policy?.[side][reason.ruleIndex];
        return rule && `at ${where(rule.origin)} (nft comment gnp/${reason.policy}/${side}/${reason.ruleIndex})`;
      }
      case "profile-rule": {
        const rule = model.profiles.find((p) => p.meta.name === reason.profile)?.[side][reason.ruleIndex];
        return rule && `at ${where(rule.origin)} (nft comment pro/${reason.profile}/${side}/${reason.ruleIndex})`;
      }
      case "end-of-tier": {
        const tier = model.tiers.find((t) => t.meta.name === reason.tier);
        return tier && tier.meta.origin.file !== "(built-in)" ? `tier at ${where(tier.meta.origin)}` : undefined;
      }
      case "failsafe":
        return `FelixConfiguration ${reason.list === "inbound" ? "failsafeInboundHostPorts" : "failsafeOutboundHostPorts"} (Calico's defaults unless set)`;
      case "missing-profile":
      case "no-profile-matched":
      case "default-allow-profile": {
        const hep = model.hostEndpoints.find((h) => h.meta.name === endpoint);
        return hep && `profiles of HostEndpoint ${hep.meta.name} at ${where(hep.meta.origin)}`;
      }
      default:
        return undefined;
    }
  };
}
