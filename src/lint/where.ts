/**
 * Positions for lint warnings: the lints look at the valid model, whose resources remember
 * where they came from (Origin.locate), so a warning lands on the field it is about.
 */
import type { DiagnosticCode } from "../diagnostics/codes.ts";
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import type { FieldPath, LocateOptions } from "../config/resource.ts";
import { formatPath } from "../validate/check.ts";
import type { Meta } from "../model/types.ts";

/** A resource a warning is about. */
export interface Subject {
  kind: string;
  meta: Meta;
}

/** `Kind/name` (`Kind/namespace/name` for namespaced kinds), as validation names resources. */
export function resourceName(s: Subject): string {
  return `${s.kind}/${s.meta.namespace ? `${s.meta.namespace}/` : ""}${s.meta.name}`;
}

/** A warning at `path` below the resource. */
export function warningAt(subject: Subject, path: FieldPath, code: DiagnosticCode, message: string, opts?: LocateOptions): Diagnostic {
  const o = subject.meta.origin;
  const { line, column } = o.locate?.(path, opts) ?? { line: o.line, column: o.column };
  return { code, severity: "warning", message, file: o.file, line, column, resource: resourceName(subject), path: formatPath(path) || undefined };
}

/** "a, b, c and 2 more". */
export function listed(items: readonly string[], max = 5): string {
  if (items.length <= 1) return items.join("");
  const shown = items.slice(0, max);
  const rest = items.length - shown.length;
  return rest > 0 ? `${shown.join(", ")} and ${rest} more` : `${shown.slice(0, -1).join(", ")} and ${shown[shown.length - 1]}`;
}
