/** The text form of one traced packet. Pure. */
import type { TraceResult, TraceStep } from "./describe.ts";

export function formatTrace(r: TraceResult, n: number): string {
  const lines = [`packet ${n}: ${r.summary}`];
  if (!r.governed) lines.push("  no hostwall chain: interface not governed");
  for (const s of r.steps) lines.push(`  ${stepText(s)}`);
  lines.push(`  verdict: ${r.verdict}${r.decidedBy ? ` by ${r.decidedBy.what}${r.decidedBy.stage ? ` (${r.decidedBy.stage}${r.decidedBy.interface ? ` ${r.decidedBy.interface}` : ""})` : ""}` : " (no rule decided: chain policy accept)"}`);
  if (r.predicted) lines.push(`  ${r.mismatch ? "MISMATCH: kernel " + r.verdict + ", explain predicts" : "explain agrees:"} ${r.predicted.verdict} (${r.predicted.what})`);
  else lines.push("  explain: cannot describe this packet to the evaluator");
  return lines.join("\n") + "\n";
}

function stepText(s: TraceStep): string {
  const where = [s.stage, s.interface].filter(Boolean).join(" ");
  return `${(where || "-").padEnd(16)} ${s.action.padEnd(6)} ${s.what}${s.at ? ` at ${s.at}` : ""}  [${s.table} ${s.chain}]`;
}
