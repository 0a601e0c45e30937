/**
 * The selector parser: recursive descent over the scanner's tokens (selector-scan.ts), one
 * token of lookahead, to the AST of selector.ts. Syntax errors are thrown internally as
 * `Failure` and returned as values with the offset of the offending character.
 */
import { sortedUnique } from "./selector-canonical.ts";
import { describe, Failure, Scanner, type Comparison, type Token } from "./selector-scan.ts";
import type { Selector, SelectorParse } from "./selector.ts";

const MAX_NESTING = 512;

const COMPARISON_KINDS: Record<Comparison, "eq" | "ne" | "contains" | "startsWith" | "endsWith"> = {
  "==": "eq", "!=": "ne", contains: "contains", startsWith: "startsWith", endsWith: "endsWith",
};

class Parser {
  private readonly scanner: Scanner;
  private tok: Token;

  constructor(text: string) {
    this.scanner = new Scanner(text);
    this.tok = this.scanner.next(false);
  }

  parse(): Selector {
    if (this.tok.kind === "eof") return { kind: "all" };
    const selector = this.or(0);
    const tok = this.tok;
    if (tok.kind === ")") throw new Failure(tok.at, "unmatched ')' after a complete expression");
    if (tok.kind !== "eof") {
      throw new Failure(tok.at, `found ${describe(tok)} after a complete expression; expected '&&', '||' or the end of the selector`);
    }
    return selector;
  }

  private advance(): Token {
    const prev = this.tok;
    this.tok = this.scanner.next(prev.kind === "label");
    return prev;
  }

  private or(depth: number): Selector {
    const operands = [this.and(depth)];
    while (this.tok.kind === "||") {
      this.advance();
      operands.push(this.and(depth));
    }
    return operands.length === 1 ? operands[0]! : { kind: "or", operands };
  }

  private and(depth: number): Selector {
    const operands = [this.unary(depth)];
    while (this.tok.kind === "&&") {
      this.advance();
      operands.push(this.unary(depth));
    }
    return operands.length === 1 ? operands[0]! : { kind: "and", operands };
  }

  private unary(depth: number): Selector {
    let negated = false;
    while (this.tok.kind === "!") {
      negated = !negated;
      this.advance();
    }
    const operand = this.primary(depth);
    return negated ? { kind: "not", operand } : operand;
  }

  private primary(depth: number): Selector {
    const tok = this.tok;
    switch (tok.kind) {
      case "(": {
        if (depth >= MAX_NESTING) throw new Failure(tok.at, `parentheses are nested more than ${MAX_NESTING} deep`);
        this.advance();
        const inner = this.or(depth + 1);
        if (this.tok.kind !== ")") {
          throw new Failure(this.tok.at, `expected ')' to match the '(' at offset ${tok.at}, found ${describe(this.tok)}`);
        }
        this.advance();
        return inner;
      }
      case "has":
        this.advance();
        return { kind: "has", label: tok.text };
      case "all": case "global":
        this.advance();
        return { kind: tok.kind };
      case "label":
        return this.comparison();
      case "string":
        throw new Failure(tok.at, "the left side of a comparison must be a label, not a string literal");
      default:
        throw new Failure(tok.at, `expected a label, has(), all(), global(), '!' or '(', found ${describe(tok)}`);
    }
  }

  private comparison(): Selector {
    const label = this.advance().text;
    const op = this.tok;
    switch (op.kind) {
      case "==": case "!=": case "contains": case "startsWith": case "endsWith": {
        this.advance();
        const value = this.tok;
        if (value.kind !== "string") {
          throw new Failure(value.at, `expected a string literal after '${op.text}', found ${describe(value)}`);
        }
        this.advance();
        return { kind: COMPARISON_KINDS[op.kind], label, value: value.text };
      }
      case "in": case "notIn":
        this.advance();
        return { kind: op.kind, label, values: this.setLiteral(op.text) };
      default: {
        // `has (x)` and friends tokenize as a label followed by '(' (Calico does the same).
        const hint = op.kind === "(" && (label === "has" || label === "all" || label === "global")
          ? `; write '${label}(' with no space before '('` : "";
        throw new Failure(op.at,
          `expected an operator (==, !=, contains, starts with, ends with, in, not in) after label '${label}', found ${describe(op)}${hint}`);
      }
    }
  }

  private setLiteral(op: string): string[] {
    if (this.tok.kind !== "{") {
      throw new Failure(this.tok.at, `expected '{' after '${op}' to start a set literal, found ${describe(this.tok)}`);
    }
    this.advance();
    const values: string[] = [];
    let afterValue = false;
    // current() rather than this.tok: TypeScript would keep the '{' narrowing across advance().
    while (this.current().kind === "string") {
      values.push(this.advance().text);
      afterValue = this.current().kind !== ",";
      if (afterValue) break;
      this.advance();
    }
    const tok = this.current();
    if (tok.kind !== "}") {
      const expected = afterValue ? "',' or '}'" : "a string literal or '}'";
      throw new Failure(tok.at, `expected ${expected} in set literal, found ${describe(tok)}`);
    }
    this.advance();
    return sortedUnique(values);
  }

  private current(): Token {
    return this.tok;
  }
}

/** Parses selector text; never throws. Empty or blank text is all(). */
export function parseSelector(text: string): SelectorParse {
  try {
    return { ok: true, selector: new Parser(text).parse() };
  } catch (e) {
    if (e instanceof Failure) return { ok: false, error: { offset: e.offset, message: e.message } };
    throw e;
  }
}
