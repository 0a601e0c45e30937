/**
 * The name patterns of the schema (validate/fields.ts NAME_PATTERNS) against the functions the
 * validator runs (model/names.ts), over hand-picked edge cases and thousands of generated
 * strings: each pattern must accept exactly what its function accepts. And per kind, the
 * pattern the schema puts on metadata.name must be the rule the validator applies to that kind.
 */
import { describe, expect, test } from "bun:test";
import { isDnsLabel, isDnsSubdomain, isInterfaceName, isNetworkPolicyName, isPolicyName, isPortName, labelKeyProblem, labelValueProblem } from "../../src/model/names.ts";
import { loadConfig } from "../../src/validate/load.ts";
import { KIND_TABLE, KINDS, NAME_PATTERNS } from "../../src/validate/fields.ts";
import { mulberry32Unit as rng } from "../support/prng.ts";

const FUNCTIONS: Record<keyof typeof NAME_PATTERNS, (s: string) => boolean> = {
  subdomain: isDnsSubdomain,
  label: (s) => s !== "" && isDnsLabel(s),
  policy: isPolicyName,
  networkPolicy: isNetworkPolicyName,
  interface: (s) => s === "" || s === "*" || isInterfaceName(s),
  port: isPortName,
  labelKey: (s) => labelKeyProblem(s) === undefined,
  labelValue: (s) => labelValueProblem(s) === undefined,
};

function matches(name: keyof typeof NAME_PATTERNS, s: string): boolean {
  const p: { pattern: string; maxLength?: number } = NAME_PATTERNS[name];
  return new RegExp(p.pattern, "u").test(s) && (p.maxLength === undefined || s.length <= p.maxLength);
}


function corpus(): string[] {
  const out = ["", "a", "A", "-", ".", "*", "a.b", "a..b", ".a", "a.", "-a", "a-", "a--b", "a_b", "a/b", "/a", "a/", "x.y/z", "X/y", "ab/-c", "1", "123", "1-2", "knp.default.x", "knp.default.a.b.c", "ossg.default.x", "knp.other.x", "knp.default.", "a.b.c", "eth0", "eth0.100", "en_p1s0", "*a", "http", "h--p", "abcdefghijklmno", "abcdefghijklmnop", "0123456789", "a".repeat(63), "a".repeat(64), "a".repeat(253), "a".repeat(254), `${"a".repeat(63)}.${"b".repeat(63)}`, `x/${"a".repeat(63)}`, `x/${"a".repeat(64)}`, "tRue", "a b", "é", "a\nb"];
  const next = rng(12);
  const alphabet = "ab0Z-._/*";
  for (let i = 0; i < 20_000; i++) {
    const length = Math.floor(next() * 14);
    let s = "";
    for (let j = 0; j < length; j++) s += alphabet[Math.floor(next() * alphabet.length)];
    out.push(s);
  }
  // Long names built from valid parts, around the length limits.
  for (let i = 0; i < 2_000; i++) {
    const parts = Array.from({ length: 1 + Math.floor(next() * 5) }, () => "a".repeat(1 + Math.floor(next() * 70)));
    out.push(parts.join(next() < 0.8 ? "." : "/"));
  }
  return out;
}

describe("each name pattern accepts exactly what the validator's function accepts", () => {
  const names = corpus();
  for (const name of Object.keys(NAME_PATTERNS) as (keyof typeof NAME_PATTERNS)[]) {
    test(name, () => {
      const differ = names.filter((s) => matches(name, s) !== FUNCTIONS[name](s));
      expect(differ.slice(0, 5).map((s) => ({ s, pattern: matches(name, s), validator: FUNCTIONS[name](s) }))).toEqual([]);
      expect(names.filter((s) => FUNCTIONS[name](s)).length).toBeGreaterThan(20);
    });
  }
});

describe("metadata.name: each kind's pattern is the rule the validator applies to it", () => {
  const names = ["ok", "a.b", "a.b.c", "Upper", "knp.default.a.b", "x".repeat(64), "a".repeat(254), "under_score", "-x"];
  for (const kind of KINDS) {
    test(kind, () => {
      for (const name of names) {
        const ns = KIND_TABLE[kind]!.namespaced ? "\n  namespace: ns" : "";
        const text = `apiVersion: projectcalico.org/v3\nkind: ${kind}\nmetadata:\n  name: "${name}"${ns}\n${kind === "HostEndpoint" ? "spec: {node: n, interfaceName: eth0}\n" : ""}`;
        const invalid = loadConfig([{ path: "t.yaml", text }], { node: "n" }).diagnostics.some((d) => d.code === "INVALID_NAME" && d.path === "metadata.name");
        expect({ kind, name, invalid }).toEqual({ kind, name, invalid: !matches(KIND_TABLE[kind]!.name, name) });
      }
    });
  }
});
