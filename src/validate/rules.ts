/**
 * Rule, EntityRule, port and protocol validation (reference §4). Each check mirrors a Calico
 * validator or CRD constraint; the hints cover the mistakes people actually make (lower-case
 * protocol names, unmasked CIDRs, numeric ports without a protocol).
 */
import type { FieldPath } from "../config/resource.ts";
import { isCatchAll, type Cidr } from "../model/cidr.ts";
import { parseCidr } from "../model/cidr-parse.ts";
import { mentionsGlobal, type Selector } from "../model/selector.ts";
import { parseSelector } from "../model/selector-parse.ts";
import { didYouMean, type Checker, type Obj } from "./check.ts";
import { readAnnotations } from "./meta.ts";
import { isPortName, placeholderHint } from "../model/names.ts";
import type { Action, EntityRule, IcmpMatch, Port, Protocol, Rule } from "../model/types.ts";
import { ENTITY_FIELDS, keys, MAX_RULE_NETS, MAX_RULE_PORTS, MAX_RULES, MAX_SELECTOR, PROTOCOL_NUMBERS, RULE_ACTIONS, RULE_FIELDS, type Fields } from "./fields.ts";

const ACTIONS: readonly Action[] = RULE_ACTIONS;
/** ICMP and ICMPv6 imply the rule's IP version. */
const INFER_FAMILY: Record<string, 4 | 6> = { ICMP: 4, ICMPv6: 6 };
const PROTOCOL_NAMES: Record<string, Protocol> = Object.fromEntries(
  Object.entries(PROTOCOL_NUMBERS).map(([name, number]) => [name, INFER_FAMILY[name] ? { number, name, inferFamily: INFER_FAMILY[name] } : { number, name }]),
);
const PORT_PROTOCOLS = new Set([6, 17, 132]);
const ICMP_FIELDS = keys((RULE_FIELDS.icmp!.shape as { fields: Fields }).fields);

export function readRules(ck: Checker, value: unknown, path: FieldPath): Rule[] {
  const items = ck.list(value, path) ?? [];
  if (items.length > MAX_RULES) ck.error("TOO_MANY_RULES", path, `${items.length} rules; the limit is ${MAX_RULES} per direction`);
  const rules: Rule[] = [];
  items.forEach((item, i) => {
    const rule = readRule(ck, item, [...path, i]);
    if (rule) rules.push(rule);
  });
  return rules;
}

function readRule(ck: Checker, value: unknown, path: FieldPath): Rule | undefined {
  const o = ck.object(value, path, keys(RULE_FIELDS));
  if (!o) return undefined;
  let ok = true;
  const action = ck.string(o.action, [...path, "action"], { required: true });
  if (action !== undefined && !ACTIONS.includes(action as Action)) {
    ck.error("INVALID_ACTION", [...path, "action"], `action "${action}" is not one of Allow, Deny, Log, Pass${didYouMean(action, ACTIONS)}`);
    ok = false;
  }
  if (o.http !== undefined) {
    ck.error("NOT_SUPPORTED", [...path, "http"], "http matches need an application-layer proxy; hostwall rejects them rather than silently widening the rule to L3/L4");
    ok = false;
  }
  const metadata = o.metadata === undefined ? undefined : ck.object(o.metadata, [...path, "metadata"], ["annotations"]);
  if (metadata) readAnnotations(ck, metadata.annotations, [...path, "metadata", "annotations"]);
  const protocol = readProtocol(ck, o.protocol, [...path, "protocol"]);
  const notProtocol = readProtocol(ck, o.notProtocol, [...path, "notProtocol"]);
  const icmp = readIcmp(ck, o.icmp, [...path, "icmp"]);
  const notICMP = readIcmp(ck, o.notICMP, [...path, "notICMP"]);
  const protocolBroken = o.protocol !== undefined && o.protocol !== null && protocol === undefined;
  if (o.icmp !== undefined && icmp && !protocolBroken && !(protocol && (protocol.number === 1 || protocol.number === 58))) {
    ck.error("ICMP_NEEDS_PROTOCOL", [...path, "icmp"], "icmp needs protocol ICMP or ICMPv6");
    ok = false;
  }
  let ipVersion: 4 | 6 | undefined;
  if (o.ipVersion !== undefined) {
    if (o.ipVersion === 4 || o.ipVersion === 6) ipVersion = o.ipVersion;
    else {
      ck.error("INVALID_IP_VERSION", [...path, "ipVersion"], `ipVersion must be 4 or 6, got ${JSON.stringify(o.ipVersion)}${ipVersionHint(o.ipVersion)}`);
      ok = false;
    }
  }
  for (const [field, p] of [["protocol", protocol], ["notProtocol", notProtocol]] as const) {
    if (p?.number === 1 && ipVersion === 6) ck.error("INVALID_IP_VERSION", [...path, "ipVersion"], `${field} ICMP cannot be used with ipVersion 6`);
    if (p?.number === 58 && ipVersion === 4) ck.error("INVALID_IP_VERSION", [...path, "ipVersion"], `${field} ICMPv6 cannot be used with ipVersion 4`);
  }
  const source = readEntity(ck, o.source, [...path, "source"]);
  const destination = readEntity(ck, o.destination, [...path, "destination"]);
  if (!source || !destination || action === undefined) return undefined;
  if (!protocolBroken) checkPorts(ck, path, protocol, source, destination);
  checkFamilies(ck, path, ipVersion, source, destination);
  if (!ok) return undefined;
  const origin = { file: ck.raw.file, ...ck.raw.locate(path) };
  return { action: action as Action, protocol, notProtocol, icmp, notICMP, ipVersion, source, destination, origin };
}

