/**
 * Calico's key layout and stored values (src/datastore/keys.ts, values.ts, resources.ts),
 * table-driven: the facts of reference/etcd.md, each case checked exactly.
 */
import { describe, expect, test } from "bun:test";
import { kindByName, parseKey, resourceKey, kindInfo, RESOURCE_PREFIX } from "../../src/datastore/keys.ts";
import { apiObject, storedName, storedObject } from "../../src/datastore/values.ts";
import { initialResources, keyOf } from "../../src/datastore/resources.ts";

const P = RESOURCE_PREFIX;
const now = new Date("2026-12-06T20:00:00.123Z");
const uid = () => "00000000-0000-4000-8000-000000000001";

describe("keys", () => {
  const cases: Array<[kind: string, name: string, namespace: string | undefined, key: string]> = [
    ["HostEndpoint", "h1", undefined, `${P}hostendpoints/h1`],
    ["GlobalNetworkPolicy", "default.p", undefined, `${P}globalnetworkpolicies/default.p`],
    ["StagedGlobalNetworkPolicy", "default.p", undefined, `${P}stagedglobalnetworkpolicies/default.p`],
    ["NetworkPolicy", "default.p", "ns1", `${P}networkpolicies/ns1/default.p`],
    ["StagedNetworkPolicy", "default.p", "ns1", `${P}stagednetworkpolicies/ns1/default.p`],
    ["StagedKubernetesNetworkPolicy", "p", "ns1", `${P}stagedkubernetesnetworkpolicies/ns1/p`],
    ["GlobalNetworkSet", "s", undefined, `${P}globalnetworksets/s`],
    ["NetworkSet", "s", "ns1", `${P}networksets/ns1/s`],
    ["Profile", "pr", undefined, `${P}profiles/pr`],
    ["Tier", "default", undefined, `${P}tiers/default`],
    ["FelixConfiguration", "default", undefined, `${P}felixconfigurations/default`],
    ["ClusterInformation", "default", undefined, `${P}clusterinformations/default`],
  ];
  test.each(cases)("%s %s (%s) ↔ %s", (kind, name, namespace, key) => {
    const info = kindInfo(kind)!;
    expect(resourceKey(info, name, namespace)).toBe(key);
    expect(parseKey(key)).toEqual({ info, name, ...(namespace ? { namespace } : {}) });
  });
  test("every kind is in the table", () => {
    expect(new Set(cases.map((c) => c[0]))).toEqual(new Set(["HostEndpoint", "GlobalNetworkPolicy", "StagedGlobalNetworkPolicy", "NetworkPolicy", "StagedNetworkPolicy", "StagedKubernetesNetworkPolicy", "GlobalNetworkSet", "NetworkSet", "Profile", "Tier", "FelixConfiguration", "ClusterInformation"]));
  });
  test("keys outside the layout are not resources", () => {
    for (const k of [`${P}hostendpoints/`, `${P}hostendpoints/a/b`, `${P}networkpolicies/p`, `${P}ippools/x`, "/calico/v1/config/x", `${P}hostendpoints//x`]) expect(parseKey(k)).toBeUndefined();
  });
  test("calicoctl's names for kinds", () => {
    expect(["gnp", "GlobalNetworkPolicy", "globalnetworkpolicies", "GLOBALNETWORKPOLICY"].map((n) => kindByName(n)?.kind)).toEqual(Array(4).fill("GlobalNetworkPolicy"));
    expect(kindByName("hep")?.kind).toBe("HostEndpoint");
    expect(kindByName("ippool")).toBeUndefined();
  });
});

