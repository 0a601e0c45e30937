/**
 * SELECTOR_MATCHES_NOTHING: a selector that matches nothing anywhere, usually a typo
 * (`rol == 'web'`, `role == 'wbe'`). A policy's `selector` is looked up among the
 * HostEndpoints of every node (their labels with their profiles' labelsToApply); a rule's
 * `selector` and `notSelector` among those endpoints and every network set. A rule whose
 * selector matches nothing never matches; a notSelector that matches nothing excludes
 * nothing. Selectors that match an object without labels (`all()`, `!has(x)`,
 * `role != 'db'`) are never flagged: they cannot be typos of that kind. The hint names the
 * label keys nothing has (with the nearest key that exists), or the values a key does have.
 */
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import type { FieldPath } from "../config/resource.ts";
import { didYouMean } from "../validate/check.ts";
import { matchesSelector, type Selector } from "../model/selector.ts";
import { canonicalSelector } from "../model/selector-canonical.ts";
import type { Model } from "../model/types.ts";
import { allRules } from "./rules.ts";
import { listed, warningAt, type Subject } from "./where.ts";

type Labels = Record<string, string>;

export function lintSelectors(model: Model, endpoints: readonly { labels: Labels }[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const hepLabels = endpoints.map((e) => e.labels);
  const allLabels = [...hepLabels, ...model.networkSets.map((s) => s.meta.labels)];
  const check = (subject: Subject, path: FieldPath, selector: Selector | undefined, among: readonly Labels[], effect: string, what: string) => {
    if (!selector || matchesSelector(selector, {}) || among.some((l) => matchesSelector(selector, l))) return;
    const message = `${path[path.length - 1]} "${canonicalSelector(selector)}" matches no ${what}, ${effect}${labelHint(selector, among)}`;
    out.push(warningAt(subject, path, "SELECTOR_MATCHES_NOTHING", message));
  };
  for (const p of model.policies) {
    if (!p.namespaced) check(p, ["spec", "selector"], p.selector, hepLabels, "so this policy applies nowhere", "HostEndpoint (of any node)");
  }
  for (const { subject, rule, path } of allRules(model)) {
    for (const side of ["source", "destination"] as const) {
      check(subject, [...path, side, "selector"], rule[side].selector, allLabels, "so this rule never matches", "HostEndpoint and no network set");
      check(subject, [...path, side, "notSelector"], rule[side].notSelector, allLabels, "so it excludes nothing", "HostEndpoint and no network set");
    }
  }
  return out;
}

/** The label keys nothing has (and the nearest existing key), or the values of a compared key. */
function labelHint(selector: Selector, among: readonly Labels[]): string {
  const keys = [...new Set(among.flatMap((l) => Object.keys(l)))].sort();
  const terms = comparisons(selector);
  const missing = [...new Set(terms.map((t) => t.label))].filter((k) => !keys.includes(k));
  if (missing.length > 0) return `: no label ${listed(missing.map((k) => `"${k}"`))} on any of them${missing.length === 1 ? didYouMean(missing[0], keys) : ""}`;
  for (const t of terms) {
    if (t.values.length === 0) continue;
    const values = [...new Set(among.flatMap((l) => (t.label in l ? [l[t.label]!] : [])))].sort();
    if (!t.values.some((v) => values.includes(v))) return `: ${t.label} has the values ${listed(values.map((v) => `'${v}'`))}${t.values.length === 1 ? didYouMean(t.values[0], values) : ""}`;
  }
  return "";
}

/** The labels a selector looks at, with the values it compares them to for equality. */
function comparisons(s: Selector): { label: string; values: string[] }[] {
  switch (s.kind) {
    case "all":
    case "global":
      return [];
    case "has":
      return [{ label: s.label, values: [] }];
    case "eq":
      return [{ label: s.label, values: [s.value] }];
    case "in":
      return [{ label: s.label, values: s.values }];
    case "ne":
    case "notIn":
    case "contains":
    case "startsWith":
    case "endsWith":
      return [{ label: s.label, values: [] }];
    case "not":
      return comparisons(s.operand);
    case "and":
    case "or":
      return s.operands.flatMap(comparisons);
  }
}
