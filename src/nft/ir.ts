/**
 * The nftables IR: plain data, as knftables models it. The compiler builds it, the renderer
 * turns it into one `nft -f` transaction. Statements are produced only by the compiler's own
 * builders from validated values; comments and log prefixes pass through `safeText` and
 * identifiers through `safeIdentifier` in the renderer, so no user text reaches nft syntax.
 */

export type TableFamily = "netdev" | "inet";
export type Hook = "ingress" | "prerouting" | "input" | "forward" | "output";

/** What produced a rule: a policy/profile rule, or a built-in piece of the layout. */
export interface RuleOrigin {
  /** Counter/comment id, e.g. `gnp/allow-web/ingress/0`. */
  id: string;
  /** YAML file of the rule, when it came from one. */
  file?: string;
  /** 1-based line in that file. */
  line?: number;
  /** 1-based column. */
  column?: number;
}

/** An nft rule: statements in order, an optional comment, and where it came from. */
export interface NftRule {
  /** Statements, e.g. [`ip saddr @s4`, `counter`, `drop`]. */
  statements: string[];
  /** Comment shown by `nft list` (sanitised when rendered). */
  comment?: string;
  /** Source of the rule, for error mapping and counters. */
  origin?: RuleOrigin;
}

/** A base chain's hook. */
export interface BaseHook {
  /** Netfilter hook. */
  hook: Hook;
  /** Priority (lower runs first). */
  priority: number;
  /** Device, for netdev ingress chains. */
  device?: string;
}

export interface NftChain {
  /** Generated identifier. */
  name: string;
  /** Present for base chains. */
  base?: BaseHook;
  /** Rules in order. */
  rules: NftRule[];
}

export interface NftSet {
  /** Generated identifier. */
  name: string;
  /** Element type. */
  type: "ipv4_addr" | "ipv6_addr" | "ipv4_addr . inet_proto . inet_service" | "ipv6_addr . inet_proto . inet_service";
  /** Interval set (prefixes) rather than a hash set (single addresses). */
  interval: boolean;
  /** Elements, already canonical text (addresses or CIDRs). */
  elements: string[];
  /** Comment: the selector the set stands for. */
  comment?: string;
}

export interface NftTable {
  /** Table family. */
  family: TableFamily;
  /** Table name. */
  name: string;
  /** Named sets. */
  sets: NftSet[];
  /** Chains; base chains first by convention. */
  chains: NftChain[];
}

export interface NftRuleset {
  /** The tables hostwall owns, replaced whole on every apply. */
  tables: NftTable[];
}
