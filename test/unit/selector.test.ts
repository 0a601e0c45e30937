import { describe, expect, test } from "bun:test";
import { matchesSelector, mentionsGlobal, type Labels, type Selector } from "../../src/model/selector.ts";
import { parseSelector } from "../../src/model/selector-parse.ts";
import { canonicalSelector } from "../../src/model/selector-canonical.ts";
import { mulberry32Unit as rng } from "../support/prng.ts";

// AST builders keep the tables readable.
const all: Selector = { kind: "all" };
const global: Selector = { kind: "global" };
const has = (label: string): Selector => ({ kind: "has", label });
const eq = (label: string, value: string): Selector => ({ kind: "eq", label, value });
const ne = (label: string, value: string): Selector => ({ kind: "ne", label, value });
const contains = (label: string, value: string): Selector => ({ kind: "contains", label, value });
const startsWith = (label: string, value: string): Selector => ({ kind: "startsWith", label, value });
const endsWith = (label: string, value: string): Selector => ({ kind: "endsWith", label, value });
const inSet = (label: string, ...values: string[]): Selector => ({ kind: "in", label, values });
const notIn = (label: string, ...values: string[]): Selector => ({ kind: "notIn", label, values });
const not = (operand: Selector): Selector => ({ kind: "not", operand });
const and = (...operands: Selector[]): Selector => ({ kind: "and", operands });
const or = (...operands: Selector[]): Selector => ({ kind: "or", operands });

const long512 = "l".repeat(512);
const long513 = "l".repeat(513);

