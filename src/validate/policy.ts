/**
 * GlobalNetworkPolicy and NetworkPolicy specs (reference §1.3-1.5), and the staged kinds'
 * stagedAction. `types` defaults as Calico's API server defaults it: [Ingress] unless there
 * are only egress rules.
 */
import { didYouMean, type Checker, type Obj } from "./check.ts";
import { readRules, readSelector } from "./rules.ts";
import { GLOBAL_ONLY_POLICY_FIELDS, keys, PERFORMANCE_HINTS, POLICY_FIELDS, POLICY_TYPES, STAGED_ACTIONS } from "./fields.ts";
import type { Direction, GlobalNetworkPolicy, Meta, StagedPolicy } from "../model/types.ts";


/**
 * A StagedGlobalNetworkPolicy or StagedNetworkPolicy: validated as the policy it stages, never
 * enforced (resolve places its rules as count-only shadow rules). An empty (or null)
 * stagedAction is Set, as Calico reads the omitted field.
 */
export function readStagedPolicy(ck: Checker, kind: "StagedGlobalNetworkPolicy" | "StagedNetworkPolicy", meta: Meta, spec: unknown): StagedPolicy | undefined {
  const { stagedAction, ...rest } = (typeof spec === "object" && spec !== null ? spec : {}) as Obj;
  const action = stagedAction === null || stagedAction === "" ? undefined : stagedAction;
  if (action !== undefined && !(STAGED_ACTIONS as readonly string[]).includes(String(action))) {
    ck.error("INVALID_VALUE", ["spec", "stagedAction"], `stagedAction must be Set, Delete, Learn or Ignore, got ${JSON.stringify(action)}${didYouMean(action, STAGED_ACTIONS)}`);
    return undefined;
  }
  if (action === "Delete") {
    checkStagedDelete(ck, rest);
    return { kind, meta, action: "Delete" };
  }
  const policy = readPolicy(ck, kind === "StagedGlobalNetworkPolicy" ? "GlobalNetworkPolicy" : "NetworkPolicy", meta, rest);
  return policy ? { kind, meta, action: (action ?? "Set") as StagedPolicy["action"], policy } : undefined;
}

/** With stagedAction Delete every spec field except tier must be empty (Calico compares with a zero spec). */
function checkStagedDelete(ck: Checker, spec: Obj): void {
  for (const [field, v] of Object.entries(spec)) {
    const zero = v === null || v === false || v === "" || (Array.isArray(v) && v.length === 0) || (typeof v === "object" && v !== null && Object.keys(v).length === 0);
    if (field !== "tier" && !zero) ck.error("INVALID_VALUE", ["spec", field], `with stagedAction Delete only spec.tier may be set; remove ${field}`, { key: true });
  }
}


export function readPolicy(ck: Checker, kind: "GlobalNetworkPolicy" | "NetworkPolicy", meta: Meta, value: unknown): GlobalNetworkPolicy | undefined {
  const allowed = kind === "NetworkPolicy" ? keys(POLICY_FIELDS).filter((f) => !GLOBAL_ONLY_POLICY_FIELDS.includes(f)) : keys(POLICY_FIELDS);
  const spec = ck.object(value, ["spec"], allowed);
  if (!spec) return undefined;
  const tier = ck.string(spec.tier, ["spec", "tier"]) ?? "default";
  const order = ck.number(spec.order, ["spec", "order"]);
  for (const field of ["selector", "namespaceSelector", "serviceAccountSelector"] as const) {
    if (typeof spec[field] === "string" && (spec[field] as string).includes("global(")) ck.error("SELECTOR_GLOBAL", ["spec", field], `global() is not allowed in a policy's ${field}`);
  }
  const selector = readSelector(ck, spec.selector ?? "", ["spec", "selector"], "selector");
  const namespaced = Boolean(spec.namespaceSelector || spec.serviceAccountSelector) || kind === "NetworkPolicy";
  readSelector(ck, spec.namespaceSelector, ["spec", "namespaceSelector"], "namespaceSelector");
  readSelector(ck, spec.serviceAccountSelector, ["spec", "serviceAccountSelector"], "serviceAccountSelector");
  const ingress = readRules(ck, spec.ingress, ["spec", "ingress"]);
  const egress = readRules(ck, spec.egress, ["spec", "egress"]);
  const flag = (field: string) => (allowed.includes(field) ? (ck.bool(spec[field], ["spec", field]) ?? false) : false);
  const doNotTrack = flag("doNotTrack");
  const preDNAT = flag("preDNAT");
  const applyOnForward = flag("applyOnForward");
  const types = readTypes(ck, spec);
  const hints = ck.stringList(spec.performanceHints, ["spec", "performanceHints"]);
  hints.forEach(({ value: h, index: i }) => {
    if (!(PERFORMANCE_HINTS as readonly string[]).includes(h)) ck.error("INVALID_VALUE", ["spec", "performanceHints", i], `performanceHints accepts only AssumeNeededOnEveryNode${didYouMean(h, PERFORMANCE_HINTS)}`);
    else if (hints.findIndex((o) => o.value === h) < hints.findIndex((o) => o.index === i)) ck.error("INVALID_VALUE", ["spec", "performanceHints", i], `${h} is listed twice`);
  });
  if (doNotTrack && preDNAT) ck.error("POLICY_FLAGS", ["spec", "preDNAT"], "doNotTrack and preDNAT cannot both be true");
  if (preDNAT && (egress.length > 0 || types?.includes("egress"))) ck.error("PREDNAT_EGRESS", ["spec", spec.egress !== undefined ? "egress" : "types"], "a preDNAT policy can only have ingress rules and types [Ingress]");
  if ((doNotTrack || preDNAT) && !applyOnForward) ck.error("NEEDS_APPLY_ON_FORWARD", ["spec", doNotTrack ? "doNotTrack" : "preDNAT"], `${doNotTrack ? "doNotTrack" : "preDNAT"} policies must also set applyOnForward: true`);
  if (selector === undefined || types === undefined) return undefined;
  return { kind, meta, tier, order, selector, namespaced, types, ingress, egress, doNotTrack, preDNAT, applyOnForward };
}

/** `types` as written, or Calico's default: [Ingress] unless there are only egress rules. */
function readTypes(ck: Checker, spec: Obj): Direction[] | undefined {
  if (spec.types === undefined || (Array.isArray(spec.types) && spec.types.length === 0)) {
    const hasIngress = Array.isArray(spec.ingress) && spec.ingress.length > 0;
    const hasEgress = Array.isArray(spec.egress) && spec.egress.length > 0;
    if (hasEgress && hasIngress) return ["ingress", "egress"];
    return hasEgress ? ["egress"] : ["ingress"];
  }
  const names = ck.stringList(spec.types, ["spec", "types"]);
  const out: Direction[] = [];
  let ok = true;
  names.forEach(({ value: t, index: i }) => {
    const d = t === "Ingress" ? "ingress" : t === "Egress" ? "egress" : undefined;
    if (!d) {
      ck.error("INVALID_TYPES", ["spec", "types", i], `types entries are Ingress or Egress, got "${t}"${didYouMean(t, POLICY_TYPES)}`);
      ok = false;
    } else if (out.includes(d)) {
      ck.error("INVALID_TYPES", ["spec", "types", i], `${t} is listed twice`);
      ok = false;
    } else out.push(d);
  });
  return ok ? out : undefined;
}
