/**
 * Skip accounting for `npm test` (scripts/test.ts): which tests were skipped, why, and whether
 * CI tolerates it. bun test writes a JUnit report (`--reporter=junit`) that names every skipped
 * and todo test with its file and line; the reason is read from the source (the `skipIf(...)`
 * condition at the test's line or at an enclosing describe's), and test/skips.allow lists the
 * skips CI accepts, each with why. Under CI=true any other skip fails the run: a test that does
 * not run proves nothing, and a skip nobody looks at hides a missing tool or a broken gate.
 */

/** One test case of the JUnit report. */
export interface TestCase {
  /** Repo-relative test file. */
  file: string;
  /** Line of the test. */
  line: number;
  /** Full name: describe names and the test name joined by " > ". */
  name: string;
  status: "pass" | "fail" | "skip" | "todo";
  /** Lines of the enclosing describes, innermost first. */
  suiteLines: number[];
}

/** One line of test/skips.allow. */
export interface AllowEntry {
  file: string;
  /** Full test name; `*` matches any text. */
  pattern: string;
  /** Why CI tolerates this skip. */
  reason: string;
  /** Line in the allow-list, for messages. */
  line: number;
}

/** A skipped test with its reason, and the allow-list entry that covers it, if any. */
export interface Skip {
  test: TestCase;
  reason: string;
  allowedBy?: AllowEntry;
}

const unescape = (s: string) =>
  s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_, e: string) =>
    e === "lt" ? "<" : e === "gt" ? ">" : e === "amp" ? "&" : e === "quot" ? '"' : e === "apos" ? "'" : String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : Number(e.slice(1))),
  );

function attrs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/([\w-]+)="([^"]*)"/g)) out[m[1]!] = unescape(m[2]!);
  return out;
}

/** The test cases of a bun JUnit report (testsuite per file, nested testsuite per describe). */
export function parseJunit(xml: string): TestCase[] {
  const out: TestCase[] = [];
  const suites: Array<{ name: string; line?: number; file: boolean }> = [];
  let current: TestCase | undefined;
  for (const m of xml.matchAll(/<(\/?)(testsuites|testsuite|testcase|skipped|failure|error)\b([^>]*?)(\/?)>/g)) {
    const [, closing, tag, rest = "", selfClosing] = m;
    const a = attrs(rest);
    if (tag === "testsuite") {
      if (closing) suites.pop();
      else suites.push({ name: a.name ?? "", line: a.line ? Number(a.line) : undefined, file: a.line === undefined });
    } else if (tag === "testcase") {
      if (closing) {
        current = undefined;
        continue;
      }
      const describes = suites.filter((s) => !s.file);
      current = {
        file: a.file ?? suites.find((s) => s.file)?.name ?? "?",
        line: Number(a.line ?? 0),
        name: [...describes.map((s) => s.name), a.name ?? ""].join(" > "),
        status: "pass",
        suiteLines: describes.flatMap((s) => (s.line ? [s.line] : [])).reverse(),
      };
      out.push(current);
      if (selfClosing) current = undefined;
    } else if (current && !closing) {
      if (tag === "skipped") current.status = a.message === "TODO" ? "todo" : "skip";
      else current.status = "fail";
    }
  }
  return out;
}

/** The allow-list: `FILE | TEST NAME | WHY`, `#` comments and blank lines ignored. */
export function parseAllowList(text: string): { entries: AllowEntry[]; errors: string[] } {
  const entries: AllowEntry[] = [];
  const errors: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const parts = line.split(" | ").map((p) => p.trim());
    if (parts.length !== 3 || parts.some((p) => !p)) errors.push(`line ${i + 1}: expected "FILE | TEST NAME | WHY IT IS ALLOWED", got ${JSON.stringify(raw)}`);
    else entries.push({ file: parts[0]!, pattern: parts[1]!, reason: parts[2]!, line: i + 1 });
  });
  return { entries, errors };
}

function matches(entry: AllowEntry, t: TestCase): boolean {
  const re = new RegExp(`^${entry.pattern.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return entry.file === t.file && re.test(t.name);
}

/** `skipIf(COND)` / `if(COND)` / `skip(` in one source line, with the condition's balanced text. */
function skipCall(line: string): string | undefined {
  const m = /\.(skipIf|if|skip)\(/.exec(line);
  if (!m) return undefined;
  if (m[1] === "skip") return ".skip()";
  let depth = 1;
  let i = m.index + m[0].length;
  const start = i;
  for (; i < line.length && depth > 0; i++) depth += line[i] === "(" ? 1 : line[i] === ")" ? -1 : 0;
  const cond = line.slice(start, i - 1);
  return m[1] === "if" ? `if(${cond}) was false` : `skipIf(${cond})`;
}

/** Why a test was skipped, from its source: the skip call at its line or at the nearest describe's. */
export function skipReason(t: TestCase, source: string | undefined): string {
  const lines = source?.split("\n") ?? [];
  for (const n of [t.line, ...t.suiteLines]) {
    const call = skipCall(lines[n - 1] ?? "");
    if (call) return `${call} at ${t.file}:${n}`;
  }
  return `no skip call found at ${t.file}:${t.line} or its describes`;
}

/** Every skip with its reason and allow-list entry; entries that matched no skip. */
export function accountSkips(tests: readonly TestCase[], allow: readonly AllowEntry[], readSource: (file: string) => string | undefined): { skips: Skip[]; todos: TestCase[]; unused: AllowEntry[] } {
  const used = new Set<AllowEntry>();
  const skips = tests
    .filter((t) => t.status === "skip")
    .map((t): Skip => {
      const allowedBy = allow.find((e) => matches(e, t));
      if (allowedBy) used.add(allowedBy);
      return { test: t, reason: skipReason(t, readSource(t.file)), allowedBy };
    });
  return { skips, todos: tests.filter((t) => t.status === "todo"), unused: allow.filter((e) => !used.has(e)) };
}

/** The report `npm test` prints: one line per skip (reason, allowed or not) and per todo. */
export function formatSkips(skips: readonly Skip[], todos: readonly TestCase[], unused: readonly AllowEntry[], allowFile: string): string {
  const lines = [`${skips.length} skipped (${skips.filter((s) => !s.allowedBy).length} not on ${allowFile}), ${todos.length} todo`];
  for (const s of skips) {
    lines.push(`  skip ${s.test.file}:${s.test.line} ${s.test.name}`, `       because ${s.reason}; ${s.allowedBy ? `allowed (${allowFile}:${s.allowedBy.line}: ${s.allowedBy.reason})` : `NOT on ${allowFile}`}`);
  }
  for (const t of todos) lines.push(`  todo ${t.file}:${t.line} ${t.name}`);
  for (const e of unused) lines.push(`  note: ${allowFile}:${e.line} matched no skip (${e.file} | ${e.pattern})`);
  return lines.join("\n");
}
