/**
 * metadata of every resource (reference §1.1): names per kind, namespace, labels, annotations.
 * The checks follow Calico's validator (validateObjectMeta and the per-kind name regexes);
 * the hints cover what people write by mistake: a selector where labels belong, a `<placeholder>`
 * left in a name, upper case and underscores.
 */
import type { FieldPath } from "../config/resource.ts";
import type { Checker } from "./check.ts";
import { KIND_TABLE, KINDS, keys, METADATA_FIELDS } from "./fields.ts";
import { isDnsLabel, isDnsSubdomain, isNetworkPolicyName, isPolicyName, labelKeyProblem, labelValueProblem, nameProblem, placeholderHint } from "../model/names.ts";
import { type Selector } from "../model/selector.ts";
import { parseSelector } from "../model/selector-parse.ts";
import type { Meta, Origin } from "../model/types.ts";

const RESERVED_NAMESPACE_LABEL = "projectcalico.org/namespace";
const NAMESPACED = new Set(KINDS.filter((k) => KIND_TABLE[k]!.namespaced));
/** Total bytes of annotation keys and values Calico accepts on a resource or a rule. */
const MAX_ANNOTATION_BYTES = 256 * 1024;

export function readMeta(ck: Checker, kind: string, value: unknown): Meta | undefined {
  const o = ck.object(value, ["metadata"], keys(METADATA_FIELDS));
  if (!o) return undefined;
  // A missing or non-string name is reported, and the rest is still checked under an empty name.
  const name = ck.string(o.name, ["metadata", "name"], { required: true }) ?? "";
  if (!(name === "" && o.name !== "")) {
    const problem = nameRuleProblem(kind, name);
    if (problem) ck.error("INVALID_NAME", ["metadata", "name"], `name "${name}" ${problem}${placeholderHint(name)}`);
  }
  const namespace = ck.string(o.namespace, ["metadata", "namespace"]);
  if (NAMESPACED.has(kind) && namespace === undefined) ck.error("MISSING_FIELD", ["metadata", "namespace"], `${kind} is namespaced: metadata.namespace is required`);
  if (!NAMESPACED.has(kind) && namespace !== undefined) ck.error("UNKNOWN_FIELD", ["metadata", "namespace"], `${kind} is cluster-wide and takes no namespace`, { key: true });
  if (namespace !== undefined && !isDnsLabel(namespace)) ck.error("INVALID_NAME", ["metadata", "namespace"], `namespace "${namespace}" must be a DNS label${placeholderHint(namespace)}`);
  const labels = readLabels(ck, o.labels, ["metadata", "labels"]);
  if (kind.endsWith("NetworkSet") && RESERVED_NAMESPACE_LABEL in labels) {
    ck.error("RESERVED_LABEL", ["metadata", "labels", RESERVED_NAMESPACE_LABEL], `${RESERVED_NAMESPACE_LABEL} is set by Calico and may not be set on a network set`, { key: true });
  }
  if (kind === "NetworkSet" && namespace) labels[RESERVED_NAMESPACE_LABEL] = namespace;
  readAnnotations(ck, o.annotations, ["metadata", "annotations"]);
  return { name, namespace: NAMESPACED.has(kind) ? namespace : undefined, labels, origin: lazyOrigin(ck) };
}

/** Why a name is invalid for its kind (Calico's per-kind regexes), or undefined. */
function nameRuleProblem(kind: string, name: string): string | undefined {
  if (kind === "Tier") return isDnsLabel(name) && name !== "" ? undefined : "is not valid: tier names are a single DNS label (lower-case letters, digits and '-', no '.', at most 63)";
  if (kind === "GlobalNetworkPolicy" || kind === "StagedGlobalNetworkPolicy") return isPolicyName(name) ? undefined : policyNameProblem(name);
  if (kind === "NetworkPolicy" || kind === "StagedNetworkPolicy") return isNetworkPolicyName(name) ? undefined : policyNameProblem(name);
  return isDnsSubdomain(name) ? undefined : nameProblem(name);
}

