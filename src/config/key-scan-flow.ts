/**
 * Flow collections for key-scan.ts: `{...}` and `[...]`, across lines, as in JSON files and
 * `labels: {a: x}`. In a flow mapping a scalar before `:`, or alone before `,` or `}` (a key
 * with a null value), is a key; in a flow sequence `a: b` is a one-pair mapping, which cannot
 * repeat a key. Collections, aliases, anchors or tags as keys are not modelled (Unsupported).
 */
import type { FieldPath } from "./resource.ts";
import { CR, type Cursor, Found, type Frame, isFlowIndicator, LF, MAX_KEY, plainId, SP, TAB } from "./key-scan-cursor.ts";

/** `pending`: a key read, not yet recorded; `nodeNext`: the next token starts an entry of a sequence or a mapping's value. */
type FlowFrame = Frame & { pending?: { id: string; display: string; offset: number }; expectKey: boolean; nodeNext: boolean };

/** Scans from the `{` or `[` at `cur.pos` past its matching bracket; `base` is the collection's path. */
export function scanFlow(cur: Cursor, base: FieldPath): void {
  const t = cur.text;
  const stack: FlowFrame[] = [];
  const path = () => [...base, ...cur.path(stack, stack.length - 1)];
  const closeEntry = () => {
    const top = stack[stack.length - 1]!;
    const key = top.pending;
    if (top.map && key) {
      cur.addKey(top, key.id, key.display, key.offset, path);
      if (cur.target?.key && cur.isTarget(() => [...path(), key.display])) throw new Found(key.offset);
    }
    top.pending = undefined;
  };
  for (;;) {
    const c = t.charCodeAt(cur.pos);
    if (c !== c) cur.fail("an unclosed flow collection");
    if (c === SP || c === TAB || c === LF || c === CR) {
      cur.pos++;
      continue;
    }
    const top = stack[stack.length - 1];
    if (c === 35 /* # */) {
      cur.skipToEol();
      continue;
    }
    // The node starts after its anchor or tag, as the positioned parser places it.
    if (top?.nodeNext && c !== 44 && c !== 93 && c !== 125 && c !== 38 && c !== 33) {
      top.nodeNext = false;
      if (cur.target && !cur.target.key && cur.isTarget(() => [...base, ...cur.path(stack)])) throw new Found(cur.pos);
    }
    if (c === 123 || c === 91 /* { [ */) {
      if (top?.map && top.expectKey) cur.fail("a collection as a key");
      stack.push({ map: c === 123, col: -1, keys: new Map(), index: 0, expectKey: true, nodeNext: c === 91 });
      cur.pos++;
      continue;
    }
    if (!top) cur.fail("content after a flow collection");
    if (c === 125 || c === 93 /* } ] */) {
      if ((c === 125) !== top.map) cur.fail("mismatched brackets");
      closeEntry();
      stack.pop();
      cur.pos++;
      if (stack.length === 0) return;
      const parent = stack[stack.length - 1]!;
      if (parent.map && parent.expectKey) cur.fail("a collection as a key");
      continue;
    }
    if (c === 44 /* , */) {
      closeEntry();
      if (top.map) top.expectKey = true;
      else {
        top.index++;
        top.nodeNext = true;
      }
      cur.pos++;
      continue;
    }
    if (c === 58 /* : */) {
      cur.pos++;
      if (!top.map) continue; // a one-pair mapping inside a sequence
      if (!top.expectKey || !top.pending) cur.fail("an empty or second key in a flow mapping");
      if (cur.pos - top.pending.offset > MAX_KEY) cur.fail("a key over 1024 characters");
      closeEntry();
      top.expectKey = false;
      top.nodeNext = true;
      continue;
    }
    if (c === 63 && cur.blank(t.charCodeAt(cur.pos + 1))) cur.fail("an explicit key");
    if (c === 38 || c === 33 /* & ! */) {
      if (c === 33) cur.tagged = true;
      if (top.map && top.expectKey) cur.fail("an anchor or tag before a key");
      while (!cur.blank(t.charCodeAt(cur.pos)) && !isFlowIndicator(t.charCodeAt(cur.pos))) cur.pos++;
      continue;
    }
    if (c === 42 /* * */ && top.map && top.expectKey) cur.fail("an alias as a key");
    if (top.map && top.expectKey && top.pending) cur.fail("two scalars where one key belongs");
    // Only a key needs its text and identity; values (a million CIDRs) are only skipped.
    const start = cur.pos;
    const isKey = top.map && top.expectKey;
    if (c === 34 || c === 39) {
      if (isKey) top.pending = { ...cur.quotedKey(), offset: start };
      else cur.skipQuoted();
      continue;
    }
    flowPlain(cur);
    let end = cur.pos;
    while (end > start && cur.blank(t.charCodeAt(end - 1))) end--;
    cur.notePlain(start, end);
    if (isKey) {
      const source = t.slice(start, end);
      top.pending = { id: plainId(source, start), display: source, offset: start };
    }
  }
}

/** A plain scalar in flow context: up to a flow indicator, `: `, or ` #` (it may fold across lines). */
function flowPlain(cur: Cursor): void {
  const t = cur.text;
  let i = cur.pos;
  for (;;) {
    const c = t.charCodeAt(i);
    if (c !== c || isFlowIndicator(c)) break;
    if (c === 58) {
      const d = t.charCodeAt(i + 1);
      if (cur.blank(d) || isFlowIndicator(d)) break;
    }
    if (c === 35 && cur.blank(t.charCodeAt(i - 1))) break;
    i++;
  }
  cur.pos = i;
}
