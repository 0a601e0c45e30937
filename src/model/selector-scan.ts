/**
 * The selector scanner: text to tokens, one at a time, for the parser (selector-parse.ts).
 *
 * Facts taken from projectcalico/calico, libcalico-go/lib/selector, for the scanner, the parser
 * and the canonical form alike:
 * - tokenizer/tokenizer.go: only ' ' and '\t' are skipped. A token is scanned in operator mode
 *   exactly when the previous token was a label, so `contains`, `has`, `all`, `in` are ordinary
 *   labels anywhere else. Punctuation and quotes are tried before operator words. `has(`,
 *   `all(`, `global(` are recognised only with no space before '(' (blanks inside are fine).
 *   Operator words need a non-identifier char after the last word; multi-word operators take
 *   any run of blanks, or none, between words (`startswith`, `notin`). Labels are
 *   [A-Za-z0-9_./-]{1,512}. Strings have no escapes and end at the next identical quote, so a
 *   line break inside quotes is part of the value; Calico accepts that, and so do we.
 * - parser/parser.go: `||` binds looser than `&&`, which binds looser than `!`; a run of `!`
 *   collapses by parity; one operand is returned bare, never wrapped in a one-element and/or;
 *   set literals may be empty or end with a comma; set members are sorted and de-duplicated
 *   at parse time (stringset.go, Go byte order, i.e. code-point order); empty input is all().
 * - parser/ast.go, String(): `(a && b)`, `(a || b)`, `!x`, `k == "v"` quoted with `'` only when
 *   the value contains `"`, `k in {"a", "b"}`, `starts with`, `ends with`, `not in`.
 *
 * Deliberate differences; none changes which selectors are accepted:
 * - Calico tokenizes everything before parsing; we scan lazily, so with two mistakes in one
 *   selector we may report the other one.
 * - The word boundary after `not in`/`starts with`/`ends with` is checked before skipping
 *   blanks, so `a not in x` reports the missing '{' instead of a missing operator.
 * - `!(!x)` parses to not(not(x)). Go prints that as `!!x`, which parses back as plain x; we
 *   print `!(!x)` so that parsing the canonical form always gives back the same AST.
 * - Parentheses nest at most 512 deep, so hostile input cannot overflow the stack; a
 *   CRD-valid selector (at most 1024 characters) cannot nest deeper than 509.
 */

const MAX_LABEL_LENGTH = 512;

const LINE_BREAK_MESSAGE =
  "the selector contains a line break; a selector must be a single line. In YAML write it as a plain " +
  "or quoted scalar, or as a folded block with '>-' ('|' and '>' blocks keep the line break)";

export type Comparison = "==" | "!=" | "contains" | "startsWith" | "endsWith";
export type TokenKind =
  | "eof" | "label" | "string" | "has" | "all" | "global" | "noOperator"
  | "(" | ")" | "{" | "}" | "," | "!" | "&&" | "||" | Comparison | "in" | "notIn";

export interface Token {
  kind: TokenKind;
  at: number; // offset of the token's first character
  text: string; // label name, string value, has() label, or how an operator is spelt in messages
}

const OPERATOR_WORDS: ReadonlyArray<readonly [TokenKind, readonly string[]]> = [
  ["contains", ["contains"]],
  ["startsWith", ["starts", "with"]],
  ["endsWith", ["ends", "with"]],
  ["notIn", ["not", "in"]],
  ["in", ["in"]],
];

// Thrown inside the scanner and parser (unwinding the recursion is the point), caught only
// by parseSelector, so callers always get a value.
export class Failure {
  constructor(readonly offset: number, readonly message: string) {}
}

function isIdentChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ||
    c === 95 || c === 46 || c === 47 || c === 45; // _ . / -
}

export class Scanner {
  private pos = 0;
  constructor(private readonly text: string) {}

