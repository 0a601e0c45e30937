/**
 * The comparison behind test/unit/interpreter-differential.test.ts: one generated scenario,
 * compiled by the real compiler, every packet of every probe (request, reply, the client's
 * ACK) judged by the reference evaluator and by the IR interpreter, and every disagreement as
 * a readable report (seed, probe, packet, both verdicts, the evaluator's path and the
 * interpreter's trace).
 *
 * What must agree, per packet: the verdict (evaluator allow/none = accept, deny = drop or
 * reject as its denyAction says); for accepted packets whether they left conntrack alone
 * (notrack); for denied ones the origin of the rule that dropped (policy rule, end of tier,
 * profile, endpoint default deny); for accepted ones, that the rule the evaluator names was
 * hit; and the Log lines, in order.
 *
 * Every seed is compiled as buildRuleset does, drop summaries on (the default). Every
 * `extrasEvery`th seed is compiled twice more: with drop summaries off, and with a staged twin
 * (StagedGlobalNetworkPolicy, stagedAction Set, same name and spec) of every policy, and
 * compared again: neither may change a verdict. On top, per packet (extraDifferences): each
 * Log rule that logged it updated its log-summary set with the remote address; the packet a policy or
 * profile Deny rule dropped updated exactly that rule's drop-summary set with its remote
 * address (source for an ingress side, destination for egress), every other packet no set;
 * and each staged rule counted exactly what its enforced twin counted.
 */
import type { Explanation, Packet, Step } from "../../src/explain/explanation.ts";
import type { Model } from "../../src/model/types.ts";
import type { Evaluator } from "../../src/explain/evaluate.ts";
import { formatExplanation } from "../../src/explain/format.ts";
import type { NftRuleset } from "../../src/nft/ir.ts";
import { formatTrace, interpret, type InterpretResult } from "../../src/nft/interpret.ts";
import { compileRuleset } from "../../src/nft/compile.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { resolvePlan } from "../../src/resolve/resolve.ts";
import { allProbes, evaluatorFor, expectProbe, NODE, probeName, scenario, type ProbeDef, type Scenario } from "../kernel/differential-gen.ts";

/** The nft origin id of the rule (or built-in) that decided a step, when it has one. */
export function originOf(s: Step): string | undefined {
  const r = s.reason;
  switch (r.kind) {
    case "rule":
      return `gnp/${r.policy}/${s.side}/${r.ruleIndex}`;
    case "end-of-tier":
      return `tier/${r.tier}/${s.side}/end`;
    case "profile-rule":
      return `pro/${r.profile}/${s.side}/${r.ruleIndex}`;
    case "default-allow-profile":
      return `pro/projectcalico-default-allow/${s.side}`;
    case "missing-profile":
      return `pro/${r.profile}/${s.side}/missing`;
    case "no-profile-matched":
      return `hep/${s.endpoint}/${s.side}/default-deny`;
    default:
      return undefined; // conntrack, failsafe, accept mark, fall-through: no origin of their own to compare
  }
}

const evaluatorVerdict = (e: Explanation) => (e.verdict !== "deny" ? "accept" : e.denyAction === "reject" ? "reject" : "drop");
const interpreterVerdict = (r: InterpretResult) => (r.verdict === "accept" ? "accept" : r.reject ? "reject" : "drop");

/**
 * The origin of the rule that decided, for the interpreter. With drop summaries a Deny rule
 * counts and `goto <chain>-r<i>-drop`, whose rules (no origin of their own) update the set and
 * drop: the decision is the rule that jumped there, the entry just before in the trace.
 */
export function interpreterOrigin(r: InterpretResult): string | undefined {
  const d = r.decidedBy;
  if (!d || d.origin || !d.chain.endsWith("-drop")) return d?.origin;
  const before = r.trace[r.trace.indexOf(d) - 1];
  return before?.effect === `goto ${d.chain}` ? before.origin : undefined;
}

/** What differs between the two answers for one packet (empty: they agree). */
export function differences(e: Explanation, r: InterpretResult): string[] {
  const out: string[] = [];
  const [ev, iv] = [evaluatorVerdict(e), interpreterVerdict(r)];
  if (ev !== iv) return [`verdict: evaluator ${ev}, interpreter ${iv}`];
  const origin = originOf(e.decidedBy);
  if (ev === "accept" && e.notrack !== r.notrack) out.push(`notrack: evaluator ${e.notrack}, interpreter ${r.notrack}`);
  if (ev !== "accept" && origin !== interpreterOrigin(r)) out.push(`dropped by: evaluator ${origin ?? "(no origin)"}, interpreter ${interpreterOrigin(r) ?? "(no origin)"}`);
  if (ev === "accept" && origin && !r.trace.some((t) => t.origin === origin)) out.push(`allowed by ${origin} (evaluator), a rule the interpreter never hit`);
  // The compiler writes Calico's prefix followed by ": "; the evaluator keeps it without.
  const [elogs, ilogs] = [e.logs.map((l) => `${l.prefix}: `), r.logs.map((l) => l.prefix)];
  if (elogs.join("|") !== ilogs.join("|")) out.push(`logs: evaluator ${JSON.stringify(elogs)}, interpreter ${JSON.stringify(ilogs)}`);
  return out;
}

