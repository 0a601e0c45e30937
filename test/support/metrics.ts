/**
 * The Prometheus text format as tests read it (GET /metrics): `name{labels} value` per sample,
 * `#` lines skipped. A line that is not a sample is an error, not a silently wrong key.
 */

/** name, optional {labels} (quoted values may hold escaped quotes and braces), one space, the value. */
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?) (-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|[+-]?Inf|NaN)$/;

/** The samples of a /metrics page: `name{labels}` → value. Throws on a malformed or repeated sample. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  text.split("\n").forEach((line, i) => {
    if (!line || line.startsWith("#")) return;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`metrics line ${i + 1} is not a sample: ${JSON.stringify(line)}`);
    if (out.has(m[1]!)) throw new Error(`metrics line ${i + 1}: ${m[1]} appears twice`);
    out.set(m[1]!, Number(m[2]!.replace(/Inf$/, "Infinity")));
  });
  return out;
}
