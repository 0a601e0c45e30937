/**
 * The nftables IR: plain data, as knftables models it. The compiler builds it, the renderer
 * turns it into one `nft -f` transaction. Statements are produced only by the compiler's own
 * builders from validated values; comments and log prefixes pass through `safeText` and
 * identifiers through `safeIdentifier` in the renderer, so no user text reaches nft syntax.
 */
import type { Elements } from "./address-list.ts";

export type { Elements };

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
  /** Statements as data, e.g. `ip saddr @s4`, `counter`, `drop` (rendered by render.ts). */
  statements: Statement[];
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
  /** Elements, already canonical text (addresses or CIDRs), in the order the compiler wrote them. */
  elements: Elements;
  /** Comment: the selector the set stands for. */
  comment?: string;
  /**
   * A set the ruleset fills itself (`update @set { ip saddr }`, drop summaries): at most
   * `size` elements, each expiring `timeout` seconds after its last update, each with a
   * counter. Its elements are runtime state, never part of the IR (`elements` is empty).
   */
  dynamic?: { size: number; timeout: number };
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

// ---------------------------------------------------------------------------------------------
// Typed statements (issue #12 item 2). Shaped after libnftables' JSON (man libnftables-json), so
// `nft -j list` output parses into the same types (nft/listing.ts) and the renderer
// (render.ts) is the one place that turns them into nft text. The interpreter (nft/interpret*)
// walks them with a packet.
// ---------------------------------------------------------------------------------------------

/** A packet field or value source on the left of a match. */
export type Field =
  /** `meta nfproto|protocol|l4proto|mark|iifname|oifname`. */
  | { kind: "meta"; key: "nfproto" | "protocol" | "l4proto" | "mark" | "iifname" | "oifname" }
  /**
   * `ip saddr`, `ip6 daddr`, `th dport`, `icmp type`, `icmpv6 code`, `ip frag-off`. The
   * compiler writes ports as `th`; `tcp`/`udp`/`sctp`/`udplite`/`dccp` come only from
   * listings (nft prints `tcp dport` for `meta l4proto tcp th dport`) and are rewritten to
   * `th` by normaliseRuleset (listing-normalise.ts).
   */
  | { kind: "payload"; protocol: "ip" | "ip6" | "th" | "icmp" | "icmpv6" | TransportProtocol; field: "saddr" | "daddr" | "sport" | "dport" | "type" | "code" | "frag-off" }
  /** Raw payload bits: `@ll,116,12`, `@nh,4,12` (base, bit offset, bit length). */
  | { kind: "raw"; base: "ll" | "nh" | "th"; offset: number; length: number }
  /** `ct state`. */
  | { kind: "ct"; key: "state" }
  /** `exthdr frag` (matched with `exists`). */
  | { kind: "exthdr"; name: "frag" }
  /** `field & mask`, e.g. `meta mark & 0x10000`, `ip frag-off & 0x3fff`. */
  | { kind: "and"; field: Field; mask: number }
  /** `a . b . c` (concatenation, for set lookups). */
  | { kind: "concat"; fields: Field[] }
  /**
   * An address field with all but its first `length` bits cleared, `ip saddr & 255.255.240.0`
   * (length 20): the lookup key of a per-prefix-length set (match.ts, docs/nft-layout.md).
   */
  | { kind: "prefix"; field: Field; length: number };

/** Transport headers nft may name in a listing instead of `th`. */
export type TransportProtocol = "tcp" | "udp" | "sctp" | "udplite" | "dccp";

/** One value: a number, a symbolic constant (`tcp`, `ipv4`, `8021q`, `established`), a quoted string (interface names), an address or prefix, a port range, or a concatenation. */
export type Value =
  | { kind: "number"; value: number }
  | { kind: "symbol"; value: string }
  | { kind: "string"; value: string }
  /** Canonical address text, or CIDR text with `/len` (`192.0.2.0/24`, `2001:db8::1`). */
  | { kind: "address"; value: string }
  | { kind: "range"; min: number; max: number }
  | { kind: "concat"; values: Value[] };

/** What a field is compared with: one value, an anonymous set `{ a, b }`, a named set `@name`, or flags (`established,related`). */
export type Operand =
  | { kind: "value"; value: Value }
  | { kind: "set"; elements: Value[] }
  | { kind: "named-set"; name: string }
  | { kind: "flags"; flags: string[] }
  /** `exists` (for exthdr). */
  | { kind: "exists" };

export type Statement =
  /** `left op right`; `==` is written as nothing (`ip saddr @x`), `!=` as `!=`. */
  | { kind: "match"; left: Field; op: "==" | "!="; right: Operand }
  /** `counter` (anonymous; named by the rule's comment/origin id in listings and metrics). */
  | { kind: "counter" }
  /** `meta mark set meta mark | 0x10000` (or) / `meta mark set meta mark & 0xfffcffff` (and). */
  | { kind: "mark"; op: "or" | "and"; value: number }
  /** `limit rate N/unit burst B packets`. */
  | { kind: "limit"; rate: number; per: "second" | "minute" | "hour" | "day"; burst: number }
  /** `log prefix "…" level info`. */
  | { kind: "log"; prefix: string; level: "info" }
  | { kind: "notrack" }
  | { kind: "verdict"; verdict: "accept" | "drop" | "reject" | "return" }
  | { kind: "jump" | "goto"; target: string }
  /**
   * A verdict map: `iifname vmap { "eth0" : jump normal-in-eth0, … }` (the per-interface
   * dispatch). No entry matching means the rule does nothing and the chain goes on.
   */
  | { kind: "vmap"; key: Field; entries: VmapEntry[] }
  /** `update @set { key }`: adds the key to a dynamic set (or refreshes it) and counts the packet on its element. */
  | { kind: "set-update"; set: string; key: Field };

/** One element of a verdict map: key value → jump/goto target. */
export interface VmapEntry {
  /** The key (an interface name as a string value). */
  key: Value;
  /** `jump` or `goto`. */
  verdict: "jump" | "goto";
  /** Target chain. */
  target: string;
}