function readProtocol(ck: Checker, value: unknown, path: FieldPath): Protocol | undefined {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === "number" ? value : typeof value === "string" && /^[0-9]+$/.test(value) ? Number(value) : undefined;
  if (n !== undefined) {
    if (!Number.isInteger(n) || n < 1 || n > 255) {
      ck.error("INVALID_PROTOCOL", path, `protocol number ${n} is out of range 1-255`);
      return undefined;
    }
    return { number: n };
  }
  if (typeof value !== "string") {
    ck.error("INVALID_PROTOCOL", path, `protocol must be a name or a number, got ${typeof value}`);
    return undefined;
  }
  const known = PROTOCOL_NAMES[value];
  if (known) return known;
  const hint = didYouMean(value, Object.keys(PROTOCOL_NAMES));
  const caseOnly = hint !== "" && Object.keys(PROTOCOL_NAMES).some((k) => k.toLowerCase() === value.toLowerCase());
  ck.error("INVALID_PROTOCOL", path, `protocol "${value}" is not one of TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255${hint}${caseOnly ? " (names are case-sensitive)" : ""}`);
  return undefined;
}

/** `"4"`, `v6`, `IPv4`: the family meant, written as the number ipVersion takes. */
function ipVersionHint(value: unknown): string {
  const m = typeof value === "string" ? /^(?:ip)?v?([46])$/i.exec(value.trim()) : null;
  return m ? `; did you mean ${m[1]} (a number, without quotes)?` : "";
}

function readIcmp(ck: Checker, value: unknown, path: FieldPath): IcmpMatch | undefined {
  if (value === undefined || value === null) return undefined;
  const o = ck.object(value, path, ICMP_FIELDS);
  if (!o) return undefined;
  const type = ck.number(o.type, [...path, "type"]);
  const code = ck.number(o.code, [...path, "code"]);
  if (type !== undefined && (!Number.isInteger(type) || type < 0 || type > 254)) {
    ck.error("INVALID_ICMP", [...path, "type"], `ICMP type ${type} is out of range 0-254`);
    return undefined;
  }
  if (code !== undefined && (!Number.isInteger(code) || code < 0 || code > 255)) {
    ck.error("INVALID_ICMP", [...path, "code"], `ICMP code ${code} is out of range 0-255`);
    return undefined;
  }
  if (code !== undefined && type === undefined) {
    ck.error("INVALID_ICMP", [...path, "code"], "an ICMP code needs a type");
    return undefined;
  }
  if (type === undefined) return undefined;
  return code === undefined ? { type } : { type, code };
}

