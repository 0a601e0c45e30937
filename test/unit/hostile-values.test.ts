/**
 * Config values an attacker or a careless operator can write that must neither vanish silently
 * nor reach an output line unescaped (issue 18, finding 9).
 */
import { describe, expect, test } from "bun:test";
import { formatDiagnostic } from "../../src/diagnostics/diagnostic.ts";
import { loadConfig } from "../../src/validate/load.ts";

const hep = (meta: string) => `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: ${meta}
spec: {node: jasper, interfaceName: eth0}
`;

describe("hostile values", () => {
  test("a __proto__ label or annotation key is refused, not dropped", () => {
    for (const field of ["labels", "annotations"]) {
      const { diagnostics } = loadConfig([{ path: "a.yaml", text: hep(`{name: a, ${field}: {__proto__: x, role: web}}`) }], { node: "jasper" });
      const codes = diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.path}`);
      expect(codes).toEqual([`${field === "labels" ? "INVALID_LABEL_KEY" : "INVALID_ANNOTATION"} metadata.${field}.__proto__`]);
    }
  });

  test("a line break in a name never makes a diagnostic two lines", () => {
    const { diagnostics } = loadConfig([{ path: "a.yaml", text: hep(`{name: "x\\n<6>applied generation 42"}`) }], { node: "jasper" });
    expect(diagnostics.map((d) => d.code)).toContain("INVALID_NAME");
    for (const d of diagnostics) {
      const line = formatDiagnostic(d);
      expect(line).not.toContain("\n");
      if (d.code === "INVALID_NAME") expect(line).toContain("x\\x0a<6>applied generation 42");
    }
  });
});