/**
 * Disagreements the lead has been told about, each with the evaluation that explains it, so
 * the run can tell them from new ones. A label never hides a disagreement: each one is still
 * printed, and a reproduction in the test file fails once the issue is fixed.
 */
export const KNOWN_ISSUES: Record<string, { why: string; explains: (ev: Evaluator, packet: Packet, e: Explanation, r: InterpretResult) => boolean }> = {
  // None open. Fixed: "evaluator-forward-untracked-ct" (the evaluator let an untracked-allowed,
  // forwarded packet take the outgoing forward stage's conntrack shortcut; regression test in
  // interpreter-differential.test.ts).
};

export interface ProbeComparison {
  /** Packets compared. */
  packets: number;
  /** Interpreter verdicts seen, by kind. */
  verdicts: Record<"accept" | "drop" | "reject", number>;
  /** Reports of disagreements no known issue explains. */
  unexplained: string[];
  /** Reports of disagreements a known issue explains, labelled. */
  known: Array<{ issue: string; report: string }>;
}

/** The checks of a ruleset compiled with drop summaries and staged twins (see the head comment). */
export function extraDifferences(ruleset: NftRuleset, packet: Packet, e: Explanation, r: InterpretResult, checks: Checks): string[] {
  const out: string[] = [];
  const setOrigin = new Map<string, string | undefined>(ruleset.tables.flatMap((t) => t.sets.filter((s) => s.dynamic).map((s) => [`${t.family} ${t.name}/${s.name}`, s.comment] as const)));
  const step = e.decidedBy;
  const byRule = e.verdict === "deny" && (step.reason.kind === "rule" || step.reason.kind === "profile-rule");
  const remote = (side: string) => (side === "ingress" ? packet.src : (packet.dnat?.dst ?? packet.dst));
  const updates = (prefix: string) => r.updates.filter((u) => u.set.startsWith(prefix)).map((u) => `${setOrigin.get(`${u.table}/${u.set}`) ?? `(set ${u.set} of no rule)`} ${u.element} ${u.outcome}`);
  const wantDrops = byRule ? [`${originOf(step)} ${remote(step.side)} added`] : [];
  // Each Log line the evaluator expects: its rule's set updated with the remote address of its side.
  const wantLogs = e.logs.map((l) => `${l.kind}/${l.owner}/${l.side}/${l.ruleIndex} ${remote(l.side)} added`);
  const [gotDrops, gotLogs] = [updates("drops-"), updates("logs-")];
  if (checks.summaries && wantDrops.join("|") !== gotDrops.join("|")) out.push(`drop summaries: expected updates ${JSON.stringify(wantDrops)}, interpreter ${JSON.stringify(gotDrops)}`);
  if (checks.summaries && wantLogs.join("|") !== gotLogs.join("|")) out.push(`log summaries: expected updates ${JSON.stringify(wantLogs)}, interpreter ${JSON.stringify(gotLogs)}`);
  if (checks.summaries && r.updates.length !== gotDrops.length + gotLogs.length) out.push(`an update of a set that is neither a drop nor a log summary: ${JSON.stringify(r.updates.map((u) => u.set))}`);
  if (!checks.staged) return out;
  const keys = new Set([...r.counters.keys()].filter((k) => k.startsWith("gnp/") || k.startsWith("sgnp/")).map((k) => k.replace(/^s?gnp\//, "")));
  for (const k of keys) {
    const [enforced, staged] = [r.counters.get(`gnp/${k}`) ?? 0, r.counters.get(`sgnp/${k}`) ?? 0];
    if (enforced !== staged) out.push(`staged twin: gnp/${k} counted ${enforced}, sgnp/${k} ${staged}`);
  }
  return out;
}

/** What a ruleset was compiled with, so what extraDifferences checks. */
export interface Checks {
  /** Drop summaries on: the dropping Deny rule updates its set with the remote address, each logging Log rule its own, nothing else updates a set. */
  summaries: boolean;
  /** A staged twin of every policy: each staged rule counts what its twin counts. */
  staged: boolean;
}

/** Every packet of every probe of one scenario, evaluator against interpreter, and the checks of extraDifferences. */
export function compareProbes(seed: number, ev: Evaluator, ruleset: NftRuleset, probes: readonly ProbeDef[], checks: Checks = { summaries: true, staged: false }): ProbeComparison {
  const out: ProbeComparison = { packets: 0, verdicts: { accept: 0, drop: 0, reject: 0 }, unexplained: [], known: [] };
  for (const p of probes) {
    const x = expectProbe(ev, p);
    const packets: Array<[string, Packet | undefined, Explanation | undefined]> = [
      ["request", x.request, x.requestResult],
      ["reply", x.reply, x.replyResult],
      ["the client's ACK and data", x.followUp, x.followUpResult],
    ];
    for (const [what, packet, e] of packets) {
      if (!packet || !e) continue;
      out.packets++;
      let r: InterpretResult;
      try {
        r = interpret(ruleset, packet);
      } catch (err) {
        out.unexplained.push(`seed ${seed}: ${probeName(p)}, ${what} ${JSON.stringify(packet)}: the interpreter failed: ${(err as Error).name} ${(err as { code?: string }).code ?? ""} ${(err as Error).message} ${JSON.stringify((err as { where?: unknown }).where ?? {})}`);
        continue;
      }
      out.verdicts[interpreterVerdict(r)]++;
      const diffs = differences(e, r);
      if (diffs.length === 0) diffs.push(...extraDifferences(ruleset, packet, e, r, checks));
      if (diffs.length === 0) continue;
      const report = [
        `seed ${seed}${checks.staged ? " (staged twins)" : checks.summaries ? "" : " (drop summaries off)"}: ${probeName(p)}, ${what}: ${diffs.join("; ")}`,
        `  packet ${JSON.stringify(packet)}`,
        "  evaluator:",
        ...formatExplanation(e).split("\n").map((l) => `    ${l}`),
        "  interpreter:",
        ...formatTrace(r).split("\n").map((l) => `    ${l}`),
      ].join("\n");
      const issue = Object.entries(KNOWN_ISSUES).find(([, k]) => k.explains(ev, packet, e, r))?.[0];
      if (issue) out.known.push({ issue, report });
      else out.unexplained.push(report);
    }
  }
  return out;
}

/** What one batch of seeds gave: totals, and the reports (with the seed's YAML for unexplained ones). */
export interface BatchResult {
  seeds: number;
  packets: number;
  /** Packets compared again under drop summaries and staged twins. */
  extras: number;
  verdicts: Record<"accept" | "drop" | "reject", number>;
  unexplained: string[];
  known: Array<{ issue: string; seed: number; report: string }>;
}

/**
 * The IR the compiler makes of a generated scenario (resolvePlan + compileRuleset, as buildRuleset runs them:
 * drop summaries on, the default); `staged` adds a staged twin of every policy, `dropSummaries: false` turns them off.
 */
export function compileScenario(s: Scenario, opts: { staged?: boolean; dropSummaries?: boolean } = {}): NftRuleset {
  const model: Model = opts.staged ? { ...s.model, staged: s.model.policies.map((p) => ({ kind: "StagedGlobalNetworkPolicy", meta: p.meta, action: "Set", policy: p })) } : s.model;
  const { plan, diagnostics } = resolvePlan(model, NODE);
  if (diagnostics.some((d) => d.severity === "error")) throw new Error(`seed ${s.seed}: resolve failed: ${JSON.stringify(diagnostics)}`);
  return compileRuleset(plan, opts.dropSummaries === undefined ? {} : { dropSummaries: opts.dropSummaries });
}

/**
 * Generates, compiles and compares a batch of seeds. Every `pipelineEvery`th seed also goes
 * through buildRuleset whole, which must give the same IR.
 */
export function runSeeds(seeds: readonly number[], opts: { allProbes: boolean; pipelineEvery: number; extrasEvery: number }): BatchResult {
  const out: BatchResult = { seeds: 0, packets: 0, extras: 0, verdicts: { accept: 0, drop: 0, reject: 0 }, unexplained: [], known: [] };
  for (const seed of seeds) {
    const s = scenario(seed);
    const ruleset = compileScenario(s);
    if (seed % opts.pipelineEvery === 0) {
      const whole = buildRuleset({ files: [{ path: "differential.yaml", text: s.yaml }], node: NODE });
      if (!Bun.deepEquals(whole.ruleset, ruleset)) out.unexplained.push(`seed ${seed}: buildRuleset gives another IR than resolvePlan + compileRuleset on the generator's model\n--- config ---\n${s.yaml}`);
    }
    const probes = opts.allProbes ? allProbes() : s.probes;
    const c = compareProbes(seed, evaluatorFor(s), ruleset, probes);
    if (seed % opts.extrasEvery === 0) {
      // Staged twins on top of the default (summaries on); and summaries off, the plain drops.
      for (const x of [compareProbes(seed, evaluatorFor(s), compileScenario(s, { staged: true }), probes, { summaries: true, staged: true }), compareProbes(seed, evaluatorFor(s), compileScenario(s, { dropSummaries: false }), probes, { summaries: false, staged: false })]) {
        out.extras += x.packets;
        for (const k of ["unexplained", "known"] as const) (c[k] as unknown[]).push(...x[k]);
      }
    }
    out.seeds++;
    out.packets += c.packets;
    for (const k of ["accept", "drop", "reject"] as const) out.verdicts[k] += c.verdicts[k];
    out.known.push(...c.known.map((k) => ({ ...k, seed })));
    if (c.unexplained.length > 0) out.unexplained.push(`${c.unexplained.join("\n\n")}\n--- config (seed ${seed}) ---\n${s.yaml}`);
  }
  return out;
}
