/**
 * Diagnostics are values, never exceptions: every stage between reading files and running nft
 * returns the problems it found alongside its result, so one pass reports every mistake.
 * Positions are 1-based line and column, computed once when the diagnostic is made (the
 * parser already holds a line index for the file).
 */

import { compareCodePoints } from "../order.ts";
import type { DiagnosticCode } from "./codes.ts";

export type Severity = "error" | "warning";

/** One problem found in the configuration or while applying it. */
export interface Diagnostic {
  /** Stable machine-readable code, e.g. INVALID_PORT (codes.ts: every code and its meaning); tests assert on it, not on wording. */
  code: DiagnosticCode;
  /** error blocks the apply; warning is reported and the config still applies. */
  severity: Severity;
  /** Human-readable explanation, with a hint where a user would otherwise be stuck. */
  message: string;
  /** File the problem is in (absent for problems that belong to no file). */
  file?: string;
  /** 1-based line in the file. */
  line?: number;
  /** 1-based column in the line. */
  column?: number;
  /** `Kind/name` of the resource, when known. */
  resource?: string;
  /** Field path inside the resource, e.g. `spec.ingress[0].destination.ports[1]`. */
  path?: string;
}

/**
 * Formats a diagnostic the way compilers do: `file:line:col: error[CODE]: message (resource path)`.
 * Always one line: control characters and line breaks from the config (a name, a value, a file
 * name) are escaped, so a diagnostic can neither forge a second line nor steer a terminal.
 */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.file ? `${d.file}:${d.line ?? 1}:${d.column ?? 1}: ` : "";
  const origin = [d.resource, d.path].filter(Boolean).join(" ");
  return escapeControl(`${where}${d.severity}[${d.code}]: ${d.message}${origin ? ` (${origin})` : ""}`);
}

/** Escapes control characters (tab excepted) and Unicode line separators as \xNN / \uNNNN. */
export function escapeControl(text: string): string {
  return text.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => (c.charCodeAt(0) > 0xff ? `\\u${c.charCodeAt(0).toString(16)}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === "error");
}

/**
 * Sorts diagnostics by file, line, column, code so output is stable whatever the discovery order.
 * Strings compare by code point, never by locale: the order is the same on every machine.
 */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      compareCodePoints(a.file ?? "", b.file ?? "") ||
      (a.line ?? 0) - (b.line ?? 0) ||
      (a.column ?? 0) - (b.column ?? 0) ||
      compareCodePoints(a.code, b.code),
  );
}
