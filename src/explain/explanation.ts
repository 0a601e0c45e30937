/**
 * What the evaluator takes and gives: one packet, and the explanation of its verdict (every
 * stage it went through, what decided each, the Log rules it hit). Shared by the evaluator
 * (evaluate.ts), its text form (format.ts) and `hostwall explain`.
 */
import type { Action, Direction } from "../model/types.ts";

import type { ConntrackState } from "../model/packet.ts";
export type { ConntrackState, Packet, PacketDirection } from "../model/packet.ts";

export type Stage = "untracked" | "preDNAT" | "normal" | "forward";

/** What decided one step. */
export type Reason =
  | { kind: "no-endpoint"; interface: string }
  | { kind: "ipv6-disabled" }
  | { kind: "conntrack"; state: ConntrackState }
  | { kind: "accept-mark"; from: Stage }
  | { kind: "failsafe"; list: "inbound" | "outbound"; reverse: boolean; protocol: "tcp" | "udp"; port: number; net?: string }
  | { kind: "rule"; tier: string; policy: string; ruleIndex: number; action: Action }
  | { kind: "end-of-tier"; tier: string }
  | { kind: "fall-through"; tiers: number }
  | { kind: "profile-rule"; profile: string; ruleIndex: number; action: Action }
  | { kind: "default-allow-profile" }
  | { kind: "missing-profile"; profile: string }
  | { kind: "no-profile-matched" }
  | { kind: "forward-default-allow" };

/** One stage of one endpoint side, evaluated. */
export interface Step {
  stage: Stage | "dispatch";
  /** Which side of the endpoint: ingress chains ("from endpoint") or egress chains ("to endpoint"). */
  side: Direction;
  /** Interface of this side. */
  interface: string;
  /** The HostEndpoint whose chains ran (undefined: no endpoint). */
  endpoint?: string;
  /**
   * allow: accepted with the accept mark (later stages of this side skipped, or final);
   * deny: dropped/rejected; accept: plain accept of this hook only (failsafe or conntrack in
   * untracked/pre-DNAT), the next stage still runs; none: no verdict, the next stage runs.
   */
  outcome: "allow" | "deny" | "accept" | "none";
  reason: Reason;
}

/** A Log rule that matched. */
export interface LogHit {
  stage: Stage;
  side: Direction;
  /** Policy or profile name. */
  owner: string;
  kind: "gnp" | "pro";
  tier: string;
  ruleIndex: number;
  /** The configured prefix with %t %k %n %p substituted (without the ": " nft appends). */
  prefix: string;
}

export interface Explanation {
  /** allow: Calico accepts it; deny: Calico drops or rejects it; none: Calico gives no verdict (untouched or passed through). */
  verdict: "allow" | "deny" | "none";
  /** How a deny is carried out (reference §2.5, §10.11). */
  denyAction?: "drop" | "reject";
  /** The step that made the verdict. */
  decidedBy: Step;
  /** Every step evaluated, in packet order. */
  steps: Step[];
  /** Log rules hit on the way, in order. */
  logs: LogHit[];
  /** The packet was allowed by an untracked policy, so it is not conntracked (`notrack`). */
  notrack: boolean;
}
