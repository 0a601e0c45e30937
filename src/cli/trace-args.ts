/** The flags of \`hostwall trace\` (src/trace/args.ts, shared with the agent's GET /trace): a bad one is a usage error (exit 2). */
import { TraceArgError, traceArgsFromFlags as parse, type TraceArgs } from "../trace/args.ts";
import { UsageError } from "./args.ts";

export { DEFAULT_TRACE_COUNT, DEFAULT_TRACE_SECONDS, type TraceArgs } from "../trace/args.ts";

export function traceArgsFromFlags(flags: Readonly<Record<string, string | true>>): TraceArgs {
  try {
    return parse(flags);
  } catch (e) {
    throw e instanceof TraceArgError ? new UsageError(e.message) : e;
  }
}
