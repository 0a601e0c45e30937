/**
 * One packet as hostwall's two readers of a ruleset see it: the evaluator of the Calico model
 * (explain/) and the interpreter of the nft IR (nft/interpret.ts). The unit suite runs both on
 * the same packets and requires the same verdict, so they take one type.
 */

/** Where the packet goes relative to this host. */
export type PacketDirection = "ingress" | "egress" | "forward";

/** Conntrack state of the packet as the tracked stages see it. */
export type ConntrackState = "new" | "established" | "related" | "invalid";

/** One packet, as the evaluator needs it. */
export interface Packet {
  /** ingress: arrives on `inInterface` for a host process; egress: a host process sends it out of `outInterface`; forward: in `inInterface`, out `outInterface`. */
  direction: PacketDirection;
  /** Interface the packet arrives on (ingress, forward). */
  inInterface?: string;
  /** Interface the packet leaves by (egress, forward). */
  outInterface?: string;
  /** IP version. */
  family: 4 | 6;
  /** Source address (plain address, no prefix). */
  src: string;
  /** Destination address. */
  dst: string;
  /** IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...). */
  protocol: number;
  /** Source port (TCP, UDP, SCTP, UDPLite). */
  srcPort?: number;
  /** Destination port. */
  dstPort?: number;
  /** ICMP / ICMPv6 type. */
  icmpType?: number;
  /** ICMP / ICMPv6 code. */
  icmpCode?: number;
  /** Conntrack state in the tracked stages; default "new" (the first packet of a flow). */
  conntrack?: ConntrackState;
  /** The destination after DNAT: the pre-DNAT stage sees `dst`/`dstPort`, later stages this. */
  dnat?: { dst: string; dstPort?: number };
}