// Valid selectors and the AST each must parse to.
const parseCases: Array<[text: string, ast: Selector]> = [
  // Empty and blank selectors select everything.
  ["", all],
  ["   ", all],
  ["\t \t", all],
  // all() / global(), with and without blanks inside.
  ["all()", all],
  ["all( )", all],
  [" all(\t) ", all],
  ["global()", global],
  ["global( )", global],
  // has(), blanks allowed inside the parentheses only.
  ["has(a)", has("a")],
  ["has( a )", has("a")],
  ["has(\ta\t)", has("a")],
  ["has(calico/k8s_NS-.1/role)", has("calico/k8s_NS-.1/role")],
  ["has(has)", has("has")],
  // Every comparison operator, spaced and unspaced.
  ['a == "b"', eq("a", "b")],
  ['a=="b"', eq("a", "b")],
  ["a\t==\t'b'", eq("a", "b")],
  ["a != 'b'", ne("a", "b")],
  ["a!='b'", ne("a", "b")],
  ['a contains "b"', contains("a", "b")],
  ['a contains"b"', contains("a", "b")],
  ["a contains'b'", contains("a", "b")],
  ['a starts with "b"', startsWith("a", "b")],
  ['a startswith "b"', startsWith("a", "b")],
  ['a starts \t  with "b"', startsWith("a", "b")],
  ['a startswith"b"', startsWith("a", "b")],
  ['a ends with "b"', endsWith("a", "b")],
  ["a endswith'b'", endsWith("a", "b")],
  ["a ends\twith 'b'", endsWith("a", "b")],
  // Set literals: empty, trailing comma, no space before '{', sorted and de-duplicated.
  ['a in {"x"}', inSet("a", "x")],
  ["a in{'x'}", inSet("a", "x")],
  ["a in {}", inSet("a")],
  ["a in { }", inSet("a")],
  ['a in {"x",}', inSet("a", "x")],
  ['a in {"y", "x", "y"}', inSet("a", "x", "y")],
  ['a not in {"x"}', notIn("a", "x")],
  ['a notin{"x"}', notIn("a", "x")],
  ["a not\tin {}", notIn("a")],
  ["a not    in{'b','a',}", notIn("a", "a", "b")],
  // Quoting: both kinds, the other quote inside, empty strings, operators inside strings.
  [`a == "it's"`, eq("a", "it's")],
  [`a == 'say "hi"'`, eq("a", 'say "hi"')],
  ['a == ""', eq("a", "")],
  ["a == ''", eq("a", "")],
  ['a == " padded\tvalue "', eq("a", " padded\tvalue ")],
  ['a == "x || y && !z (w)"', eq("a", "x || y && !z (w)")],
  ['a == "global()"', eq("a", "global()")],
  // Calico's tokenizer takes a string to the next identical quote, line breaks included.
  ['a == "x\ny"', eq("a", "x\ny")],
  // Label syntax, and keywords used as ordinary labels in label position.
  ['-a == "x"', eq("-a", "x")],
  ['1 == "x"', eq("1", "x")],
  ['./- == "x"', eq("./-", "x")],
  ['a.b/c-d_E == "x"', eq("a.b/c-d_E", "x")],
  ['contains contains "contains"', contains("contains", "contains")],
  ["startswith starts with 'v'", startsWith("startswith", "v")],
  ['has == "x"', eq("has", "x")],
  ['all == "x"', eq("all", "x")],
  ['global != "x"', ne("global", "x")],
  ["in in {'in'}", inSet("in", "in")],
  ["not not in {'x'}", notIn("not", "x")],
  [`${long512} == "x"`, eq(long512, "x")],
  [`has(${long512})`, has(long512)],
  // Precedence and associativity: || < && < ! < comparison; n-ary, left to right.
  ['a == "1" || b == "1" && c == "1"', or(eq("a", "1"), and(eq("b", "1"), eq("c", "1")))],
  ['a == "1" && b == "1" || c == "1"', or(and(eq("a", "1"), eq("b", "1")), eq("c", "1"))],
  ['a == "1" && b == "1" && c == "1"', and(eq("a", "1"), eq("b", "1"), eq("c", "1"))],
  ['a == "1" || b == "1" || c == "1"', or(eq("a", "1"), eq("b", "1"), eq("c", "1"))],
  ['(a == "1" || b == "1") && c == "1"', and(or(eq("a", "1"), eq("b", "1")), eq("c", "1"))],
  ['(a == "1" && b == "1") && c == "1"', and(and(eq("a", "1"), eq("b", "1")), eq("c", "1"))],
  ['a == "1" && (b == "1" && c == "1")', and(eq("a", "1"), and(eq("b", "1"), eq("c", "1")))],
  ['a=="x"&&b!="y"||has(c)', or(and(eq("a", "x"), ne("b", "y")), has("c"))],
  // '!' binds to one primary; runs of '!' cancel in pairs; parentheses keep a negation.
  ['!a == "x"', not(eq("a", "x"))],
  ['!a == "x" && b == "y"', and(not(eq("a", "x")), eq("b", "y"))],
  ['!(a == "x" && b == "y")', not(and(eq("a", "x"), eq("b", "y")))],
  ["!a in {'x'}", not(inSet("a", "x"))],
  ["!has(a)", not(has("a"))],
  ["!!has(a)", has("a")],
  ["!!!has(a)", not(has("a"))],
  ["! !\t! has(a)", not(has("a"))],
  ["!(!has(a))", not(not(has("a")))],
  ["!all()", not(all)],
  ["!global()", not(global)],
  ["(((has(a))))", has("a")],
  ["( has(a) )", has("a")],
  [`${"(".repeat(512)}has(a)${")".repeat(512)}`, has("a")],
];

type ErrorCategory =
  | "lineBreak" | "unterminatedString" | "loneOperator" | "unexpectedCharacter" | "labelTooLong"
  | "hasLabel" | "unclosedCall" | "expectedOperator" | "expectedString" | "expectedSet"
  | "setMember" | "literalOnLeft" | "expectedExpression" | "unclosedParen" | "trailing" | "tooDeep";