  // After a label Calico looks for operator words instead of labels, so `in in {...}` works.
  next(afterLabel: boolean): Token {
    this.skipBlanks();
    const text = this.text;
    const at = this.pos;
    if (at >= text.length) return { kind: "eof", at, text: "" };
    const c = text[at]!;
    switch (c) {
      case "(": case ")": case "{": case "}": case ",":
        this.pos++;
        return { kind: c, at, text: c };
      case '"': case "'": {
        const end = text.indexOf(c, at + 1);
        if (end < 0) throw new Failure(at, `unterminated string: no closing ${c}`);
        this.pos = end + 1;
        return { kind: "string", at, text: text.slice(at + 1, end) };
      }
      case "=": case "&": case "|":
        if (text[at + 1] !== c) throw new Failure(at, `lone '${c}': the operator is '${c}${c}'`);
        this.pos += 2;
        return { kind: (c === "=" ? "==" : c + c) as TokenKind, at, text: c + c };
      case "!":
        if (text[at + 1] === "=") {
          this.pos += 2;
          return { kind: "!=", at, text: "!=" };
        }
        this.pos++;
        return { kind: "!", at, text: "!" };
    }
    if (afterLabel) return this.operator(at);
    for (const name of ["has", "all", "global"] as const) {
      if (text.startsWith(name, at) && text[at + name.length] === "(") return this.call(name, at);
    }
    if (isIdentChar(text.charCodeAt(at))) return { kind: "label", at, text: this.identifier() };
    throw new Failure(at, `unexpected character ${JSON.stringify(charAt(text, at))}`);
  }

  private skipBlanks(): void {
    const text = this.text;
    let p = this.pos;
    while (text[p] === " " || text[p] === "\t") p++;
    this.pos = p;
    if (text[p] === "\n" || text[p] === "\r") throw new Failure(p, LINE_BREAK_MESSAGE);
  }

  private identifier(): string {
    const text = this.text;
    const start = this.pos;
    let end = start;
    while (end < text.length && isIdentChar(text.charCodeAt(end))) end++;
    if (end - start > MAX_LABEL_LENGTH) {
      throw new Failure(start, `label is ${end - start} characters long; labels are limited to ${MAX_LABEL_LENGTH}`);
    }
    this.pos = end;
    return text.slice(start, end);
  }

  // `at` points at the name, which is followed by '(' with nothing in between.
  private call(name: "has" | "all" | "global", at: number): Token {
    this.pos = at + name.length + 1;
    this.skipBlanks();
    let label = "";
    if (name === "has") {
      if (!isIdentChar(this.text.charCodeAt(this.pos))) throw new Failure(this.pos, "expected a label name inside has(...)");
      label = this.identifier();
      this.skipBlanks();
    }
    if (this.text[this.pos] !== ")") throw new Failure(this.pos, `expected ')' to close '${name}('`);
    this.pos++;
    return { kind: name, at, text: label };
  }

  private operator(at: number): Token {
    const text = this.text;
    candidates: for (const [kind, words] of OPERATOR_WORDS) {
      let p = at;
      for (let i = 0; i < words.length; i++) {
        if (i > 0) {
          this.pos = p;
          this.skipBlanks();
          p = this.pos;
        }
        if (!text.startsWith(words[i]!, p)) continue candidates;
        p += words[i]!.length;
      }
      if (isIdentChar(text.charCodeAt(p))) continue;
      this.pos = p;
      return { kind, at, text: words.join(" ") };
    }
    // Not an operator: the parser reports it, naming the word that was found.
    let end = at;
    while (end < text.length && isIdentChar(text.charCodeAt(end))) end++;
    this.pos = at;
    return { kind: "noOperator", at, text: end > at ? text.slice(at, end) : charAt(text, at) };
  }
}

function charAt(text: string, at: number): string {
  return String.fromCodePoint(text.codePointAt(at)!);
}

export function describe(tok: Token): string {
  switch (tok.kind) {
    case "eof": return "the end of the selector";
    case "label": return `label '${tok.text}'`;
    case "string": return "a string literal";
    case "has": return `'has(${tok.text})'`;
    case "all": case "global": return `'${tok.kind}()'`;
    default: return `'${tok.text}'`;
  }
}
