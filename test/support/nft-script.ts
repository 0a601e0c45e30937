/**
 * The grammar of the nft scripts hostwall writes (src/nft/render.ts), as a checker for tests:
 * the fake kernels (test/unit/api-fakes.ts) refuse what the renderer would never write, and
 * the injection tests hold every line of a script to it. Stricter than nft on purpose: a
 * script is well formed only in the exact shape the renderer emits.
 *
 *   table F N {}                      create if missing           ┐ top level: nothing else,
 *   delete table F N                  drop the old contents       │ F is netdev or inet, N one
 *   table F N {[ comment "…";]        the definition, up to `}`   ┘ of the allowed table names
 *   \tset S {  \t\ttype …  [\t\tflags interval | \t\tsize N \t\tflags dynamic,timeout \t\ttimeout Ns \t\tcounter]  [\t\tcomment "…"]  [\t\telements = { … \t\t}]  \t}
 *   \tchain C {  [\t\ttype filter hook H[ device "D"] priority P; policy accept;]  \t\t<rule>…  \t}
 *
 * Rules: quotes and braces balanced on the line, no `;` or `#`, quoted text inert (the
 * renderer's safeText alphabet), every `jump`/`goto` naming a regular chain and every `@set`
 * a set defined in the same table definition; base chains hook where their family allows.
 */

/** A problem, at a 1-based script line. */
export interface ScriptProblem {
  line: number;
  message: string;
}

export interface RuleDef {
  line: number;
  text: string;
  comment?: string;
  counter: boolean;
  /** Chains named by `jump`/`goto`. */
  targets: string[];
  /** Sets named by `@name`. */
  sets: string[];
}

export interface ChainDef {
  name: string;
  line: number;
  hook?: { hook: string; device?: string; priority: number };
  rules: RuleDef[];
}

export interface SetDef {
  name: string;
  line: number;
  type: string;
  interval: boolean;
  comment?: string;
  elements: string[];
}

export type Statement =
  | { kind: "add"; line: number; family: string; name: string }
  | { kind: "delete"; line: number; family: string; name: string }
  | { kind: "define"; line: number; family: string; name: string; comment?: string; sets: SetDef[]; chains: ChainDef[] };

export type ParsedScript = { ok: true; statements: Statement[] } | { ok: false; problems: ScriptProblem[] };

export interface GrammarOptions {
  /** Table names a script may touch (default: hostwall's own, `hostwall`). */
  tables?: readonly string[];
}

const FAMILIES = /^(netdev|inet)$/;
const NAME = "[A-Za-z_][A-Za-z0-9_./-]{0,254}";
/** What safeText lets through (src/nft/render.ts). */
const INERT = /^[A-Za-z0-9 _.,:=/@+%-]*$/;
const HOOKS: Record<string, readonly string[]> = { netdev: ["ingress", "egress"], inet: ["prerouting", "input", "forward", "output", "postrouting"] };
const SET_TYPE = /^(ipv4_addr|ipv6_addr|ether_addr|inet_proto|inet_service|ifname|mark)( \. (ipv4_addr|ipv6_addr|ether_addr|inet_proto|inet_service|ifname|mark))*$/;

const TOP_ADD = /^table (\S+) (\S+) \{\}$/;
const TOP_DELETE = /^delete table (\S+) (\S+)$/;
const TOP_DEFINE = /^table (\S+) (\S+) \{(?: comment "([^"]*)";)?$/;
const BLOCK = new RegExp(`^\\t(set|chain) (${NAME}) \\{$`);
const HOOK_LINE = /^\t\ttype filter hook (\w+)(?: device "([A-Za-z0-9_.-]{1,15})")? priority (-?\d+); policy accept;$/;
const TARGET = new RegExp(`\\b(?:jump|goto) (${NAME})`, "g");
/** `@name` but not raw payload expressions (`@nh,4,12`, `@ll,116,12`). */
const SET_REF = new RegExp(`@(${NAME})(?![,A-Za-z0-9_./-])`, "g");

