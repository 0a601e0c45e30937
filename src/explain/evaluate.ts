/**
 * A reference evaluator of the Calico host-endpoint policy model: the verdict one packet
 * should get on this node, and the stage / tier / policy / rule (or failsafe, profile, end of
 * tier, default) that decided it. Pure: no I/O, no nftables.
 *
 * It is written from reference/calico-semantics.md (§2 evaluation, §3 stages, §4 rule fields,
 * §10 hostwall's decisions), deliberately *not* from src/nft or src/resolve, so that it can
 * serve as an independent oracle for the compiled ruleset (test/kernel/differential.test.ts)
 * and as the core of `hostwall explain`. It therefore redoes the resolution itself: which
 * HostEndpoint governs an interface, effective labels, applicable policies per stage and
 * direction in tier/policy order (resolution.ts), and rule-selector membership and rule
 * matching (matching.ts). Only the validated model (src/model/*) and its helpers (CIDR
 * containment, selector evaluation) are shared. The walk through the stages is walk.ts.
 *
 * Packet path (reference §3.3, §6.3), tracked stages short-circuit on conntrack state:
 *
 *   ingress  (to a host process via X):  untracked(X in) → preDNAT(X) → normal(X in)
 *   egress   (from a host process via Y): untracked(Y out) → normal(Y out)
 *   forward  (in X, out Y):              untracked(X in) → preDNAT(X) → forward(X in) → forward(Y out)
 *
 * Stage outcomes: Deny ends everything. An Allow by an untracked or pre-DNAT policy sets the
 * accept mark: later stages of the same side are skipped (for forward traffic only X's
 * forward-ingress side; Y's forward-egress side still runs). A failsafe accept, or an
 * established flow, in the untracked / pre-DNAT stage is a plain accept of that hook only,
 * so the next stage still runs (and, for local traffic, accepts it by its own failsafe or
 * conntrack check).
 *
 * Where Calico's code and the reference text disagree and the code was checked, the code
 * wins (the reference's own rule) and the place is marked CALICO-CODE.
 */
import type { Model } from "../model/types.ts";
import type { Explanation, Packet } from "./explanation.ts";
import { RuleMatcher } from "./matching.ts";
import { Resolution } from "./resolution.ts";
import { Run, type WalkContext } from "./walk.ts";

export interface EvaluatorOptions {
  /**
   * Named ports in a rule without `protocol`: Calico's code (felix/calc/rule_scanner.go,
   * `namedPortProto` defaults to TCP; labelindex LookupNamedPorts filters by it) matches
   * only the endpoints' TCP ports ("tcp", the default). The reference text (§4.3) says "any
   * protocol the endpoint declared" ("any").
   */
  namedPortsWithoutProtocol?: "tcp" | "any";
  /**
   * Interface → its addresses, to bind HostEndpoints that have no interfaceName by their
   * expectedIPs (reference §1.2). Without it such endpoints protect nothing here (they still
   * feed rule selectors).
   */
  interfaceAddresses?: Record<string, readonly string[]>;
}

export class Evaluator {
  readonly node: string;
  private readonly context: WalkContext;

  constructor(model: Model, node: string, options: EvaluatorOptions = {}) {
    this.node = node;
    const resolution = new Resolution(model, node, options.interfaceAddresses);
    this.context = { felix: model.felix, resolution, matcher: new RuleMatcher(resolution.members, options.namedPortsWithoutProtocol ?? "tcp") };
  }

  /** Evaluates one packet. */
  evaluate(packet: Packet): Explanation {
    return new Run(this.context, packet).result();
  }
}
