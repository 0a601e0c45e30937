/**
 * `hostwall diff` as text: one block per endpoint, policy direction, set and the failsafes,
 * `+` added, `-` removed, `~` moved, then the one-line summary. Pure.
 */
import type { DiffDocument } from "./diff.ts";
import type { RuleView } from "./view.ts";

export function formatDiff(doc: DiffDocument): string {
  const out: string[] = [];
  for (const ep of doc.endpoints) {
    out.push(`endpoint ${ep.interface}${ep.name ? ` (HostEndpoint ${ep.name})` : ""}: ${ep.change}`);
    for (const s of ep.stages) {
      const parts = [...s.added.map((p) => `+${p}`), ...s.removed.map((p) => `-${p}`), ...s.moved.map((p) => `~${p}`)];
      out.push(`  ${s.chain}: ${parts.join(" ")}`);
      if (s.before.length > 0 && s.after.length > 0) out.push(`    was: ${s.before.join(", ")}`, `    now: ${s.after.join(", ")}`);
    }
  }
  for (const p of doc.policies) {
    out.push(`policy ${p.policy}: ${p.change}${p.change === "changed" ? `, ${p.rules.before} → ${p.rules.after} rules` : `, ${Math.max(p.rules.before, p.rules.after)} rule(s)`}`);
    for (const r of p.removed) out.push(`  - ${rule(r)}`);
    for (const r of p.added) out.push(`  + ${rule(r)}`);
    for (const r of p.moved) out.push(`  ~ ${rule(r)} (moved)`);
  }
  for (const s of doc.sets) {
    out.push(`set ${s.name}${s.selector ? ` (${s.selector})` : ""}: ${s.change}, ${s.size.before} → ${s.size.after} elements, +${s.added} -${s.removed}`);
    if (s.firstAdded.length > 0) out.push(`  + ${s.firstAdded.join(", ")}${s.added > s.firstAdded.length ? `, … (${s.added - s.firstAdded.length} more)` : ""}`);
    if (s.firstRemoved.length > 0) out.push(`  - ${s.firstRemoved.join(", ")}${s.removed > s.firstRemoved.length ? `, … (${s.removed - s.firstRemoved.length} more)` : ""}`);
  }
  if (doc.failsafes.added.length + doc.failsafes.removed.length > 0) {
    out.push("failsafes:");
    for (const f of doc.failsafes.removed) out.push(`  - ${f}`);
    for (const f of doc.failsafes.added) out.push(`  + ${f}`);
  }
  for (const n of doc.notes) out.push(`note: ${n}`);
  out.push(doc.summary);
  return out.join("\n") + "\n";
}

function rule(r: RuleView): string {
  return `rule ${r.index}: ${r.text}${r.file ? ` (${r.file}:${r.line})` : ""}`;
}
