/**
 * What the parser gives the validator: resources as plain values that can still say where each
 * of their fields was written. Kept apart from parse.ts so the YAML helpers the parser uses can
 * name field paths without importing the parser.
 */

/** A field path: map keys and sequence indexes from the resource root. */
export type FieldPath = readonly (string | number)[];

/** One resource document, not yet validated. */
export interface RawResource {
  /** The plain JS value of the resource (maps are objects, sequences arrays). */
  value: unknown;
  /** File the resource came from. */
  file: string;
  /**
   * 1-based position of a field (the value, or its key with `key: true`); falls back to the
   * deepest existing parent. With `at`, the position of that character (0-based index into
   * the string value) when it can be placed exactly (see `LocateOptions.at`).
   */
  locate(path: FieldPath, opts?: LocateOptions): { line: number; column: number };
  /** The source text of the field when it is a plain (unquoted) scalar, for hints such as "quote it". */
  plainSource?(path: FieldPath): string | undefined;
}

export interface LocateOptions {
  /** Point at the key instead of the value. */
  key?: boolean;
  /**
   * Index into the field's string value. Flow scalars (plain or quoted, one line or folded)
   * map every character; block scalars (`|`, `>`) only their line breaks, because folding and
   * indentation make a column inside them a guess. Otherwise the scalar's start is used.
   */
  at?: number;
}