// The phrase each category's message must contain; one phrase per category, not the wording.
const errorPhrases: Record<ErrorCategory, RegExp> = {
  lineBreak: /contains a line break.*plain.*'>-'/,
  unterminatedString: /^unterminated string/,
  loneOperator: /^lone '[=&|]'/,
  unexpectedCharacter: /^unexpected character/,
  labelTooLong: /limited to 512/,
  hasLabel: /^expected a label name inside has\(/,
  unclosedCall: /^expected '\)' to close '(has|all|global)\('/,
  expectedOperator: /^expected an operator .* after label/,
  expectedString: /^expected a string literal after/,
  expectedSet: /^expected '\{' after/,
  setMember: /in set literal/,
  literalOnLeft: /left side of a comparison must be a label/,
  expectedExpression: /^expected a label, has\(\), all\(\), global\(\), '!' or '\('/,
  unclosedParen: /^expected '\)' to match the '\(' at offset \d+/,
  trailing: /after a complete expression/,
  tooDeep: /nested more than 512 deep/,
};

// Invalid selectors, what kind of error each is, and where it must be reported.
const errorCases: Array<[text: string, category: ErrorCategory, offset: number]> = [
  // Line breaks are not whitespace anywhere outside a string.
  ['a == "x"\n', "lineBreak", 8],
  ['a == "x" \r\n|| b == "y"', "lineBreak", 9],
  ['a ==\n"x"', "lineBreak", 4],
  ["\n", "lineBreak", 0],
  ["has(\na)", "lineBreak", 4],
  ["has(a\n)", "lineBreak", 5],
  ['a starts\nwith "x"', "lineBreak", 8],
  ['a\r== "x"', "lineBreak", 1],
  // Strings.
  ['"FOO', "unterminatedString", 0],
  ["'FOO", "unterminatedString", 0],
  [`"FOO'`, "unterminatedString", 0],
  ["a == 'x", "unterminatedString", 5],
  ['a in {"x", "y}', "unterminatedString", 11],
  // Single '=', '&', '|'.
  ['a = "x"', "loneOperator", 2],
  ['a == "x" & b == "y"', "loneOperator", 9],
  ['a == "x" | b == "y"', "loneOperator", 9],
  ['foo == "bar" &', "loneOperator", 13],
  ['a !== "x"', "loneOperator", 4],
  // Characters that start no token.
  ["%", "unexpectedCharacter", 0],
  ['a == "b" && %', "unexpectedCharacter", 12],
  ['é == "x"', "unexpectedCharacter", 0],
  ['a == "x" && b == "y" #note', "unexpectedCharacter", 21],
  ["has(a) && *", "unexpectedCharacter", 10],
  // Labels longer than 512.
  [`${long513} == "x"`, "labelTooLong", 0],
  [`x == "1" || ${long513} == "y"`, "labelTooLong", 12],
  [`has(${long513})`, "labelTooLong", 4],
  // has(), all(), global() internals.
  ["has()", "hasLabel", 4],
  ["has( )", "hasLabel", 5],
  ['has("a")', "hasLabel", 4],
  ["has(a", "unclosedCall", 5],
  ["has(a b)", "unclosedCall", 6],
  ["all(x)", "unclosedCall", 4],
  ["all(", "unclosedCall", 4],
  ["global( x)", "unclosedCall", 8],
  // A label must be followed by an operator; keyword operators need a word boundary.
  ["a", "expectedOperator", 1],
  ["a ", "expectedOperator", 2],
  ["a b", "expectedOperator", 2],
  ['a inf "v"', "expectedOperator", 2],
  ['a containsx "v"', "expectedOperator", 2],
  ["a in_x {}", "expectedOperator", 2],
  ["a notinx {}", "expectedOperator", 2],
  ['a not "x"', "expectedOperator", 2],
  ['a starts "x"', "expectedOperator", 2],
  ['a ends "x"', "expectedOperator", 2],
  ['a startswithx "v"', "expectedOperator", 2],
  ["a (", "expectedOperator", 2],
  ["all ()", "expectedOperator", 4],
  ["has (a)", "expectedOperator", 4],
  ['a ! = "x"', "expectedOperator", 2],
  ["a 'x'", "expectedOperator", 2],
  ['a == "x" || b', "expectedOperator", 13],
  // Comparisons take a string literal on the right.
  ["b == b", "expectedString", 5],
  ["b contains b", "expectedString", 11],
  ["b starts with b", "expectedString", 14],
  ["b ends with b", "expectedString", 12],
  ["foo != ||", "expectedString", 7],
  ["a ==", "expectedString", 4],
  ['a == {"x"}', "expectedString", 5],
  ["a contains has(b)", "expectedString", 11],
  // in / not in take a set literal.
  ['foo in ""', "expectedSet", 7],
  ["a in", "expectedSet", 4],
  ['a not in ("x")', "expectedSet", 9],
  ["a not in x", "expectedSet", 9],
  // Set literal contents.
  ['foo in {"", ||', "setMember", 12],
  ["a in {,}", "setMember", 6],
  ['a in {"x",,}', "setMember", 10],
  ['a in {"x" "y"}', "setMember", 10],
  ['a in {"x"', "setMember", 9],
  ['a in {"x",', "setMember", 10],
  ["a in {x}", "setMember", 6],
  [`a in {"x', "y}`, "setMember", 12],
  // The left side must be a label.
  ["'b1' == b", "literalOnLeft", 0],
  ['a == "x" && "y" == a', "literalOnLeft", 12],
  // Where an expression is expected.
  ["()", "expectedExpression", 1],
  ["!", "expectedExpression", 1],
  ["!!", "expectedExpression", 2],
  ["(", "expectedExpression", 1],
  [")", "expectedExpression", 0],
  ["has(foo) &&", "expectedExpression", 11],
  ['a == "x" || || b == "y"', "expectedExpression", 12],
  ['&& a == "x"', "expectedExpression", 0],
  ['!= "x"', "expectedExpression", 0],
  ["{}", "expectedExpression", 0],
  // Unclosed parentheses report where ')' was due.
  ['(a == "foo"', "unclosedParen", 11],
  ['((a == "x")', "unclosedParen", 11],
  ['(a == "x" b == "y")', "unclosedParen", 10],
  // Anything after a complete expression.
  ['a == "x")', "trailing", 8],
  ["a == 'x' b", "trailing", 9],
  ["has(a) has(b)", "trailing", 7],
  ['all() == "x"', "trailing", 6],
  ['a == "x" "y"', "trailing", 9],
  ['(a == "x"))', "trailing", 10],
  ['has(a) == "x"', "trailing", 7],
  // Nesting limit.
  [`${"(".repeat(513)}has(a)${")".repeat(513)}`, "tooDeep", 512],
];

describe("parseSelector: valid selectors", () => {
  test.each(parseCases)("%j", (text, ast) => {
    expect(parseSelector(text)).toEqual({ ok: true, selector: ast });
  });
});

describe("parseSelector: syntax errors", () => {
  test.each(errorCases)("%j is %s at %d", (text, category, offset) => {
    const result = parseSelector(text);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.offset).toBe(offset);
    expect(result.error.message).toMatch(errorPhrases[category]);
  });
});