function policyNameProblem(name: string): string {
  return name.split(".").length > 2 && isDnsSubdomain(name) ? "is not valid: policy names may contain at most one '.'" : nameProblem(name);
}

export function readLabels(ck: Checker, value: unknown, path: FieldPath): Record<string, string> {
  if (typeof value === "string" || Array.isArray(value)) {
    ck.error("WRONG_TYPE", path, `expected a mapping of label keys to values, got ${Array.isArray(value) ? "a list" : JSON.stringify(value)}${labelsHint(value)}`);
    return {};
  }
  const labels = ck.stringMap(value, path);
  for (const [k, v] of Object.entries(labels)) {
    const keyProblem = labelKeyProblem(k);
    if (keyProblem) ck.error("INVALID_LABEL_KEY", [...path, k], `label key "${k}": ${keyProblem}${/[=!()&|:]/.test(k) ? `${labelsHint(k)}` : ""}`, { key: true });
    const valueProblem = labelValueProblem(v);
    if (valueProblem) ck.error("INVALID_LABEL_VALUE", [...path, k], `label value "${v}": ${valueProblem}${placeholderHint(v)}`);
  }
  return labels;
}

/** A selector (or `k=v` text) written where labels belong: suggest the key: value form. */
function labelsHint(value: unknown): string {
  const texts = typeof value === "string" ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
  const pairs: string[] = [];
  for (const text of texts) {
    const eq = /^\s*([A-Za-z0-9_./-]+)\s*=\s*([A-Za-z0-9_.-]*)\s*$/.exec(text);
    if (eq) {
      pairs.push(`${eq[1]}: '${eq[2]}'`);
      continue;
    }
    const parsed = parseSelector(text);
    const terms = parsed.ok ? equalities(parsed.selector) : undefined;
    if (!terms) return "; this looks like a selector, but labels are key: value pairs";
    pairs.push(...terms.map(([k, v]) => `${k}: '${v}'`));
  }
  if (pairs.length === 0) return "";
  return `; this looks like a selector, but labels are key: value pairs: did you mean {${pairs.join(", ")}}?`;
}

/** `a == 'x' && b == 'y'` as [[a, x], [b, y]]; undefined for anything else. */
function equalities(selector: Selector): [string, string][] | undefined {
  if (selector.kind === "eq") return [[selector.label, selector.value]];
  if (selector.kind !== "and") return undefined;
  const out: [string, string][] = [];
  for (const operand of selector.operands) {
    const terms = equalities(operand);
    if (!terms) return undefined;
    out.push(...terms);
  }
  return out;
}

/** Annotations: keys are lower-cased and checked as qualified names; keys and values together ≤ 256 KiB. */
export function readAnnotations(ck: Checker, value: unknown, path: FieldPath): void {
  const annotations = ck.stringMap(value, path);
  let bytes = 0;
  for (const [k, v] of Object.entries(annotations)) {
    const problem = labelKeyProblem(k.toLowerCase());
    if (problem) ck.error("INVALID_ANNOTATION", [...path, k], `annotation key "${k}": ${problem}`, { key: true });
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (bytes > MAX_ANNOTATION_BYTES) ck.error("ANNOTATIONS_TOO_LARGE", path, `annotations take ${bytes} bytes, ${bytes - MAX_ANNOTATION_BYTES} more than the limit of ${MAX_ANNOTATION_BYTES} (256 KiB)`);
}

/**
 * The resource's position, computed on first use: for files read by the large-file fast path
 * a position costs a full positioned parse, which only a diagnostic should pay for.
 */
function lazyOrigin(ck: Checker): Origin {
  let at: { line: number; column: number } | undefined;
  const { file, locate } = ck.raw; // not ck nor raw: the model keeps its origins, and raw holds the parsed value (20 MB at 1M nets)
  const where = () => (at ??= locate([]));
  return {
    file,
    get line() {
      return where().line;
    },
    get column() {
      return where().column;
    },
    locate: (path, opts) => locate(path, opts),
  };
}
