/**
 * FelixConfiguration: the subset hostwall implements, merged with Calico's built-in defaults.
 * `default` applies everywhere, `node.<name>` overrides it on that node. Fields Calico has but
 * hostwall does not implement are warnings, never errors, so a Calico config file still loads.
 */
import type { FieldPath } from "../config/resource.ts";
import { parseCidr } from "../model/cidr-parse.ts";
import { hostBitsMessage } from "../model/host-bits.ts";
import { didYouMean, type Checker, type Obj } from "./check.ts";
import type { FailsafePort, FelixSettings } from "../model/types.ts";
import { DENY_ACTIONS, FAILSAFE_FIELDS, FELIX_FIELDS, keys, LOG_PREFIX_PATTERN, RATE_LIMIT_PATTERN } from "./fields.ts";

const tcp = (port: number): FailsafePort => ({ protocol: "tcp", port });
const udp = (port: number): FailsafePort => ({ protocol: "udp", port });
const CONTROL_PLANE = [179, 2379, 2380, 5473, 6443, 6666, 6667];

/** Calico's defaults (reference §1.9). */
export const DEFAULT_FELIX: FelixSettings = {
  failsafeInbound: [tcp(22), udp(68), ...CONTROL_PLANE.map(tcp)],
  failsafeOutbound: [udp(53), udp(67), ...CONTROL_PLANE.map(tcp)],
  logPrefix: "calico-packet",
  logRateLimitBurst: 5,
  filterDenyAction: "Drop",
  ipv6Support: true,
  conntrackInvalidCheck: true,
};

/** Fields hostwall implements. */
const IMPLEMENTED = keys(FELIX_FIELDS);
const LOG_PREFIX = new RegExp(LOG_PREFIX_PATTERN);
const RATE_LIMIT = new RegExp(RATE_LIMIT_PATTERN);

/** Reads one FelixConfiguration spec into a partial override; unimplemented fields warn. */
export function readFelixSpec(ck: Checker, spec: Obj, path: FieldPath): Partial<FelixSettings> {
  const out: Partial<FelixSettings> = {};
  for (const key of Object.keys(spec)) {
    // A typo of an implemented field is ignored too: say which field it is close to.
    if (!IMPLEMENTED.includes(key)) ck.warn("UNIMPLEMENTED_FIELD", [...path, key], `FelixConfiguration field "${key}" is not implemented by hostwall and is ignored${didYouMean(key, IMPLEMENTED)}`, { key: true });
  }
  if (spec.failsafeInboundHostPorts !== undefined) out.failsafeInbound = readFailsafe(ck, spec.failsafeInboundHostPorts, [...path, "failsafeInboundHostPorts"]);
  if (spec.failsafeOutboundHostPorts !== undefined) out.failsafeOutbound = readFailsafe(ck, spec.failsafeOutboundHostPorts, [...path, "failsafeOutboundHostPorts"]);
  const prefix = ck.string(spec.logPrefix, [...path, "logPrefix"]);
  if (prefix !== undefined) {
    if (LOG_PREFIX.test(prefix)) out.logPrefix = prefix;
    else ck.error("INVALID_LOG_PREFIX", [...path, "logPrefix"], `logPrefix may contain only letters, digits, '%', ':', ' ', '/', '_' and '-'`);
  }
  const rate = ck.string(spec.logActionRateLimit, [...path, "logActionRateLimit"]);
  if (rate !== undefined) {
    const m = RATE_LIMIT.exec(rate);
    if (m) out.logRateLimit = { rate: Number(m[1]), unit: m[2] as "second" };
    else ck.error("INVALID_RATE_LIMIT", [...path, "logActionRateLimit"], `logActionRateLimit "${rate}" must look like 10/second (1-9999 per second, minute, hour or day)${rateHint(rate)}`);
  }
  const burst = ck.number(spec.logActionRateLimitBurst, [...path, "logActionRateLimitBurst"]);
  if (burst !== undefined) {
    if (Number.isInteger(burst) && burst >= 0 && burst <= 9999) out.logRateLimitBurst = burst;
    else ck.error("INVALID_RATE_LIMIT", [...path, "logActionRateLimitBurst"], `logActionRateLimitBurst must be 0-9999, got ${burst}`);
  }
  for (const field of ["nftablesFilterDenyAction", "iptablesFilterDenyAction"] as const) {
    const deny = ck.string(spec[field], [...path, field]);
    if (deny === undefined) continue;
    if (deny === "Drop" || deny === "Reject") out.filterDenyAction = deny;
    else ck.error("INVALID_VALUE", [...path, field], `${field} must be Drop or Reject, got "${deny}"${didYouMean(deny, DENY_ACTIONS)}`);
  }
  const v6 = ck.bool(spec.ipv6Support, [...path, "ipv6Support"]);
  if (v6 !== undefined) out.ipv6Support = v6;
  const noInvalid = ck.bool(spec.disableConntrackInvalidCheck, [...path, "disableConntrackInvalidCheck"]);
  if (noInvalid !== undefined) out.conntrackInvalidCheck = !noInvalid;
  return out;
}

/** `10/sec`, `10/Minute`, `10 / hour`: the unit meant. */
function rateHint(rate: string): string {
  const m = /^\s*([1-9][0-9]{0,3})\s*\/\s*([A-Za-z]+)\s*$/.exec(rate);
  if (!m) return "";
  const units = ["second", "minute", "hour", "day"];
  const unit = units.find((u) => u.startsWith(m[2]!.toLowerCase()) || u === m[2]!.toLowerCase().replace(/s$/, "")) ?? units.find((u) => didYouMean(m[2], [u]) !== "");
  return unit ? `; did you mean ${m[1]}/${unit}?` : "";
}

function readFailsafe(ck: Checker, value: unknown, path: FieldPath): FailsafePort[] {
  const out: FailsafePort[] = [];
  (ck.list(value, path) ?? []).forEach((item, i) => {
    const at = [...path, i];
    const o = ck.object(item, at, keys(FAILSAFE_FIELDS));
    if (!o) return;
    const proto = (ck.string(o.protocol, [...at, "protocol"]) ?? "tcp").toLowerCase();
    if (proto !== "tcp" && proto !== "udp") {
      ck.error("INVALID_PROTOCOL", [...at, "protocol"], `failsafe protocol must be TCP or UDP, got "${String(o.protocol)}"${didYouMean(o.protocol, ["TCP", "UDP"])}`);
      return;
    }
    const port = ck.number(o.port, [...at, "port"]);
    if (port === undefined) {
      if (o.port === undefined) ck.error("MISSING_FIELD", [...at, "port"], "failsafe port is required");
      return;
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      ck.error("INVALID_PORT", [...at, "port"], `port ${port} is out of range 1-65535`);
      return;
    }
    const netText = ck.string(o.net, [...at, "net"]);
    const entry: FailsafePort = { protocol: proto, port };
    if (netText !== undefined) {
      const parsed = parseCidr(netText, "lax");
      if (!parsed.ok) {
        ck.error(parsed.code, [...at, "net"], parsed.message);
        return;
      }
      entry.net = parsed.cidr;
      if (parsed.hostBits) ck.warn("NET_HOST_BITS", [...at, "net"], hostBitsMessage(netText, parsed.cidr));
    }
    out.push(entry);
  });
  return out;
}
