/**
 * The shared test scaffolding that decides what other tests see: the Prometheus parser
 * (test/support/metrics.ts) and the choice of the binary under test (test/support/binary.ts).
 */
import { describe, expect, test } from "bun:test";
import { binaryFor, DIST_BINARY } from "../support/binary.ts";
import { parseMetrics } from "../support/metrics.ts";

describe("parseMetrics", () => {
  test("samples by name and labels; comments and blank lines skipped; Inf and exponents", () => {
    const page = [
      "# HELP hostwall_generation Generation in force.",
      "# TYPE hostwall_generation gauge",
      "hostwall_generation 3",
      'hostwall_rule_packets_total{kind="gnp",policy="a",chain="gnp-a-in",note="x \\"}\\" y"} 12',
      'hostwall_apply_duration_seconds_bucket{le="+Inf"} 1',
      "hostwall_last_apply_duration_seconds 0.0125",
      "tiny 1e-7",
      "",
    ].join("\n");
    expect([...parseMetrics(page)]).toEqual([
      ["hostwall_generation", 3],
      ['hostwall_rule_packets_total{kind="gnp",policy="a",chain="gnp-a-in",note="x \\"}\\" y"}', 12],
      ['hostwall_apply_duration_seconds_bucket{le="+Inf"}', 1],
      ["hostwall_last_apply_duration_seconds", 0.0125],
      ["tiny", 1e-7],
    ]);
    expect(parseMetrics("a +Inf\nb -Inf\n").get("b")).toBe(-Infinity);
  });

  test("a line that is not a sample, or a sample twice, is an error with its line", () => {
    expect(() => parseMetrics("ok 1\nhostwall_generation\n")).toThrow('metrics line 2 is not a sample: "hostwall_generation"');
    expect(() => parseMetrics("a{x=\"1\"} one\n")).toThrow("metrics line 1 is not a sample");
    expect(() => parseMetrics("a 1\na 2\n")).toThrow("metrics line 2: a appears twice");
  });
});

describe("binaryFor", () => {
  test("dist/hostwall unless HOSTWALL_TEST_BINARY (or its older name HOSTWALL_BINARY) names an absolute path", () => {
    expect(binaryFor({})).toBe(DIST_BINARY);
    expect(binaryFor({ HOSTWALL_TEST_BINARY: "" })).toBe(DIST_BINARY);
    expect(binaryFor({ HOSTWALL_TEST_BINARY: "/opt/old/hostwall" })).toBe("/opt/old/hostwall");
    expect(binaryFor({ HOSTWALL_BINARY: "/opt/old/hostwall" })).toBe("/opt/old/hostwall");
    expect(binaryFor({ HOSTWALL_TEST_BINARY: "/a", HOSTWALL_BINARY: "/a" })).toBe("/a");
    expect(() => binaryFor({ HOSTWALL_TEST_BINARY: "/a", HOSTWALL_BINARY: "/b" })).toThrow("name different binaries");
    expect(() => binaryFor({ HOSTWALL_TEST_BINARY: "dist/hostwall" })).toThrow("must be an absolute path");
  });
});
