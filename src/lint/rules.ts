/**
 * Rules that are valid but never match, or match less than they say:
 *
 * - RULES_IGNORED: `types: [Egress]` with `ingress:` rules (or the reverse). Calico evaluates
 *   only the directions in `types`, so those rules are dead text.
 * - NAMED_PORT_UNDECLARED: a named port (`ports: [http]`) that no HostEndpoint the rule's side
 *   can match declares with the rule's protocol (TCP when it has none). It compiles to an
 *   empty set: in `ports` that entry matches nothing (the whole rule, when every entry is such
 *   a name); in `notPorts` it excludes nothing. Endpoints of every node count, as in the
 *   named-port sets themselves (resolve/sets.ts).
 */
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import type { FieldPath } from "../config/resource.ts";
import { matchesSelector } from "../model/selector.ts";
import type { Direction, HostEndpoint, Model, Port, Rule } from "../model/types.ts";
import { namedPortProtocol, sideSelectors } from "../resolve/resolve.ts";
import { listed, resourceName, warningAt, type Subject } from "./where.ts";

/** Every rule of the policies (not namespaced ones: they never apply to a host) and profiles, with its path. */
export function* allRules(model: Model): Generator<{ subject: Subject; rule: Rule; path: FieldPath }> {
  const owners: (Subject & { ingress: Rule[]; egress: Rule[] })[] = [...model.policies.filter((p) => !p.namespaced), ...model.profiles];
  for (const owner of owners) {
    for (const direction of ["ingress", "egress"] as const) {
      for (const [i, rule] of owner[direction].entries()) yield { subject: owner, rule, path: ["spec", direction, i] };
    }
  }
}

export function lintIgnoredRules(model: Model): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const p of model.policies) {
    for (const direction of ["ingress", "egress"] as const) {
      const n = p[direction].length;
      if (n === 0 || p.types.includes(direction)) continue;
      const other: Direction = direction === "ingress" ? "egress" : "ingress";
      const types = `[${p.types.map(title).join(", ")}]`;
      out.push(warningAt(p, ["spec", direction], "RULES_IGNORED", `types is ${types}, so ${n === 1 ? `this ${direction} rule is` : `these ${n} ${direction} rules are`} never evaluated; add ${title(direction)} to spec.types, or move the rules to ${other}`, { key: true }));
    }
  }
  return out;
}

export function lintNamedPorts(model: Model, endpoints: readonly { hep: HostEndpoint; labels: Record<string, string> }[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const { subject, rule, path } of allRules(model)) {
    const protocol = namedPortProtocol(rule);
    for (const side of ["source", "destination"] as const) {
      const { positive } = sideSelectors(rule[side]);
      const reachable = endpoints.filter((e) => !positive || matchesSelector(positive, e.labels)).map((e) => e.hep);
      for (const field of ["ports", "notPorts"] as const) {
        const ports = rule[side][field];
        const undeclared = ports.flatMap((p, j) => (p.kind === "named" && !reachable.some((h) => declares(h, p.name, protocol)) ? [j] : []));
        for (const j of undeclared) {
          const name = (ports[j] as Extract<Port, { kind: "named" }>).name;
          const effect = field === "notPorts" ? "so it excludes nothing" : undeclared.length === ports.length ? "so the rule never matches" : "so this entry matches nothing";
          const message = `named port "${name}" (${protocolName(protocol)}) is declared by no HostEndpoint this side can match, ${effect}${why(name, reachable, endpoints.map((e) => e.hep))}`;
          out.push(warningAt(subject, [...path, side, field, j], "NAMED_PORT_UNDECLARED", message));
        }
      }
    }
  }
  return out;
}

function declares(hep: HostEndpoint, name: string, protocol: number): boolean {
  return hep.ports.some((p) => p.name === name && p.protocol.number === protocol);
}

/** What is close: the name with another protocol, or on endpoints the selector does not match. */
function why(name: string, reachable: readonly HostEndpoint[], all: readonly HostEndpoint[]): string {
  const otherProtocol = reachable.flatMap((h) => h.ports.filter((p) => p.name === name).map((p) => `${resourceName(h)} declares it as ${protocolName(p.protocol.number)}`));
  if (otherProtocol.length > 0) return `: ${listed(otherProtocol, 3)}; a rule's named ports use its protocol (TCP when it has none)`;
  const elsewhere = all.filter((h) => !reachable.includes(h) && h.ports.some((p) => p.name === name)).map(resourceName);
  if (elsewhere.length > 0) return `: ${listed(elsewhere, 3)} declares it, but this side's selector does not match it`;
  return `; declare it in a HostEndpoint's spec.ports (name, protocol, port)`;
}

function protocolName(n: number): string {
  return n === 6 ? "TCP" : n === 17 ? "UDP" : n === 132 ? "SCTP" : `protocol ${n}`;
}

function title(d: Direction): string {
  return d === "ingress" ? "Ingress" : "Egress";
}