// Truth tables: selector, labels, expected.
const evalCases: Array<[text: string, labels: Labels, expected: boolean]> = [
  ['a == "x"', { a: "x" }, true],
  ['a == "x"', { a: "y" }, false],
  ['a == "x"', {}, false],
  ['a == "x"', { a: "" }, false],
  ['a == "x"', { b: "x" }, false],
  ['a == ""', { a: "" }, true],
  ['a == ""', {}, false],
  ['a == "X"', { a: "x" }, false],
  ['a != "x"', { a: "x" }, false],
  ['a != "x"', { a: "y" }, true],
  ['a != "x"', {}, true],
  ['a != ""', { a: "" }, false],
  ['a contains "b"', { a: "abc" }, true],
  ['a contains "b"', { a: "ac" }, false],
  ['a contains "b"', {}, false],
  ['a contains "B"', { a: "abc" }, false],
  ['a contains ""', { a: "" }, true],
  ['a contains ""', {}, false],
  ['a starts with "ab"', { a: "abc" }, true],
  ['a starts with "ab"', { a: "cab" }, false],
  ['a starts with "ab"', { a: "AB" }, false],
  ['a starts with "ab"', {}, false],
  ['a ends with "bc"', { a: "abc" }, true],
  ['a ends with "bc"', { a: "bca" }, false],
  ['a ends with "bc"', {}, false],
  ['a in {"x", "y"}', { a: "y" }, true],
  ['a in {"x", "y"}', { a: "z" }, false],
  ['a in {"x", "y"}', {}, false],
  ["a in {}", { a: "x" }, false],
  ["a in {}", {}, false],
  ['a in {""}', { a: "" }, true],
  ['a not in {"x"}', { a: "x" }, false],
  ['a not in {"x"}', { a: "z" }, true],
  ['a not in {"x"}', {}, true],
  ["a not in {}", {}, true],
  ["a not in {}", { a: "x" }, true],
  ["has(a)", { a: "" }, true],
  ["has(a)", { a: "x" }, true],
  ["has(a)", {}, false],
  ["has(a)", { b: "a" }, false],
  ["!has(a)", {}, true],
  ["!has(a)", { a: "" }, false],
  ["all()", {}, true],
  ["global()", {}, true],
  ["", { a: "x" }, true],
  ["!all()", {}, false],
  ['!a == "x"', {}, true],
  ['!a == "x"', { a: "x" }, false],
  ['!a in {"x"}', { a: "y" }, true],
  // Precedence shows in the outcome: || is looser than &&.
  ['a == "1" || b == "1" && c == "1"', { a: "1" }, true],
  ['a == "1" || b == "1" && c == "1"', { b: "1" }, false],
  ['a == "1" || b == "1" && c == "1"', { b: "1", c: "1" }, true],
  ['(a == "1" || b == "1") && c == "1"', { a: "1" }, false],
  ['(a == "1" || b == "1") && c == "1"', { a: "1", c: "1" }, true],
  ["!(has(a) && has(b))", { a: "" }, true],
  ["!(has(a) && has(b))", { a: "", b: "" }, false],
  ["!has(a) && has(b)", { b: "" }, true],
  ["!!has(a)", { a: "" }, true],
  // Own properties only: Object.prototype members are not labels.
  ["has(constructor)", {}, false],
  ["has(toString)", {}, false],
  ["has(__proto__)", {}, false],
  ["has(__proto__)", JSON.parse('{"__proto__": "x"}') as Record<string, string>, true],
  ["has(get)", { get: "x" }, true],
  // Maps work the same way.
  ['a == "x"', new Map([["a", "x"]]), true],
  ['a != "x"', new Map<string, string>(), true],
  ["has(get)", new Map<string, string>(), false],
  ['a in {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}', new Map([["a", "10"]]), true],
  ['a in {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}', { a: "11" }, false],
  ['a not in {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}', { a: "9" }, false],
];