function readEntity(ck: Checker, value: unknown, path: FieldPath): EntityRule | undefined {
  const o = ck.object(value, path, keys(ENTITY_FIELDS));
  if (!o) return undefined;
  for (const field of ["serviceAccounts", "services"] as const) {
    if (o[field] !== undefined) ck.error("NOT_SUPPORTED", [...path, field], `${field} match Kubernetes pods and services, never a host endpoint`);
  }
  const nets = readNets(ck, o.nets, [...path, "nets"], false);
  const notNets = readNets(ck, o.notNets, [...path, "notNets"], true);
  const selector = readRuleSelector(ck, o.selector, [...path, "selector"]);
  const notSelector = readSelector(ck, o.notSelector, [...path, "notSelector"], "notSelector");
  const namespaceSelector = readNamespaceSelector(ck, o.namespaceSelector, [...path, "namespaceSelector"]);
  const ports = readPorts(ck, o.ports, [...path, "ports"]);
  const notPorts = readPorts(ck, o.notPorts, [...path, "notPorts"]);
  return { nets, notNets, selector, notSelector, namespaceSelector, ports, notPorts };
}

function readNets(ck: Checker, value: unknown, path: FieldPath, negated: boolean): Cidr[] {
  const items = ck.list(value, path) ?? [];
  if (items.length > MAX_RULE_NETS) ck.error("TOO_MANY_NETS", path, `${items.length} entries; the limit is ${MAX_RULE_NETS} (use a GlobalNetworkSet and a selector)`);
  const out: Cidr[] = [];
  items.forEach((item, i) => {
    const text = ck.string(item, [...path, i]);
    if (text === undefined) return;
    const parsed = parseCidr(text, "strict");
    if (!parsed.ok) {
      ck.error(parsed.code, [...path, i], `${parsed.message}${placeholderHint(text)}`);
      return;
    }
    if (negated && isCatchAll(parsed.cidr)) {
      ck.error("CATCH_ALL_NOT_NETS", [...path, i], `notNets ${text} excludes every address, so the rule could never match`);
      return;
    }
    out.push(parsed.cidr);
  });
  return out;
}

/** Parses a selector field, reporting syntax errors at the offending character in the file. */
export function readSelector(ck: Checker, value: unknown, path: FieldPath, what: string): Selector | undefined {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    ck.error("WRONG_TYPE", path, `expected a selector string, got a mapping; ${selectorFromLabels(value as Obj)}`);
    return undefined;
  }
  const text = ck.string(value, path);
  if (text === undefined) return undefined;
  if (text.length > MAX_SELECTOR) {
    ck.error("SELECTOR_TOO_LONG", path, `${what} is ${text.length} characters long, the limit is ${MAX_SELECTOR}`);
    return undefined;
  }
  const parsed = parseSelector(text);
  if (!parsed.ok) {
    const { offset, message } = parsed.error;
    ck.error("INVALID_SELECTOR", path, `${what} "${text.replace(/[\r\n]+/g, "⏎")}": ${message} at offset ${offset}${selectorHint(text, offset)}`, { at: offset });
    return undefined;
  }
  return parsed.selector;
}

/** `role: web` where a selector belongs: a selector is a string of comparisons. */
function selectorFromLabels(labels: Obj): string {
  const terms = Object.entries(labels).map(([k, v]) => `${k} == '${String(v)}'`);
  return `a selector is one string that compares labels${terms.length > 0 ? `: did you mean "${terms.join(" && ")}"?` : ", e.g. role == 'web'"}`;
}

/** A label written where a selector belongs (`role: web`, `role=web`) gets the selector form. */
function selectorHint(text: string, offset: number): string {
  const m = /^\s*([A-Za-z0-9_./-]+)\s*[:=]\s*['"]?([^'"\s]*)['"]?\s*$/.exec(text);
  if (m && (text[offset] === ":" || text[offset] === "=")) return `; labels are compared with ==: did you mean "${m[1]} == '${m[2]}'"?`;
  return "";
}

function readRuleSelector(ck: Checker, value: unknown, path: FieldPath): Selector | undefined {
  // Calico rejects global( anywhere in a rule's selector, even inside a quoted value; notSelector has no such check.
  if (typeof value === "string" && mentionsGlobal(value)) {
    ck.error("SELECTOR_GLOBAL", path, "global() is only allowed as the whole namespaceSelector of a rule", { at: value.indexOf("global(") });
    return undefined;
  }
  return readSelector(ck, value, path, "selector");
}