describe("stored values and their API form", () => {
  const names: Array<[kind: string, name: string, tier: string, stored: string]> = [
    ["GlobalNetworkPolicy", "allow", "default", "default.allow"],
    ["GlobalNetworkPolicy", "default.allow", "default", "default.allow"],
    ["GlobalNetworkPolicy", "allow", "sec", "sec.allow"],
    ["GlobalNetworkPolicy", "sec.allow", "sec", "sec.allow"],
    ["NetworkPolicy", "allow", "default", "default.allow"],
    ["StagedNetworkPolicy", "allow", "ops", "ops.allow"],
    ["HostEndpoint", "default.x", "default", "default.x"],
  ];
  test.each(names)("%s %s in tier %s is stored as %s", (kind, name, tier, stored) => expect(storedName(kind, name, tier)).toBe(stored));

  test("a policy: Go's field order, resourceVersion and selfLink cleared, uid and creationTimestamp set, the API name in the annotation, the tier label not stored", () => {
    const given = { apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkPolicy", metadata: { labels: { a: "b", "projectcalico.org/tier": "sec" }, name: "allow", resourceVersion: "12", selfLink: "/x" }, spec: { tier: "sec", selector: "all()" } };
    const stored = storedObject(given, { now, uid });
    expect(JSON.stringify(stored)).toBe(
      '{"kind":"GlobalNetworkPolicy","apiVersion":"projectcalico.org/v3","metadata":{"name":"sec.allow","uid":"00000000-0000-4000-8000-000000000001","creationTimestamp":"2026-12-06T20:00:00Z","labels":{"a":"b"},"annotations":{"projectcalico.org/metadata":"{\\"name\\":\\"allow\\"}"}},"spec":{"tier":"sec","selector":"all()"}}',
    );
    // Read back: the name given, the tier label, resourceVersion = the mod revision, no annotation.
    expect(apiObject(JSON.stringify(stored), 42)).toEqual({ kind: "GlobalNetworkPolicy", apiVersion: "projectcalico.org/v3", metadata: { name: "allow", uid: uid(), resourceVersion: "42", creationTimestamp: "2026-12-06T20:00:00Z", labels: { a: "b", "projectcalico.org/tier": "sec" } }, spec: { tier: "sec", selector: "all()" } });
  });

  test("an update keeps the stored uid and creationTimestamp", () => {
    const existing = { kind: "HostEndpoint", apiVersion: "projectcalico.org/v3", metadata: { name: "h", uid: "u-old", creationTimestamp: "2020-01-01T00:00:00Z" }, spec: {} };
    const stored = storedObject({ kind: "HostEndpoint", apiVersion: "projectcalico.org/v3", metadata: { name: "h" }, spec: { node: "n" } }, { now, uid, existing });
    expect(stored.metadata).toEqual({ name: "h", uid: "u-old", creationTimestamp: "2020-01-01T00:00:00Z" });
  });

  test("objects written by Calico ≤ 3.28 (no annotation): a default-tier policy loses its default. prefix, others keep their name", () => {
    const old = (name: string, tier?: string) => JSON.stringify({ kind: "GlobalNetworkPolicy", apiVersion: "projectcalico.org/v3", metadata: { name }, spec: tier ? { tier } : {} });
    expect((apiObject(old("default.allow"), 1)!.metadata as any).name).toBe("allow");
    expect((apiObject(old("default.allow", "default"), 1)!.metadata as any).name).toBe("allow");
    expect((apiObject(old("sec.allow", "sec"), 1)!.metadata as any).name).toBe("sec.allow");
    expect((apiObject(old("sec.allow", "sec"), 1)!.metadata as any).labels).toEqual({ "projectcalico.org/tier": "sec" });
  });

  test("a value that is not a JSON object has no API form (the parser reports it under its key)", () => {
    for (const v of ["", "{", "[]", "42", "null"]) expect(apiObject(v, 1)).toBeUndefined();
  });

  test("keyOf and the initial resources", () => {
    expect(keyOf({ kind: "GlobalNetworkPolicy", metadata: { name: "p" }, spec: { tier: "t" } })).toEqual({ key: `${P}globalnetworkpolicies/t.p`, info: kindInfo("GlobalNetworkPolicy")!, name: "p" });
    expect(keyOf({ kind: "NetworkSet", metadata: { name: "s" } })).toEqual({ key: `${P}networksets/default/s`, info: kindInfo("NetworkSet")!, name: "s", namespace: "default" });
    expect(keyOf({ kind: "IPPool", metadata: { name: "p" } })).toEqual({ error: 'kind "IPPool" is not one hostwall writes to the datastore' });
    expect(keyOf({ kind: "Tier", metadata: { name: "a/b" } })).toEqual({ error: "metadata.name is missing or not a name" });
    const init = initialResources({ now, uid, clusterGuid: "0123456789abcdef0123456789abcdef" });
    expect(init.map((r) => r.key)).toEqual([`${P}clusterinformations/default`, `${P}tiers/default`, `${P}tiers/kube-admin`, `${P}tiers/kube-baseline`]);
    expect(init[1]!.value).toBe('{"kind":"Tier","apiVersion":"projectcalico.org/v3","metadata":{"name":"default","uid":"00000000-0000-4000-8000-000000000001","creationTimestamp":"2026-12-06T20:00:00Z"},"spec":{"order":1000000,"defaultAction":"Deny"}}');
    expect(JSON.parse(init[0]!.value).spec).toEqual({ clusterGUID: "0123456789abcdef0123456789abcdef", clusterType: "hostwall", datastoreReady: true });
  });
});