describe("matchesSelector", () => {
  test.each(evalCases)("%j on %j is %p", (text, labels, expected) => {
    const parsed = parseSelector(text);
    if (!parsed.ok) throw new Error(`${text}: ${parsed.error.message}`);
    expect(matchesSelector(parsed.selector, labels)).toBe(expected);
  });

  test("evaluates 100k label maps well under a second", () => {
    const parsed = parseSelector('(role in {"db", "web", "cache"} && env != "dev") || name starts with "edge-" && !has(drain)');
    if (!parsed.ok) throw new Error(parsed.error.message);
    const roles = ["db", "web", "cache", "lb"];
    const maps: Array<Record<string, string>> = [];
    for (let i = 0; i < 100_000; i++) {
      const labels: Record<string, string> = { role: roles[i % 4]!, env: i % 3 === 0 ? "dev" : "prod", name: `${i % 5 === 0 ? "edge" : "core"}-${i}` };
      if (i % 7 === 0) labels.drain = "";
      maps.push(labels);
    }
    const start = performance.now();
    let matched = 0;
    for (const labels of maps) if (matchesSelector(parsed.selector, labels)) matched++;
    const elapsed = performance.now() - start;
    let expected = 0;
    for (let i = 0; i < 100_000; i++) {
      const first = i % 4 !== 3 && i % 3 !== 0;
      const second = i % 5 === 0 && i % 7 !== 0;
      if (first || second) expected++;
    }
    expect(matched).toBe(expected);
    expect(elapsed).toBeLessThan(500);
  });
});

// Felix's canonical text; the first block is libcalico-go parser_test.go's own table.
const canonicalCases: Array<[text: string, canonical: string]> = [
  ["", "all()"],
  [" all() ", "all()"],
  [" (all() )", "all()"],
  ["! (has( b)||! has(a ))", "!(has(b) || !has(a))"],
  ['! (a == "b"&&! c != "d")', '!(a == "b" && !c != "d")'],
  [`a == "'"`, `a == "'"`],
  [`a == '"'`, `a == '"'`],
  [`a contains '"'`, `a contains '"'`],
  [`a contains "'"`, `a contains "'"`],
  [`a startswith '"'`, `a starts with '"'`],
  [`a endswith "'"`, `a ends with "'"`],
  [`a!='"'`, `a != '"'`],
  ['a in {"d"}', 'a in {"d"}'],
  ['a in {"d", "a", "b"}', 'a in {"a", "b", "d"}'],
  ['a in {"z", "z", "x", "y", "x", "a"}', 'a in {"a", "x", "y", "z"}'],
  ["!(k == 'v')", '!k == "v"'],
  ["!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))", '!(!((k == "v" && has(t)) || all()) && a in {"b", "c"})'],
  // Ours.
  ["global( )", "global()"],
  ["a == ''", 'a == ""'],
  [`a in {'"x"', "y"}`, `a in {'"x"', "y"}`],
  ["a notin{'x',}", 'a not in {"x"}'],
  ["a not in {}", "a not in {}"],
  ["a\tends  with 'z'", 'a ends with "z"'],
  ["a == 'x' && b == 'y' && c == 'z'", '(a == "x" && b == "y" && c == "z")'],
  ["a == 'x' || b == 'y' && c == 'z'", '(a == "x" || (b == "y" && c == "z"))'],
  ["(a == 'x' || b == 'y') && c == 'z'", '((a == "x" || b == "y") && c == "z")'],
  ["((a == 'x' && b == 'y')) && c == 'z'", '((a == "x" && b == "y") && c == "z")'],
  ["!!has(a)", "has(a)"],
  ["!(!has(a))", "!(!has(a))"],
  ["!(a == 'x' || !has(b))", '!(a == "x" || !has(b))'],
  // Go sorts by code point: U+FFFF before U+1F600, though UTF-16 order says otherwise.
  ['a in {"😀", "\uffff", "b"}', 'a in {"b", "\uffff", "😀"}'],
];

