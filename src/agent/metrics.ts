/**
 * Prometheus text format for GET /metrics (exposition format 0.0.4).
 *
 * Per-rule counters come from the kernel: every rule that came from a policy rule carries an
 * anonymous counter, and the agent knows, from the ruleset it applied, which origin
 * (`gnp/<name>/<direction>/<index>`, `pro/…`, `failsafe/…`, `hep/<name>/<direction>/default-deny`,
 * `tier/<name>/<direction>/end`) sits at which position of which chain. Counters restart at
 * zero on every apply (the tables are replaced whole); Prometheus' rate() treats that as a
 * counter reset.
 */
import type { ListedTable } from "../nft/runner.ts";
import type { ExpectedTable } from "./shape.ts";

/** A cumulative histogram with fixed upper bounds. */
export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    this.bounds.forEach((b, i) => {
      if (value <= b) this.counts[i]!++;
    });
  }
}

/** Apply durations in seconds: a tiny ruleset applies in ~40 ms, a 1M-prefix one in ~20 s. */
export const APPLY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Labels of a rule counter. */
export interface RuleLabels {
  /** gnp, pro (profile), failsafe, hep (endpoint default deny), tier (end-of-tier deny). */
  kind: string;
  /** The policy, profile, HostEndpoint or tier name; for failsafe the group (failsafe-inbound, …). */
  policy: string;
  /** ingress or egress. */
  direction: string;
  /** Rule index in the policy, or what the rule is (default-deny, end, missing, tcp, …). */
  rule: string;
  /** nft table family: netdev or inet. */
  table: string;
  /** nft chain. */
  chain: string;
}

export interface RuleSample extends RuleLabels {
  packets: number;
  bytes: number;
}

/** Splits an origin id into labels; ids are built by the compiler from validated names. */
export function parseOrigin(id: string): Pick<RuleLabels, "kind" | "policy" | "direction" | "rule"> {
  const [kind = "", policy = "", third = "", ...rest] = id.split("/");
  if (kind === "failsafe") {
    const inbound = policy.includes("inbound") !== policy.endsWith("-reply");
    return { kind, policy, direction: inbound ? "ingress" : "egress", rule: third };
  }
  if (third === "ingress" || third === "egress") return { kind, policy, direction: third, rule: rest.join("/") };
  return { kind, policy, direction: "", rule: [third, ...rest].filter(Boolean).join("/") };
}

/**
 * Maps the counters of a live listing to the origins of the applied ruleset by position in
 * each chain. A rule whose comment differs from the applied one is skipped (the table has
 * drifted; the drift check repairs it). Rules of one origin in one chain (IPv4 and IPv6
 * variants) are summed.
 */
export function ruleSamples(expected: readonly ExpectedTable[], live: readonly ListedTable[]): RuleSample[] {
  const out = new Map<string, RuleSample>();
  for (const want of expected) {
    const t = live.find((l) => l.family === want.family && l.name === want.name);
    if (!t) continue;
    for (const wc of want.chains) {
      const c = t.chains.find((x) => x.name === wc.name);
      if (!c) continue;
      wc.rules.forEach((wr, i) => {
        const lr = c.rules[i];
        if (!wr.origin || !lr?.counter || lr.comment !== wr.comment) return;
        const labels: RuleLabels = { ...parseOrigin(wr.origin), table: want.family, chain: wc.name };
        const key = JSON.stringify(labels);
        const s = out.get(key) ?? { ...labels, packets: 0, bytes: 0 };
        s.packets += lr.counter.packets;
        s.bytes += lr.counter.bytes;
        out.set(key, s);
      });
    }
  }
  return [...out.values()];
}

/** A label value with `\`, `"` and newlines escaped, as the text format requires. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

export function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** Writes metric families: `# HELP`, `# TYPE`, then samples. */
export class MetricsWriter {
  private readonly lines: string[] = [];

  family(name: string, type: "counter" | "gauge" | "histogram", help: string, samples: Array<[Record<string, string>, number]>): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [l, v] of samples) this.lines.push(`${name}${labels(l)} ${formatValue(v)}`);
    return this;
  }

  histogram(name: string, help: string, h: Histogram): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    h.bounds.forEach((b, i) => this.lines.push(`${name}_bucket{le="${b}"} ${h.counts[i]}`));
    this.lines.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${formatValue(h.sum)}`, `${name}_count ${h.count}`);
    return this;
  }

  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

function formatValue(v: number): string {
  return Number.isFinite(v) ? String(Math.round(v * 1e6) / 1e6) : v > 0 ? "+Inf" : v < 0 ? "-Inf" : "NaN";
}