/** Calico tokenizes a namespaceSelector that mentions global(: it must be that one token, blanks allowed. */
const GLOBAL_ONLY = /^[ \t]*global\([ \t]*\)[ \t]*$/;

function readNamespaceSelector(ck: Checker, value: unknown, path: FieldPath): Selector | undefined {
  if (typeof value === "string" && mentionsGlobal(value) && !GLOBAL_ONLY.test(value)) {
    ck.error("SELECTOR_GLOBAL", path, "global() must be the whole namespaceSelector, combined with nothing", { at: value.indexOf("global(") });
    return undefined;
  }
  return readSelector(ck, value, path, "namespaceSelector");
}

function readPorts(ck: Checker, value: unknown, path: FieldPath): Port[] {
  const items = ck.list(value, path) ?? [];
  if (items.length > MAX_RULE_PORTS) ck.error("TOO_MANY_PORTS", path, `${items.length} ports; the limit is ${MAX_RULE_PORTS}`);
  const out: Port[] = [];
  items.forEach((item, i) => {
    const port = parsePort(ck, item, [...path, i]);
    if (port) out.push(port);
  });
  return out;
}

function parsePort(ck: Checker, value: unknown, path: FieldPath): Port | undefined {
  const bad = (msg: string) => {
    ck.error("INVALID_PORT", path, msg);
    return undefined;
  };
  const inRange = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (typeof value === "number") return inRange(value) ? { kind: "range", min: value, max: value } : bad(`port ${value} is out of range 1-65535`);
  if (typeof value !== "string") return bad(`a port must be a number, "min:max" or a port name, got ${typeof value}`);
  if (/^[0-9]+$/.test(value)) {
    const n = Number(value);
    return inRange(n) ? { kind: "range", min: n, max: n } : bad(`port ${value} is out of range 1-65535`);
  }
  const range = /^([0-9]+):([0-9]+)$/.exec(value);
  if (range) {
    const [min, max] = [Number(range[1]), Number(range[2])];
    if (!inRange(min) || !inRange(max)) return bad(`port range ${value} is out of range 1-65535`);
    if (min > max) return bad(`port range ${value} is reversed; did you mean ${max}:${min}?`);
    return { kind: "range", min, max };
  }
  if (!isPortName(value)) return bad(`"${value}" is not a port number, a "min:max" range or a valid port name (lower-case letters, digits and '-', at most 15)`);
  return { kind: "named", name: value };
}

function checkPorts(ck: Checker, path: FieldPath, protocol: Protocol | undefined, src: EntityRule, dst: EntityRule): void {
  const sides = [["source", src], ["destination", dst]] as const;
  for (const [side, e] of sides) {
    for (const field of ["ports", "notPorts"] as const) {
      const ports = e[field];
      if (ports.length === 0) continue;
      const at = [...path, side, field];
      if (protocol === undefined) {
        if (ports.some((p) => p.kind === "range")) ck.error("PORT_NEEDS_PROTOCOL", at, "numeric ports need a protocol that has ports (TCP, UDP or SCTP)");
      } else if (!PORT_PROTOCOLS.has(protocol.number)) {
        ck.error("PORT_NEEDS_PROTOCOL", at, `protocol ${protocol.name ?? protocol.number} has no ports; ports need TCP, UDP or SCTP`);
      }
    }
  }
}

function checkFamilies(ck: Checker, path: FieldPath, ipVersion: 4 | 6 | undefined, src: EntityRule, dst: EntityRule): void {
  const all = [...src.nets, ...src.notNets, ...dst.nets, ...dst.notNets];
  const families = new Set(all.map((c) => c.family));
  if (families.size > 1) ck.error("CIDR_FAMILY_MIX", path, "a rule's nets and notNets must all be IPv4 or all IPv6; split it into two rules");
  else if (ipVersion !== undefined && families.size === 1 && !families.has(ipVersion)) {
    ck.error("CIDR_FAMILY_MIX", [...path, "ipVersion"], `ipVersion ${ipVersion} does not match the rule's IPv${[...families][0]} nets`);
  }
}