describe("canonicalSelector", () => {
  test.each(canonicalCases)("%j prints as %j", (text, canonical) => {
    const parsed = parseSelector(text);
    if (!parsed.ok) throw new Error(`${text}: ${parsed.error.message}`);
    expect(canonicalSelector(parsed.selector)).toBe(canonical);
  });

  const roundTrips = [...parseCases.map(([text]) => text), ...canonicalCases.map(([text]) => text)];
  test.each(roundTrips)("%j: parsing the canonical form gives the same AST", (text) => {
    const first = parseSelector(text);
    if (!first.ok) throw new Error(`${text}: ${first.error.message}`);
    const canonical = canonicalSelector(first.selector);
    expect(parseSelector(canonical)).toEqual({ ok: true, selector: first.selector });
  });

  // Hand-built ASTs the parser never produces still print as text that parses back to an
  // equivalent selector with the same canonical form.
  const handBuilt: Array<[ast: Selector, canonical: string]> = [
    [and(), "all()"],
    [or(), "!all()"],
    [and(has("a")), "has(a)"],
    [not(or()), "!(!all())"],
    [not(not(has("a"))), "!(!has(a))"],
    [not(and(not(has("a")))), "!(!has(a))"],
    [inSet("a", "b", "a", "b"), 'a in {"a", "b"}'],
    [notIn("a"), "a not in {}"],
  ];
  test.each(handBuilt)("hand-built %j prints as %j and is a fixed point", (ast, canonical) => {
    expect(canonicalSelector(ast)).toBe(canonical);
    const reparsed = parseSelector(canonical);
    if (!reparsed.ok) throw new Error(reparsed.error.message);
    expect(canonicalSelector(reparsed.selector)).toBe(canonical);
  });
});

describe("mentionsGlobal", () => {
  const cases: Array<[string, boolean]> = [
    ["global()", true],
    ["global( )", true],
    ["has(a) && global()", true],
    ['a == "global("', true],
    ["xglobal(", true],
    ["global ()", false],
    ["Global()", false],
    ["has(global)", false],
    ['global == "x"', false],
    ["", false],
  ];
  test.each(cases)("%j -> %p", (text, expected) => {
    expect(mentionsGlobal(text)).toBe(expected);
  });
});

// Small deterministic PRNG (mulberry32) so generated cases are the same on every run.

