/**
 * Every table, chain and set name and every mark bit hostwall uses, in one place (as Felix's
 * rule_defs.go does). Names derived from user resources use only characters validation has
 * already guaranteed; anything longer or unexpected is replaced by a hash, never embedded.
 */
import { createHash } from "node:crypto";

/** Both tables are called this; the families keep them apart. */
export const TABLE = "hostwall";

/**
 * The named counter a delta writes the tables' stamp on (delta.ts; a table's comment cannot be
 * rewritten in place). No rule uses it, and it is not part of the IR: a listing skips it.
 */
export const STAMP_OBJECT = "hostwall-stamp";

/** Mark bits, Calico's defaults within its 0xffff0000 mask (reference §6.8). */
export const MARK_ACCEPT = 0x10000;
export const MARK_PASS = 0x20000;
/** Set in netdev on packets the untracked stage has evaluated; fragments skip netdev and are evaluated after reassembly. */
export const MARK_SEEN = 0x40000;
/** Clears accept, pass and seen. */
export const MARK_CLEAR = (~(MARK_ACCEPT | MARK_PASS | MARK_SEEN) >>> 0);

/** Priorities: netdev runs first; inet chains sit at the classic raw/mangle/filter places. */
export const PRIORITY_NETDEV = -500;
export const PRIORITY_RAW = -300;
export const PRIORITY_MANGLE = -150;
export const PRIORITY_FILTER = 0;

/** Base chains of the inet table. */
export const CHAIN_RAW_PREROUTING = "raw-prerouting";
export const CHAIN_RAW_OUTPUT = "raw-output";
export const CHAIN_MANGLE_PREROUTING = "mangle-prerouting";
export const CHAIN_FILTER_INPUT = "filter-input";
export const CHAIN_FILTER_OUTPUT = "filter-output";
export const CHAIN_FILTER_FORWARD = "filter-forward";

/** Failsafe chains: tracked stages, and the untracked (raw) variants with reverse-direction accepts. */
export const CHAIN_FAILSAFE_IN = "failsafe-in";
export const CHAIN_FAILSAFE_OUT = "failsafe-out";
export const CHAIN_FAILSAFE_RAW_IN = "failsafe-raw-in";
export const CHAIN_FAILSAFE_RAW_OUT = "failsafe-raw-out";

/**
 * Generated names never collide, by construction. Interface and resource names are limited by
 * validation to letters, digits, `_`, `.` and `-` (interfaces: Calico's pattern, and names
 * read from the system are checked against it in resolve), so every name built here from one
 * of them has one fixed shape per kind of object, and the names that must not look like any
 * of those (the `*` endpoint's chains, hashed policy names) contain `/`, which neither an
 * interface nor a resource name can hold. The compiler still refuses to emit two objects of
 * the same name in a table (table-builder.ts), so a mistake here is an error, never a merged chain.
 */

/** netdev base chain of an interface. */
export const netdevChain = (iface: string) => `ingress-${iface}`;
/**
 * Per-endpoint chain of a stage and direction: `normal-in-eth0`, `forward-out-eth1`, …; the
 * `*` endpoint's are `normal-in/any` (no interface name contains `/`).
 */
export const endpointChain = (stage: string, dir: "in" | "out", iface: string) => (iface === "*" ? `${stage}-${dir}/any` : `${stage}-${dir}-${iface}`);
/** Policy chain: `gnp-<name>-in` (`gnp/<hash>-in` for a name that cannot be embedded). */
export const policyChain = (name: string, dir: "in" | "out") => derived("gnp", name, `-${dir}`);
/** Staged policy chain (count-only): `sgnp-<name>-in` (`sgnp/<hash>-in`). */
export const stagedPolicyChain = (name: string, dir: "in" | "out") => derived("sgnp", name, `-${dir}`);
/** Profile chain: `pro-<name>-in` (`pro/<hash>-in`). */
export const profileChain = (name: string, dir: "in" | "out") => derived("pro", name, `-${dir}`);
/** Address set of a selector: `sel-<hash>-4h` (hosts, hash set) / `-4p` (prefixes, interval set). */
export const selectorSet = (key: string, family: 4 | 6, hosts: boolean) => `sel-${shortHash(key)}-${family}${hosts ? "h" : "p"}`;
/**
 * Per-prefix-length sets of a big selector set (docs/nft-layout.md): `sel-<hash>-4l24`, a hash
 * set of the network addresses of its /24 members, and `sel-<hash>-4r`, one interval set of
 * the members whose length has fewer than PerLengthLayout.rare members. Never equal to `-4h`/`-4p`.
 */
export const selectorLengthSet = (key: string, family: 4 | 6, length: number | "rare" | "prefilter") =>
  `sel-${shortHash(key)}-${family}${length === "rare" ? "r" : length === "prefilter" ? `f${PREFILTER.length}` : `l${length}`}`;
/**
 * When a selector set is split by prefix length (CompileOptions.perLength): a set of one
 * family with at least `threshold` members is; a length with fewer than `rare` members goes
 * into the set's one interval set (`-4r`), which bounds the lookups per packet.
 */
export interface PerLengthLayout {
  threshold: number;
  rare: number;
}
export const PER_LENGTH_DEFAULTS: PerLengthLayout = { threshold: 4096, rare: 64 };

/**
 * The prefilter of a big IPv6 selector set (`sel-<hash>-6f32`, docs/nft-layout.md): a hash set
 * of the /32 networks its members of /32 or longer fall in, looked up before their per-length
 * sets by a Deny or Allow rule with at least `minLookups` of them. bench/RESULTS.md "Session 10" has the
 * numbers (an IPv4 /24 one was measured too: at a million entries nearly every /24 of a random
 * list is taken, and the extra lookup cost more than it saved).
 */
export const PREFILTER = { length: 32, minLookups: 3 } as const;

/** Drop-summary set of one Deny rule (by its origin id): `drops-<hash>-4`, dynamic, with per-address counters. */
export const dropSet = (origin: string, family: 4 | 6) => `drops-${shortHash(origin)}-${family}`;
/** A Log rule's summary set (the addresses whose packets it logged), like dropSet. */
export const logSet = (origin: string, family: 4 | 6) => `logs-${shortHash(origin)}-${family}`;
/** Elements a drop-summary set keeps, and how long an address stays after its last drop (seconds). */
export const DROP_SET_SIZE = 256;
export const DROP_SET_TIMEOUT = 600;

/** Named-port set: `np-<hash>-4` of type `ipv4_addr . inet_proto . inet_service`. */
export const namedPortSet = (key: string, family: 4 | 6) => `np-${shortHash(key)}-${family}`;

const SAFE_PART = /^[a-z0-9][a-z0-9.-]{0,200}$/;

function derived(prefix: string, name: string, suffix: string): string {
  return SAFE_PART.test(name) ? `${prefix}-${name}${suffix}` : `${prefix}/${shortHash(name)}${suffix}`;
}

/** 12 base32 characters of SHA-256: stable across runs and machines. */
function shortHash(text: string): string {
  const digest = createHash("sha256").update(text).digest();
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let out = "";
  for (let i = 0; i < 12; i++) out += alphabet[digest[i]! & 31];
  return out;
}

export const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
