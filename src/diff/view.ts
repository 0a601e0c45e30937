/**
 * The nft IR seen the way an operator reads a change (`hostwall diff`): per endpoint, the
 * policies and profiles each stage and direction runs, in order; per policy and profile
 * direction, its rules; the failsafe accepts; every named set with its elements.
 *
 * The view is read from the IR alone (chain names of names.ts, rule origins, `jump` targets),
 * not from the plan, so the same code reads the IR in force in the agent and an IR parsed from
 * the kernel's listing (nft/listing.ts), where no plan exists. A policy rule may compile to
 * several nft rules (families, set halves, named ports): they are grouped by their origin id
 * (`gnp/<name>/<direction>/<index>`) into one rule, whose text leaves the index out, so a rule
 * inserted before others does not make every later rule look changed.
 */
import type { NftRule, NftRuleset } from "../nft/ir.ts";
import * as N from "../nft/names.ts";
import { renderRule } from "../nft/render.ts";

/** One policy or profile rule as compiled. */
export interface RuleView {
  /** Index in its policy direction (from the origin id). */
  index: number;
  /** What the rule does: its nft rules' statements, `counter` left out; alternatives joined by ` | `. */
  text: string;
  /** Where it was written, when known. */
  file?: string;
  line?: number;
}

/** A stage and direction of one endpoint, e.g. `normal ingress`. */
export type ChainKey = `${"untracked" | "preDNAT" | "normal" | "forward"} ${"ingress" | "egress"}`;

export interface EndpointView {
  /** The interface (`*` for the wildcard endpoint). */
  interface: string;
  /** The HostEndpoint's name, when the IR names it (its default-deny rule). */
  name?: string;
  /** Stage and direction → the policies and profiles it runs in order (`gnp/<name>`, `pro/<name>`). */
  chains: Partial<Record<ChainKey, string[]>>;
}

export interface SetView {
  /** The set's name (a hash of its selector). */
  name: string;
  /** The selector it stands for (its comment), when known. */
  selector?: string;
  /** Elements, in the IR's order (the compiler's canonical one). */
  elements: string[];
}

export interface RulesetView {
  /** Interface → endpoint. */
  endpoints: Map<string, EndpointView>;
  /** `gnp/<name> ingress` (or `pro/…`) → its rules in order. */
  policies: Map<string, RuleView[]>;
  /** Failsafe accepts: `inbound: meta l4proto tcp th dport { 22, 179 } accept`, … */
  failsafes: string[];
  /** Set name → set (a set copied into both tables is one). */
  sets: Map<string, SetView>;
}

const STAGES: Record<string, ChainKey extends `${infer S} ${string}` ? S : never> = { untracked: "untracked", prednat: "preDNAT", normal: "normal", forward: "forward" };
const DIRECTIONS = { in: "ingress", out: "egress" } as const;
/** Per-endpoint chains: `normal-in-eth0`, `normal-in/any` (the `*` endpoint). */
const ENDPOINT_CHAIN = /^(untracked|prednat|normal|forward)-(in|out)(?:-(.+)|\/any)$/;
const NETDEV_CHAIN = /^ingress-(.+)$/;
const FAILSAFE_CHAINS = new Map([
  [N.CHAIN_FAILSAFE_IN, "inbound"],
  [N.CHAIN_FAILSAFE_OUT, "outbound"],
]);

/** A rule's origin id; a rule listed from the kernel has only its comment, which is the id for policy rules. */
function idOf(r: NftRule): string {
  return r.origin?.id ?? r.comment ?? "";
}

/** A `counter` statement, whether the IR holds text or typed statements. */
function isCounter(s: unknown): boolean {
  return s === "counter" || (s as { kind?: string }).kind === "counter";
}

/** The target of a `jump`/`goto` statement, or undefined. */
function jumpTarget(s: unknown): string | undefined {
  if (typeof s === "string") return /^(?:jump|goto) (\S+)$/.exec(s)?.[1];
  const t = s as { kind?: string; target?: string };
  return (t.kind === "jump" || t.kind === "goto") && typeof t.target === "string" ? t.target : undefined;
}

/** A rule as nft text (the renderer's), without its counter and comment. */
function ruleText(r: NftRule): string {
  const text = renderRule({ statements: r.statements.filter((s) => !isCounter(s)) });
  // A Log rule's sub-chains carry the rule's index (`gnp-x-in-r3-log`): left out, like the index.
  return text.replace(/-r\d+-log\b/g, "-log");
}