describe("generated inputs", () => {
  test("mutated text never throws; offsets are in range; valid results round-trip", () => {
    const next = rng(42);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    const clauses = ['a == "x"', "has(b)", "b in {'y', \"x\",}", "all()", "global()", "c not in {}", "a startswith 'q'",
      'c!=""', "b contains'\"'", "a ends with 'z'"];
    const noise = ["(", ")", "!", "=", "&", "|", "{", "}", ",", '"', "'", "\n", "%", " ", "in", "x", "has("];
    let valid = 0;
    let invalid = 0;
    for (let i = 0; i < 5000; i++) {
      const parts: string[] = [];
      const n = 1 + Math.floor(next() * 4);
      for (let j = 0; j < n; j++) {
        if (j > 0) parts.push(pick(["&&", "||"]));
        let clause = pick(clauses);
        if (next() < 0.3) clause = `!${clause}`;
        if (next() < 0.2) clause = `(${clause})`;
        parts.push(clause);
      }
      let text = parts.join(pick([" ", "", "\t", "  "]));
      if (next() < 0.5) {
        const at = Math.floor(next() * (text.length + 1));
        text = next() < 0.5 ? text.slice(0, at) + pick(noise) + text.slice(at) : text.slice(0, at) + text.slice(at + 1);
      }
      const result = parseSelector(text);
      if (!result.ok) {
        invalid++;
        expect(result.error.offset).toBeGreaterThanOrEqual(0);
        expect(result.error.offset).toBeLessThanOrEqual(text.length);
        continue;
      }
      valid++;
      expect(parseSelector(canonicalSelector(result.selector))).toEqual(result);
    }
    // Both halves of the test must have had real work to do.
    expect(valid).toBeGreaterThan(1000);
    expect(invalid).toBeGreaterThan(1000);
  });

  test("random ASTs: canonical text parses back to a selector that agrees on random labels", () => {
    const next = rng(7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    const keys = ["a", "b", "c"];
    const vals = ["", "x", "y", "xy", `q"`, "'"];
    const gen = (depth: number): Selector => {
      const leaf = depth <= 0 || next() < 0.4;
      if (leaf) {
        switch (pick(["has", "eq", "ne", "contains", "startsWith", "endsWith", "in", "notIn", "all", "global"] as const)) {
          case "has": return has(pick(keys));
          case "eq": return eq(pick(keys), pick(vals));
          case "ne": return ne(pick(keys), pick(vals));
          case "contains": return contains(pick(keys), pick(vals));
          case "startsWith": return startsWith(pick(keys), pick(vals));
          case "endsWith": return endsWith(pick(keys), pick(vals));
          case "in": return inSet(pick(keys), pick(vals), pick(vals));
          case "notIn": return notIn(pick(keys), pick(vals));
          case "all": return all;
          case "global": return global;
        }
      }
      const kind = pick(["not", "and", "or"] as const);
      if (kind === "not") return not(gen(depth - 1));
      const operands = Array.from({ length: Math.floor(next() * 4) }, () => gen(depth - 1));
      return kind === "and" ? and(...operands) : or(...operands);
    };
    for (let i = 0; i < 500; i++) {
      const ast = gen(4);
      const canonical = canonicalSelector(ast);
      const reparsed = parseSelector(canonical);
      if (!reparsed.ok) throw new Error(`${canonical}: ${reparsed.error.message}`);
      expect(canonicalSelector(reparsed.selector)).toBe(canonical);
      for (let j = 0; j < 20; j++) {
        const labels: Record<string, string> = {};
        for (const k of keys) if (next() < 0.6) labels[k] = pick(vals);
        expect(matchesSelector(reparsed.selector, labels)).toBe(matchesSelector(ast, labels));
      }
    }
  });
});

describe("table coverage", () => {
  // A Record over Selector["kind"] fails to type-check when a kind is added and not listed.
  const kinds: Record<Selector["kind"], true> = {
    all: true, global: true, has: true, eq: true, ne: true, contains: true, startsWith: true,
    endsWith: true, in: true, notIn: true, not: true, and: true, or: true,
  };

  const kindsIn = (s: Selector, out: Set<string>): Set<string> => {
    out.add(s.kind);
    if (s.kind === "not") kindsIn(s.operand, out);
    if (s.kind === "and" || s.kind === "or") for (const o of s.operands) kindsIn(o, out);
    return out;
  };

  test("every AST kind appears in the parse table", () => {
    const seen = new Set<string>();
    for (const [, ast] of parseCases) kindsIn(ast, seen);
    expect([...seen].sort()).toEqual(Object.keys(kinds).sort());
  });

  test("every AST kind is evaluated by the truth table", () => {
    const seen = new Set<string>();
    for (const [text] of evalCases) {
      const parsed = parseSelector(text);
      if (parsed.ok) kindsIn(parsed.selector, seen);
    }
    expect([...seen].sort()).toEqual(Object.keys(kinds).sort());
  });

  test("every error category appears in the error table", () => {
    const seen = new Set<string>(errorCases.map(([, category]) => category));
    expect([...seen].sort()).toEqual(Object.keys(errorPhrases).sort());
  });

  test("each error phrase identifies exactly one category", () => {
    for (const [text, category] of errorCases) {
      const result = parseSelector(text);
      if (result.ok) throw new Error(`${text} parsed`);
      const matching = Object.entries(errorPhrases).filter(([, re]) => re.test(result.error.message)).map(([c]) => c);
      expect(matching).toEqual([category]);
    }
  });
});
