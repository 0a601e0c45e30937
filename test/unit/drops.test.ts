/**
 * Drop summaries, the reading side (src/nft/drops.ts): a drop-summary set as nft 1.0.6 lists it
 * (captured from test/kernel/drops.test.ts's lab), malformed listings as typed errors, the
 * summary's totals, merge across families and tables, order and top N; and the compiler's
 * side: which sets a ruleset compiled with dropSummaries has, and that the listing parser
 * reads them back (dynamic set, `update @set { ip saddr }`).
 */
import { describe, expect, test } from "bun:test";
import { compileRuleset } from "../../src/nft/compile.ts";
import { dropSets, parseDropSetJson, summariseDrops } from "../../src/nft/drops.ts";
import { parseRulesetJson } from "../../src/nft/listing.ts";
import { buildRuleset } from "../../src/pipeline.ts";

const LISTED = JSON.stringify({
  nftables: [
    { metainfo: { version: "1.0.6", release_name: "Lester Gooch #5", json_schema_version: 1 } },
    {
      set: {
        family: "inet", name: "drops-abc-4", table: "hostwall", type: "ipv4_addr", handle: 9, comment: "gnp/block/ingress/0", size: 256, flags: ["timeout"], timeout: 600,
        elem: [
          { elem: { val: "192.0.2.66", expires: 597, counter: { packets: 4, bytes: 240 } } },
          { elem: { val: "192.0.2.67", expires: 12, counter: { packets: 9, bytes: 540 } } },
        ],
        stmt: [{ counter: null }],
      },
    },
  ],
});

describe("parseDropSetJson", () => {
  test("addresses with their counters and expiry", () => {
    expect(parseDropSetJson(LISTED)).toEqual({
      ok: true,
      sources: [
        { address: "192.0.2.66", packets: 4, bytes: 240, expires: 597 },
        { address: "192.0.2.67", packets: 9, bytes: 540, expires: 12 },
      ],
    });
  });
  test("an empty set has no sources", () => {
    expect(parseDropSetJson(JSON.stringify({ nftables: [{ set: { family: "inet", name: "d", table: "hostwall", type: "ipv4_addr" } }] }))).toEqual({ ok: true, sources: [] });
  });
  const bad: [string, string, string][] = [
    ["not JSON", "{", "$"],
    ["no nftables", "{}", "$.nftables"],
    ["an element without a counter", JSON.stringify({ nftables: [{ set: { elem: [{ elem: { val: "192.0.2.1" } }] } }] }), "$.nftables[0].set.elem[0].elem.counter"],
    ["a negative count", JSON.stringify({ nftables: [{ set: { elem: [{ elem: { val: "192.0.2.1", counter: { packets: -1, bytes: 0 } } }] } }] }), "$.nftables[0].set.elem[0].elem.counter.packets"],
    ["a bare element", JSON.stringify({ nftables: [{ set: { elem: ["192.0.2.1"] } }] }), "$.nftables[0].set.elem[0]"],
  ];
  for (const [what, json, path] of bad) {
    test(`${what}: a typed error at ${path}`, () => {
      const r = parseDropSetJson(json);
      expect(r.ok ? "ok" : `${r.error.code} ${r.error.path}`).toBe(`NFT_LISTING_INVALID ${path}`);
    });
  }
});

describe("summariseDrops", () => {
  test("per rule: sources of every set merged, totals, top N by packets then bytes then address", () => {
    const s = summariseDrops(
      [
        { origin: "gnp/b/ingress/1", sources: [{ address: "2001:db8::1", packets: 2, bytes: 200 }] },
        { origin: "gnp/a/ingress/0", sources: [{ address: "192.0.2.1", packets: 3, bytes: 100 }, { address: "192.0.2.2", packets: 5, bytes: 100 }] },
        { origin: "gnp/a/ingress/0", sources: [{ address: "192.0.2.1", packets: 3, bytes: 100 }, { address: "192.0.2.3", packets: 1, bytes: 60 }] },
        { origin: "gnp/b/ingress/1", sources: [{ address: "2001:db8::2", packets: 2, bytes: 300 }, { address: "2001:db8::0", packets: 2, bytes: 200 }] },
      ],
      2,
    );
    expect(s).toEqual([
      { origin: "gnp/a/ingress/0", packets: 12, bytes: 360, sources: 3, top: [{ address: "192.0.2.1", packets: 6, bytes: 200 }, { address: "192.0.2.2", packets: 5, bytes: 100 }] },
      { origin: "gnp/b/ingress/1", packets: 6, bytes: 700, sources: 3, top: [{ address: "2001:db8::2", packets: 2, bytes: 300 }, { address: "2001:db8::0", packets: 2, bytes: 200 }] },
    ]);
  });
});

