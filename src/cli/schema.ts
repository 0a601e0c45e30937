/**
 * `hostwall schema`, `hostwall completion` and `hostwall man`: documents generated from the
 * tables the program itself runs on (the validator's fields, the flag table, the usage texts).
 */
import { jsonSchema } from "../validate/json-schema.ts";
import { KINDS } from "../validate/fields.ts";
import { nearest } from "../validate/check.ts";
import { UsageError } from "./args.ts";
import { completionScript, SHELLS, type Shell } from "./completion.ts";
import { manPage } from "./man.ts";
import type { Io } from "./io.ts";

/** The schema as committed in schema/hostwall.schema.json (two-space JSON and a final newline). */
export function schemaText(kind?: string): string {
  return JSON.stringify(jsonSchema({ kind }), null, 2) + "\n";
}

export function schemaCommand(kind: string | undefined, io: Io): number {
  if (kind !== undefined && !KINDS.includes(kind)) {
    const near = nearest(kind, KINDS);
    throw new UsageError(`--kind ${kind} is not a kind hostwall reads${near ? `; did you mean ${near}?` : `: ${KINDS.join(", ")}`}`);
  }
  io.out(schemaText(kind));
  return 0;
}

export function completionCommand(positional: readonly string[], io: Io): number {
  const shell = positional[0];
  if (positional.length !== 1 || !SHELLS.includes(shell as Shell)) throw new UsageError(`hostwall completion takes one shell: ${SHELLS.join(", ")}; see hostwall help completion`);
  io.out(completionScript(shell as Shell));
  return 0;
}

export function manCommand(io: Io): number {
  io.out(manPage());
  return 0;
}
