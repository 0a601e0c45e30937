/**
 * `npm run lint:imports`: the import graph of src/ has no cycle and no upstream arrow.
 *
 * The stage order is the table in src/README.md (the folder map): each row is a folder or a
 * top-level file with a rank; a module may import modules of its own row and of rows with a
 * smaller rank, never of a later stage or of another row of the same rank. Every src/ module
 * must belong to a row and every row must exist, so the map stays true. Cycles are looked for
 * between files, inside a row as well. Type-only imports count: they are arrows a reader
 * follows just the same.
 *
 * Imports are found with a regular expression over the text with comments blanked out, which
 * is enough for this codebase (one statement per line start, relative specifiers only).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";

/** One row of the folder map. */
export interface Stage {
  /** Position in the pipeline: a module may import rows of a smaller rank only. */
  rank: number;
  /** `folder/` or `file.ts`, relative to src/. */
  entry: string;
}

/** Reads the folder map: table rows `| rank | \`entry\` | job |` of src/README.md. */
export function parseStages(markdown: string): Stage[] {
  const stages: Stage[] = [];
  for (const m of markdown.matchAll(/^\|\s*(\d+)\s*\|\s*`([^`]+)`\s*\|/gm)) stages.push({ rank: Number(m[1]), entry: m[2]! });
  return stages;
}

/** Blanks comments (keeping line breaks), so commented-out or quoted example imports do not count. */
export function stripComments(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === "/" && next === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
    } else if (c === '"' || c === "'" || c === "`") {
      // Strings are kept whole (a specifier is one); `//` inside them is not a comment.
      // A quote inside a regular expression literal ends at the line break, not further.
      let j = i + 1;
      while (j < text.length && text[j] !== c && (c === "`" || text[j] !== "\n")) j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const STATIC = /^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gm;
const BARE = /^\s*import\s*["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

/** The relative specifiers a module imports, in order of appearance, each once. */
export function importSpecifiers(text: string): string[] {
  const code = stripComments(text);
  const found = [...code.matchAll(STATIC), ...code.matchAll(BARE), ...code.matchAll(DYNAMIC)].sort((a, b) => a.index! - b.index!);
  return [...new Set(found.map((m) => m[1]!).filter((s) => s.startsWith(".")))];
}

function resolveModule(from: string, spec: string): string | undefined {
  const base = join(dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, join(base, "index.ts")]) if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  return undefined;
}

function stageOf(file: string, stages: readonly Stage[]): Stage | undefined {
  return stages.find((s) => (s.entry.endsWith("/") ? file.startsWith(s.entry) : file === s.entry));
}

/** Every problem of the import graph under `srcDir`, one line each (empty: the graph is sound). */
export function checkImportGraph(srcDir: string): string[] {
  const problems: string[] = [];
  const stages = parseStages(readFileSync(join(srcDir, "README.md"), "utf8"));
  if (stages.length === 0) return [`${join(srcDir, "README.md")}: no folder map (rows "| rank | \`entry\` | job |")`];
  const files = [...new Bun.Glob("**/*.ts").scanSync({ cwd: srcDir, onlyFiles: true })].map((f) => f.split(sep).join("/")).sort();
  for (const s of stages) if (!files.some((f) => stageOf(f, [s]) !== undefined)) problems.push(`src/README.md: ${s.entry} holds no module`);

  const edges = new Map<string, string[]>();
  for (const file of files) {
    const stage = stageOf(file, stages);
    if (!stage) problems.push(`src/${file}: in no row of the folder map (src/README.md)`);
    const targets: string[] = [];
    for (const spec of importSpecifiers(readFileSync(join(srcDir, file), "utf8"))) {
      const resolved = resolveModule(join(srcDir, file), spec);
      if (!resolved) continue; // tsc reports it
      const target = relative(srcDir, resolved).split(sep).join("/");
      if (target.startsWith("../")) {
        problems.push(`src/${file}: imports ${spec}, outside src/`);
        continue;
      }
      targets.push(target);
      const to = stageOf(target, stages);
      if (stage && to && to !== stage && to.rank >= stage.rank) {
        problems.push(`src/${file}: imports src/${target}: ${stage.entry} (stage ${stage.rank}) may not import ${to.entry} (stage ${to.rank})`);
      }
    }
    edges.set(file, targets);
  }
  for (const cycle of cycles(edges)) problems.push(`cycle among ${cycle.map((f) => `src/${f}`).join(", ")}`);
  return problems;
}

/** The strongly connected components of more than one file (or a file importing itself), Tarjan's way. */
function cycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (edges.get(v) ?? []).includes(v)) out.push(component.sort());
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return out.sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
}

if (import.meta.main) {
  const srcDir = process.argv[2] ?? join(import.meta.dir, "../src");
  const problems = checkImportGraph(srcDir);
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`import graph: ${problems.length} problem(s); the stage order is the table in src/README.md`);
    process.exit(1);
  }
  console.log("import graph: no cycle, no upstream arrow");
}