/** Parses a script; every problem is reported, each with its line. */
export function parseScript(script: string, opts: GrammarOptions = {}): ParsedScript {
  const allowed = new Set(opts.tables ?? ["hostwall"]);
  const problems: ScriptProblem[] = [];
  const statements: Statement[] = [];
  const lines = script.split("\n");
  if (lines.at(-1) !== "") problems.push({ line: lines.length, message: "the script does not end with a newline" });
  else lines.pop();
  const bad = (line: number, message: string) => void problems.push({ line, message });
  const table = (n: number, family: string, name: string): boolean => {
    if (!FAMILIES.test(family)) bad(n, `family ${JSON.stringify(family)} is not netdev or inet`);
    else if (!allowed.has(name)) bad(n, `table ${family} ${JSON.stringify(name)} is not one of hostwall's (${[...allowed].join(", ")})`);
    else return true;
    return false;
  };

  let i = 0;
  while (i < lines.length) {
    const n = i + 1;
    const text = lines[i]!;
    let m: RegExpExecArray | null;
    if ((m = TOP_ADD.exec(text))) {
      if (table(n, m[1]!, m[2]!)) statements.push({ kind: "add", line: n, family: m[1]!, name: m[2]! });
      i++;
    } else if ((m = TOP_DELETE.exec(text))) {
      if (table(n, m[1]!, m[2]!)) statements.push({ kind: "delete", line: n, family: m[1]!, name: m[2]! });
      i++;
    } else if ((m = TOP_DEFINE.exec(text))) {
      if (m[3] !== undefined && !INERT.test(m[3])) bad(n, "table comment holds characters the renderer never writes");
      const def: Statement & { kind: "define" } = { kind: "define", line: n, family: m[1]!, name: m[2]!, ...(m[3] !== undefined ? { comment: m[3] } : {}), sets: [], chains: [] };
      const ok = table(n, def.family, def.name);
      i = parseTableBody(lines, i + 1, def, bad);
      if (ok) {
        checkTable(def, bad);
        statements.push(def);
      }
    } else {
      bad(n, `not a top-level line the renderer writes: ${JSON.stringify(text)}`);
      i++;
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, statements };
}

/** The body of a table definition from line index `i`; returns the index after its `}`. */
function parseTableBody(lines: string[], i: number, def: Statement & { kind: "define" }, bad: (line: number, message: string) => void): number {
  for (; i < lines.length; i++) {
    const text = lines[i]!;
    if (text === "}") return i + 1;
    const m = BLOCK.exec(text);
    if (!m) {
      bad(i + 1, `not a set or chain of table ${def.family} ${def.name}: ${JSON.stringify(text)}`);
      continue;
    }
    i = m[1] === "set" ? parseSet(lines, i, m[2]!, def, bad) : parseChain(lines, i, m[2]!, def, bad);
    if (i >= lines.length) break;
  }
  bad(def.line, `table ${def.family} ${def.name} is never closed`);
  return lines.length;
}

/** A set block from its opening line `i`; returns the index of its closing `\t}`. */
function parseSet(lines: string[], i: number, name: string, def: Statement & { kind: "define" }, bad: (line: number, message: string) => void): number {
  const set: SetDef = { name, line: i + 1, type: "", interval: false, elements: [] };
  def.sets.push(set);
  const type = /^\t\ttype (.+)$/.exec(lines[i + 1] ?? "");
  if (!type || !SET_TYPE.test(type[1]!)) bad(i + 2, `set ${name} does not start with a known type`);
  else set.type = type[1]!;
  for (i += type ? 2 : 1; i < lines.length; i++) {
    const text = lines[i]!;
    if (text === "\t}") return i;
    const comment = /^\t\tcomment "([^"]*)"$/.exec(text);
    if (text === "\t\tflags interval") set.interval = true;
    // A drop-summary set (render.ts: ir.ts NftSet.dynamic): bounded, expiring, counted.
    else if (/^\t\tsize [1-9]\d{0,5}$|^\t\ttimeout [1-9]\d{0,6}s$/.test(text) || text === "\t\tflags dynamic,timeout" || text === "\t\tcounter") continue;
    else if (comment) {
      if (!INERT.test(comment[1]!)) bad(i + 1, `set ${name}: comment holds characters the renderer never writes`);
      set.comment = comment[1];
    } else if (text === "\t\telements = {") {
      for (i++; i < lines.length && lines[i] !== "\t\t}"; i++) {
        const e = /^\t\t\t([^\t{};#"]+?)(,?)$/.exec(lines[i]!);
        const last = lines[i + 1] === "\t\t}";
        if (!e) bad(i + 1, `set ${name}: not an element line: ${JSON.stringify(lines[i])}`);
        else {
          if ((e[2] === ",") === last) bad(i + 1, `set ${name}: ${last ? "the last element line ends with a comma" : "an element line does not end with a comma"}`);
          set.elements.push(...e[1]!.split(", "));
        }
      }
    } else bad(i + 1, `set ${name}: not a set line the renderer writes: ${JSON.stringify(text)}`);
  }
  bad(set.line, `set ${name} is never closed`);
  return i;
}

/** A chain block from its opening line `i`; returns the index of its closing `\t}`. */
function parseChain(lines: string[], i: number, name: string, def: Statement & { kind: "define" }, bad: (line: number, message: string) => void): number {
  const chain: ChainDef = { name, line: i + 1, rules: [] };
  def.chains.push(chain);
  const hook = HOOK_LINE.exec(lines[i + 1] ?? "");
  if (hook) {
    chain.hook = { hook: hook[1]!, ...(hook[2] !== undefined ? { device: hook[2] } : {}), priority: Number(hook[3]) };
    if (!HOOKS[def.family]?.includes(hook[1]!)) bad(i + 2, `chain ${name}: hook ${hook[1]} is not a ${def.family} hook`);
    if ((def.family === "netdev") !== (hook[2] !== undefined)) bad(i + 2, `chain ${name}: ${def.family === "netdev" ? "a netdev chain needs a device" : "only netdev chains name a device"}`);
  }
  for (i += hook ? 2 : 1; i < lines.length; i++) {
    const text = lines[i]!;
    if (text === "\t}") return i;
    if (!/^\t\t[^\t\s]/.test(text)) {
      bad(i + 1, `chain ${name}: not a rule line: ${JSON.stringify(text)}`);
      continue;
    }
    const rule = parseRule(text.slice(2), i + 1, bad);
    if (rule) chain.rules.push(rule);
  }
  bad(chain.line, `chain ${name} is never closed`);
  return i;
}

function parseRule(text: string, line: number, bad: (line: number, message: string) => void): RuleDef | undefined {
  if ((text.match(/"/g) ?? []).length % 2 !== 0) return void bad(line, "unbalanced quotes");
  for (const q of text.matchAll(/"([^"]*)"/g)) if (!INERT.test(q[1]!)) return void bad(line, `quoted text the renderer never writes: ${JSON.stringify(q[1])}`);
  const bare = text.replace(/"[^"]*"/g, '""');
  if (/[;#\\$]/.test(bare)) return void bad(line, `a rule holds ${JSON.stringify(/[;#\\$]/.exec(bare)![0])} outside quotes`);
  let depth = 0;
  for (const ch of bare) {
    depth += ch === "{" ? 1 : ch === "}" ? -1 : 0;
    if (depth < 0) break;
  }
  if (depth !== 0) return void bad(line, "unbalanced braces");
  if (/^(add|delete|flush|table|chain|set|insert|replace|create|list|reset|rename)\b/.test(bare)) return void bad(line, `a rule line starts with the command ${JSON.stringify(bare.split(" ")[0])}`);
  const comment = / comment "([^"]*)"$/.exec(text)?.[1];
  return {
    line,
    text,
    ...(comment !== undefined ? { comment } : {}),
    counter: /\bcounter\b/.test(bare),
    targets: [...bare.matchAll(TARGET)].map((m) => m[1]!),
    sets: [...bare.matchAll(SET_REF)].map((m) => m[1]!),
  };
}

/** Names unique in the table; every jump/goto and @set resolves inside it. */
function checkTable(def: Statement & { kind: "define" }, bad: (line: number, message: string) => void): void {
  const sets = new Set<string>();
  const chains = new Map<string, ChainDef>();
  for (const s of def.sets) {
    if (sets.has(s.name)) bad(s.line, `set ${s.name} is defined twice in table ${def.family} ${def.name}`);
    sets.add(s.name);
  }
  for (const c of def.chains) {
    if (chains.has(c.name)) bad(c.line, `chain ${c.name} is defined twice in table ${def.family} ${def.name}`);
    chains.set(c.name, c);
  }
  for (const c of def.chains) {
    for (const r of c.rules) {
      for (const t of r.targets) {
        const target = chains.get(t);
        if (!target) bad(r.line, `jump/goto to chain ${t}, which table ${def.family} ${def.name} does not define`);
        else if (target.hook) bad(r.line, `jump/goto to base chain ${t}`);
      }
      for (const s of r.sets) if (!sets.has(s)) bad(r.line, `@${s}: table ${def.family} ${def.name} defines no such set`);
    }
  }
}

/** The problems in nft's own error format (`/dev/stdin:LINE:1-1: Error: …`), one per line. */
export function formatProblems(problems: readonly ScriptProblem[]): string {
  return problems.map((p) => `/dev/stdin:${p.line}:1-1: Error: ${p.message}\n`).join("");
}