describe("compiled with dropSummaries", () => {
  const yaml = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: h, labels: {host: "true"}}
spec: {node: jasper, interfaceName: eth0}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  selector: host == 'true'
  types: [Ingress, Egress]
  ingress:
  - action: Deny
    protocol: TCP
  - action: Allow
  egress:
  - action: Deny
    destination: {nets: [2001:db8::/32]}
`;
  test("one dynamic set per Deny rule and family it can match; on by default, none when off", () => {
    const built = buildRuleset({ files: [{ path: "x.yaml", text: yaml }], node: "jasper" });
    expect(dropSets(compileRuleset(built.plan!, { dropSummaries: false }))).toEqual([]);
    expect(buildRuleset({ files: [{ path: "x.yaml", text: yaml }], node: "jasper", dropSummaries: false }).ruleset!.tables.flatMap((t) => t.sets.filter((s) => s.dynamic))).toEqual([]);
    const on = built.ruleset!;
    expect(on).toEqual(compileRuleset(built.plan!, { dropSummaries: true }));
    expect(dropSets(on).map((s) => `${s.family} ${s.origin} ${s.set.slice(-1)}`).sort()).toEqual(["inet gnp/p/egress/0 6", "inet gnp/p/ingress/0 4", "inet gnp/p/ingress/0 6"]);
    const inet = on.tables.find((t) => t.family === "inet")!;
    const deny = inet.chains.find((c) => c.name === "gnp-p-in")!.rules[0]!;
    expect(deny.statements.slice(-2)).toEqual([{ kind: "counter" }, { kind: "goto", target: "gnp-p-in-r0-drop" }]);
    expect(inet.chains.find((c) => c.name === "gnp-p-in-r0-drop")!.rules.map((r) => r.statements.map((s) => s.kind))).toEqual([
      ["match", "set-update", "verdict"],
      ["match", "set-update", "verdict"],
      ["verdict"],
    ]);
  });

  test("the listing parser reads a dynamic set and a set update back", () => {
    const listing = JSON.stringify({
      nftables: [
        { table: { family: "inet", name: "hostwall", handle: 1 } },
        { set: { family: "inet", name: "drops-x-4", table: "hostwall", type: "ipv4_addr", handle: 2, comment: "gnp/p/ingress/0", size: 256, flags: ["timeout"], timeout: 600, stmt: [{ counter: null }], elem: [{ elem: { val: "192.0.2.9", expires: 30, counter: { packets: 1, bytes: 60 } } }] } },
        { chain: { family: "inet", table: "hostwall", name: "c", handle: 3 } },
        { rule: { family: "inet", table: "hostwall", chain: "c", handle: 4, expr: [{ set: { op: "update", elem: { payload: { protocol: "ip", field: "saddr" } }, set: "@drops-x-4" } }, { drop: null }] } },
      ],
    });
    const r = parseRulesetJson(listing);
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    const t = r.listing.ruleset.tables[0]!;
    expect(t.sets[0]).toEqual({ name: "drops-x-4", type: "ipv4_addr", interval: false, elements: ["192.0.2.9"], comment: "gnp/p/ingress/0", dynamic: { size: 256, timeout: 600 } });
    expect(t.chains[0]!.rules[0]!.statements[0]).toEqual({ kind: "set-update", set: "drops-x-4", key: { kind: "payload", protocol: "ip", field: "saddr" } });
    const add = parseRulesetJson(listing.replace('"op":"update"', '"op":"add"'));
    expect(add.ok ? "ok" : add.error.path).toBe("$.nftables[3].rule.expr[0].set.op");
  });
});
