/**
 * A cheap guard before any YAML parser runs: nesting deeper than any Calico resource needs.
 *
 * Bun's native parser overflows its stack on a few thousand nested collections and the
 * positioned parser then needs minutes and gigabytes for the same file (a 24 MB file nested
 * 5,000 levels: killed at 120 s and 4 GB), all of it blocking the agent's event loop. Calico
 * resources nest about ten levels (spec.ingress[0].destination.selector …), so a file nested
 * deeper than MAX_DEPTH is refused at the place it got too deep, in one linear pass: flow
 * brackets outside quotes and comments, plus block levels by indentation.
 */

/** Far above what a resource needs, far below what hurts a parser. */
export const MAX_DEPTH = 64;

/** The offset where nesting first exceeds `max`, or undefined. */
export function tooDeep(text: string, max = MAX_DEPTH): number | undefined {
  let flow = 0;
  const indents: number[] = [];
  let lineStart = true;
  let indent = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      lineStart = true;
      indent = 0;
      continue;
    }
    if (lineStart) {
      if (c === 32) {
        indent++;
        continue;
      }
      lineStart = false;
      if (c !== 35 && flow === 0) {
        // A block line: its indentation opens or closes levels (`- ` items nest one more).
        while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
        indents.push(indent);
        if (indents.length + dashes(text, i) > max) return i;
      }
    }
    if (c === 35 && (i === 0 || text.charCodeAt(i - 1) === 32 || text.charCodeAt(i - 1) === 9 || text.charCodeAt(i - 1) === 10)) {
      i = skipTo(text, i, 10) - 1; // a comment, to the end of the line
    } else if (c === 34 || c === 39) {
      i = skipQuoted(text, i);
    } else if (c === 91 || c === 123) {
      if (++flow + indents.length > max) return i;
    } else if ((c === 93 || c === 125) && flow > 0) {
      flow--;
    }
  }
  return undefined;
}

/** `- - - x`: sequence entries opened on one line. */
function dashes(text: string, i: number): number {
  let n = 0;
  while (text.charCodeAt(i) === 45 && (text.charCodeAt(i + 1) === 32 || text.charCodeAt(i + 1) === 10)) {
    n++;
    i += 2;
    while (text.charCodeAt(i) === 32) i++;
  }
  return n;
}

function skipTo(text: string, i: number, code: number): number {
  const j = text.indexOf(String.fromCharCode(code), i);
  return j < 0 ? text.length : j;
}

/** The index of the closing quote (or the line end: a plain scalar with a quote in it is left alone). */
function skipQuoted(text: string, i: number): number {
  const quote = text.charCodeAt(i);
  // Only a quote that starts a scalar opens a quoted scalar.
  const prev = i > 0 ? text.charCodeAt(i - 1) : 32;
  if (!(prev === 32 || prev === 9 || prev === 10 || prev === 91 || prev === 123 || prev === 44 || prev === 58)) return i;
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (quote === 34 && c === 92) j++;
    else if (c === quote) {
      if (quote === 39 && text.charCodeAt(j + 1) === 39) j++;
      else return j;
    }
  }
  return text.length;
}