export function rulesetView(ruleset: NftRuleset): RulesetView {
  const view: RulesetView = { endpoints: new Map(), policies: new Map(), failsafes: [], sets: new Map() };
  // Which policy or profile a chain holds: from its rules' origins, else from its name.
  const owners = new Map<string, string>();
  for (const table of ruleset.tables) {
    for (const chain of table.chains) {
      const owner = chain.rules.map((r) => /^((?:gnp|pro)\/[^/]+)\/(?:ingress|egress)\/\d+$/.exec(idOf(r))?.[1]).find(Boolean) ?? /^((?:gnp|pro)[-/].+)-(?:in|out)$/.exec(chain.name)?.[1]?.replace(/^(gnp|pro)-/, "$1/");
      if (owner) owners.set(chain.name, owner);
    }
  }
  for (const table of ruleset.tables) {
    for (const set of table.sets) view.sets.set(set.name, { name: set.name, selector: set.comment, elements: [...set.elements] });
    for (const chain of table.chains) {
      const ep = ENDPOINT_CHAIN.exec(chain.name);
      const dev = table.family === "netdev" ? NETDEV_CHAIN.exec(chain.name) : null;
      if (ep || dev) {
        const iface = ep ? (ep[3] ?? "*") : dev![1]!;
        const key: ChainKey = ep ? `${STAGES[ep[1]!]!} ${DIRECTIONS[ep[2] as "in" | "out"]}` : "untracked ingress";
        const endpoint = view.endpoints.get(iface) ?? { interface: iface, chains: {} };
        view.endpoints.set(iface, endpoint);
        endpoint.name ??= chain.rules.map((r) => /^hep\/([^/]+)\/(?:ingress|egress)(?:\/default-deny$|: )/.exec(idOf(r))?.[1]).find(Boolean);
        // The untracked ingress stage is in netdev and, for fragments, again in inet: the same list.
        endpoint.chains[key] ??= sequence(chain.rules, owners);
        continue;
      }
      const failsafe = FAILSAFE_CHAINS.get(chain.name);
      if (failsafe && table.family === "inet") {
        for (const r of chain.rules) view.failsafes.push(`${failsafe}: ${ruleText(r)}`);
        continue;
      }
      const owner = owners.get(chain.name);
      const dir = /-(in|out)$/.exec(chain.name)?.[1] as "in" | "out" | undefined;
      if (owner && dir && !view.policies.has(`${owner} ${DIRECTIONS[dir]}`)) view.policies.set(`${owner} ${DIRECTIONS[dir]}`, policyRules(chain.rules, ruleset));
    }
  }
  return view;
}

/** The policies and profiles an endpoint chain runs, in order. */
function sequence(rules: readonly NftRule[], owners: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const r of rules) {
    const target = (r.statements as unknown[]).map(jumpTarget).find(Boolean);
    const owner = target ? owners.get(target) : (/^(pro\/[^/]+)\/(?:ingress|egress)(?:\/missing)?$/.exec(idOf(r))?.[1] ?? /^profile (\S+)/.exec(idOf(r))?.[1]?.replace(/^/, "pro/"));
    if (owner && !out.includes(owner)) out.push(owner);
  }
  return out;
}

/** A policy chain's rules grouped by origin; a Log rule's sub-chains are read through. */
function policyRules(rules: readonly NftRule[], ruleset: NftRuleset): RuleView[] {
  const byIndex = new Map<number, RuleView & { texts: string[] }>();
  for (const r of rules) {
    const m = /\/(\d+)$/.exec(idOf(r));
    const target = (r.statements as unknown[]).map(jumpTarget).find(Boolean);
    const sub = !m && target ? /-r(\d+)$/.exec(target) : null;
    const index = m ? Number(m[1]) : sub ? Number(sub[1]) : -1;
    if (index < 0) continue;
    const texts = sub ? subChainTexts(target!, ruleset) : [ruleText(r)];
    const entry = byIndex.get(index) ?? { index, text: "", texts: [], ...(r.origin?.file ? { file: r.origin.file, line: r.origin.line } : {}) };
    entry.texts.push(...texts);
    byIndex.set(index, entry);
  }
  return [...byIndex.values()].sort((a, b) => a.index - b.index).map(({ texts, ...r }) => ({ ...r, text: texts.join(" | ") }));
}

function subChainTexts(name: string, ruleset: NftRuleset): string[] {
  for (const t of ruleset.tables) {
    const chain = t.chains.find((c) => c.name === name);
    if (chain) return chain.rules.map(ruleText);
  }
  return [`jump ${name}`];
}
