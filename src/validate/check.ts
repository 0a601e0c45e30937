/**
 * A small strict reader for untyped YAML values. Each reader reports a positioned diagnostic and
 * returns undefined on bad input instead of throwing, so validation finds every problem in
 * one pass. Unknown fields are errors, as calicoctl parses strictly.
 */
import type { DiagnosticCode } from "../diagnostics/codes.ts";
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import type { FieldPath, LocateOptions, RawResource } from "../config/resource.ts";

export type Obj = Record<string, unknown>;

/** Collects diagnostics for one resource. */
export class Checker {
  /** `Kind/name` once known. */
  resource?: string;

  constructor(
    readonly raw: RawResource,
    private readonly out: Diagnostic[],
  ) {}

  report(severity: "error" | "warning", code: DiagnosticCode, path: FieldPath, message: string, opts: LocateOptions = {}): void {
    const { line, column } = this.raw.locate(path, opts);
    this.out.push({ code, severity, message, file: this.raw.file, line, column, resource: this.resource, path: formatPath(path) || undefined });
  }

  error(code: DiagnosticCode, path: FieldPath, message: string, opts?: LocateOptions): void {
    this.report("error", code, path, message, opts);
  }

  warn(code: DiagnosticCode, path: FieldPath, message: string, opts?: LocateOptions): void {
    this.report("warning", code, path, message, opts);
  }

  /** Reads a map and reports every key not in `allowed`. Absent (undefined/null) gives {}. */
  object(value: unknown, path: FieldPath, allowed: readonly string[]): Obj | undefined {
    if (value === undefined || value === null) return {};
    if (typeof value !== "object" || Array.isArray(value)) {
      this.error("WRONG_TYPE", path, `expected a mapping, got ${describe(value)}`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) {
        const hint = nearest(key, allowed);
        this.error("UNKNOWN_FIELD", [...path, key], `unknown field "${key}"${hint ? `; did you mean "${hint}"?` : ""}`, { key: true });
      }
    }
    return value as Obj;
  }

  string(value: unknown, path: FieldPath, opts: { required?: boolean } = {}): string | undefined {
    if (value === undefined || value === null) {
      if (opts.required) this.error("MISSING_FIELD", path, `${formatPath(path)} is required`);
      return undefined;
    }
    if (typeof value !== "string") {
      this.error("WRONG_TYPE", path, `expected a string, got ${describe(value)}${quoteHint(value, this.raw.plainSource?.(path))}`);
      return undefined;
    }
    return value;
  }

  bool(value: unknown, path: FieldPath): boolean | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "boolean") {
      this.error("WRONG_TYPE", path, `expected true or false, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  number(value: unknown, path: FieldPath): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value)) {
      this.error("WRONG_TYPE", path, `expected a number, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  /** A list; absent gives []. */
  list(value: unknown, path: FieldPath): unknown[] | undefined {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.error("WRONG_TYPE", path, `expected a list, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  /** A list of strings, each with its index in the original list (so positions stay right when an entry is not a string). */
  stringList(value: unknown, path: FieldPath): { value: string; index: number }[] {
    const items = this.list(value, path) ?? [];
    const out: { value: string; index: number }[] = [];
    items.forEach((item, index) => {
      const s = this.string(item, [...path, index]);
      if (s !== undefined) out.push({ value: s, index });
    });
    return out;
  }

  /** A map of string to string (labels). */
  stringMap(value: unknown, path: FieldPath): Record<string, string> {
    if (value === undefined || value === null) return {};
    if (typeof value !== "object" || Array.isArray(value)) {
      this.error("WRONG_TYPE", path, `expected a mapping of strings, got ${describe(value)}`);
      return {};
    }
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) {
      // `key:` with nothing after it is an empty value, as Go's decoder reads it.
      const s = v === null ? "" : this.string(v, [...path, k]);
      // defineProperty: a key named __proto__ stays a key (and fails the key checks) instead
      // of silently setting the object's prototype.
      if (s !== undefined) Object.defineProperty(out, k, { value: s, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
}

export function formatPath(path: FieldPath): string {
  let s = "";
  for (const seg of path) s += typeof seg === "number" ? `[${seg}]` : s ? `.${seg}` : seg;
  return s;
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return `"${value}"`;
  return `${typeof value} ${String(value)}`;
}

/** YAML turns unquoted true/false/numbers into non-strings; Calico wants strings there. Quote what was written (`010`, not `10`). */
function quoteHint(value: unknown, source: string | undefined): string {
  if (typeof value === "boolean" || typeof value === "number") return `; quote it: '${source ?? String(value)}'`;
  return "";
}

/**
 * `; did you mean "Ingress"?` when `value` is a string close to one of a closed set of values
 * (a case-only difference, or up to two edits), else "".
 */
export function didYouMean(value: unknown, options: readonly string[]): string {
  if (typeof value !== "string" || value === "") return "";
  // Values are compared without case: `tpc` is two edits from `tcp`, so TCP is suggested.
  const lower = options.map((o) => o.toLowerCase());
  const i = lower.indexOf(nearest(value.toLowerCase(), lower) ?? "");
  return i >= 0 && options[i] !== value ? `; did you mean ${options[i]}?` : "";
}

/** Suggests a known field for a typo (edit distance ≤ 2, or a case-only difference). */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    if (c.toLowerCase() === word.toLowerCase()) return c;
    const d = editDistance(word, c);
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
