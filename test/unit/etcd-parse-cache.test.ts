/**
 * One etcd key is one "file" of the parse cache (#15): after an edit of one key, only that
 * key is parsed again; every other key, a big set among them, is a cache hit. So a
 * one-address edit to a big GlobalNetworkSet costs the parse of that set alone.
 */
import { beforeEach, expect, test } from "bun:test";
import { keysAsFiles } from "../../src/datastore/files.ts";
import type { KeyValue } from "../../src/datastore/client.ts";
import { clearParseCache, parseCacheStats } from "../../src/config/parse-cache.ts";
import { loadConfig } from "../../src/validate/load.ts";

const P = "/calico/resources/v3/projectcalico.org/";
const kv = (key: string, obj: unknown, modRevision: number): KeyValue => ({ key: P + key, value: JSON.stringify(obj), createRevision: 2, modRevision, version: 1 });
const nets = (n: number, first = 0) => Array.from({ length: n }, (_, i) => `10.${(i + first) >> 16}.${((i + first) >> 8) & 255}.${(i + first) & 255}/32`);
const set = (list: string[], rev: number) => kv("globalnetworksets/big", { kind: "GlobalNetworkSet", apiVersion: "projectcalico.org/v3", metadata: { name: "big", labels: { list: "big" } }, spec: { nets: list } }, rev);
const others = [
  kv("hostendpoints/hep-0", { kind: "HostEndpoint", apiVersion: "projectcalico.org/v3", metadata: { name: "hep-0", labels: { role: "fleet" } }, spec: { node: "node-0", interfaceName: "eth0" } }, 3),
  kv("globalnetworkpolicies/default.deny-big", { kind: "GlobalNetworkPolicy", apiVersion: "projectcalico.org/v3", metadata: { name: "default.deny-big" }, spec: { selector: "role == 'fleet'", ingress: [{ action: "Deny", source: { selector: "list == 'big'" } }] } }, 4),
  kv("tiers/default", { kind: "Tier", apiVersion: "projectcalico.org/v3", metadata: { name: "default" }, spec: { order: 1000000, defaultAction: "Deny" } }, 5),
];

beforeEach(() => clearParseCache());

test("an edit of one key parses that key again, and only it", () => {
  const first = loadConfig(keysAsFiles([...others, set(nets(20_000), 6)]), { node: "node-0" });
  expect(first.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  expect(parseCacheStats()).toMatchObject({ hits: 0, misses: 4, files: 4 });
  // One address replaced: the set's key has a new value and mod revision.
  const edited = [...nets(1, 500_000), ...nets(20_000).slice(1)];
  const second = loadConfig(keysAsFiles([...others, set(edited, 7)]), { node: "node-0" });
  expect(second.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  expect(parseCacheStats()).toMatchObject({ hits: 3, misses: 5, files: 4 });
  // Nothing changed: everything is a hit, the big set included.
  loadConfig(keysAsFiles([...others, set(edited, 7)]), { node: "node-0" });
  expect(parseCacheStats()).toMatchObject({ hits: 7, misses: 5, files: 4 });
});
