/**
 * Name and label rules (reference §1.1, Kubernetes validation as Calico's validator applies it).
 * Everything that passes here is also safe as part of an nft identifier or comment, which the
 * renderer relies on only as a second line of defence (it re-checks).
 */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/**
 * DNS-1123 subdomain as Kubernetes and Calico check it: dot-separated parts of lower-case
 * letters, digits and '-' (each starting and ending with a letter or digit), ≤ 253 characters
 * in all. Like Calico's nameRegex and Kubernetes' IsDNS1123Subdomain, no 63-character limit
 * per part: a 253-character name in one part is valid.
 */
export function isDnsSubdomain(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split(".").every((part) => DNS_LABEL.test(part));
}

/** DNS-1123 label: ≤ 63 characters, no dots. */
export function isDnsLabel(name: string): boolean {
  return name.length <= 63 && DNS_LABEL.test(name);
}

/**
 * GlobalNetworkPolicy names (Calico's globalNetworkPolicyNameRegex and the 253 limit): a label
 * form optionally preceded by exactly one `label.`, with no 63-character limit per part.
 */
export function isPolicyName(name: string): boolean {
  const parts = name.split(".");
  return name.length > 0 && name.length <= 253 && parts.length <= 2 && parts.every((p) => DNS_LABEL.test(p));
}

/** NetworkPolicy names: like GlobalNetworkPolicy, or a subdomain behind `knp.default.` / `ossg.default.` (Kubernetes-derived policies). */
export function isNetworkPolicyName(name: string): boolean {
  const derived = /^(?:knp|ossg)\.default\.(.+)$/.exec(name);
  return isPolicyName(name) || (derived !== null && name.length <= 253 && isDnsSubdomain(derived[1]!));
}

/**
 * A hint when text still holds a template placeholder from a guide: `<your-node-name>`,
 * `INSERT_IP_HERE`, `{{ node }}`, `${NODE}`. Empty when there is none.
 */
export function placeholderHint(text: string): string {
  const m = /<[^<>]*>|\{\{[^}]*\}\}|\$\{[^}]*\}|\b(?:[A-Z0-9]+_)*(?:INSERT|YOUR|REPLACE|HERE|CHANGEME|TODO)(?:_[A-Z0-9]+)*\b/.exec(text);
  return m ? ` (a placeholder is still in the file: replace ${m[0]} with the real value)` : "";
}

/** Explains why a name is not a DNS-1123 subdomain, for the error message. */
export function nameProblem(name: string): string {
  if (name.length === 0) return "must not be empty";
  if (name.length > 253) return `is ${name.length} characters long, the limit is 253`;
  const suggestion = name.toLowerCase().replaceAll("_", "-");
  if (/[A-Z_]/.test(name) && isDnsSubdomain(suggestion)) return `${/[A-Z]/.test(name) ? "must be lower case" : ""}${/[A-Z]/.test(name) && name.includes("_") ? " and " : ""}${name.includes("_") ? "must use '-' instead of '_'" : ""} (did you mean "${suggestion}"?)`;
  return "must consist of lower-case letters, digits, '-' and '.', and start and end with a letter or digit";
}

/** Kubernetes qualified label key: optional DNS-subdomain prefix and `/`, then a name ≤ 63. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return `prefix "${prefix}" must be a lower-case DNS subdomain`;
  if (name.length === 0 || name.length > 63) return "name part must be 1-63 characters";
  if (!LABEL_NAME.test(name)) return "name part must be alphanumeric, '-', '_' or '.', starting and ending alphanumeric";
  return undefined;
}

/** Kubernetes label value: ≤ 63, may be empty, alphanumeric at both ends, inner `-_.`. */
export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63) return `is ${value.length} characters long, the limit is 63`;
  if (value !== "" && !LABEL_NAME.test(value)) return "must be alphanumeric, '-', '_' or '.', starting and ending alphanumeric";
  return undefined;
}

/** Interface names Calico accepts for HostEndpoint.interfaceName (CRD pattern, max 15). */
export function isInterfaceName(name: string): boolean {
  return /^[a-zA-Z0-9_.-]{1,15}$/.test(name);
}

/** IANA service name (Kubernetes IsValidPortName). */
export function isPortName(name: string): boolean {
  return name.length >= 1 && name.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name) && /[a-z]/.test(name) && !name.includes("--");
}
