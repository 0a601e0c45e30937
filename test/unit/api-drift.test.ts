/**
 * Drift detection and repair, and reading nft listings: the agent compares the live hostwall
 * tables (a fake kernel here) with the listing it took right after its apply, re-applies on
 * any structural or handle difference, restores the last good script when the config on disk
 * has become invalid, and never loops when nothing changed.
 */
import { describe, expect, test } from "bun:test";
import { expectedTables, findDrift } from "../../src/agent/shape.ts";
import { buildRuleset } from "../../src/pipeline.ts";
import { parseListing, ruleDigest } from "../../src/nft/runner.ts";
import { exampleFiles, fakeAgent, structureOf, unstamped } from "./api-fakes.ts";

/** Real `nft -j -t -a list ruleset` output (nft 1.0.6): a named counter, a set, an anonymous set, a jump. */
const LISTING = `{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "netdev", "name": "hwx", "handle": 58}}, {"counter": {"family": "netdev", "name": "x", "table": "hwx", "handle": 3, "packets": 0, "bytes": 0}}, {"set": {"family": "netdev", "name": "s4", "table": "hwx", "type": "ipv4_addr", "handle": 4}}, {"chain": {"family": "netdev", "table": "hwx", "name": "ingress-lo", "handle": 1, "type": "filter", "hook": "ingress", "prio": -500, "policy": "accept"}}, {"chain": {"family": "netdev", "table": "hwx", "name": "c2", "handle": 2}}, {"rule": {"family": "netdev", "table": "hwx", "chain": "ingress-lo", "handle": 5, "comment": "gnp/a/ingress/0", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@s4"}}, {"counter": {"packets": 7, "bytes": 420}}, {"drop": null}]}}, {"rule": {"family": "netdev", "table": "hwx", "chain": "ingress-lo", "handle": 7, "comment": "failsafe inbound", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [22, 80]}}}, {"counter": {"packets": 0, "bytes": 0}}, {"accept": null}]}}, {"rule": {"family": "netdev", "table": "hwx", "chain": "ingress-lo", "handle": 8, "expr": [{"jump": {"target": "c2"}}]}}, {"rule": {"family": "netdev", "table": "hwx", "chain": "c2", "handle": 9, "expr": [{"counter": "x"}]}}]}`;

describe("reading nft listings", () => {
  test("tables, sets, chains, rules with handles, comments and anonymous counters", () => {
    expect(parseListing(LISTING)).toEqual({
      ok: true,
      tables: [
        {
          family: "netdev",
          name: "hwx",
          handle: 58,
          sets: ["s4"],
          chains: [
            {
              name: "ingress-lo",
              handle: 1,
              hook: "ingress",
              rules: [
                { handle: 5, comment: "gnp/a/ingress/0", counter: { packets: 7, bytes: 420 }, digest: expect.stringMatching(/^[0-9a-f]{16}$/) },
                { handle: 7, comment: "failsafe inbound", counter: { packets: 0, bytes: 0 }, digest: expect.stringMatching(/^[0-9a-f]{16}$/) },
                { handle: 8, digest: expect.stringMatching(/^[0-9a-f]{16}$/) },
              ],
            },
            { name: "c2", handle: 2, hook: undefined, rules: [{ handle: 9, digest: expect.stringMatching(/^[0-9a-f]{16}$/) }] }, // a named counter is not a rule counter
          ],
        },
      ],
    });
  });

  test("a rule's digest is what it does: counter values do not change it, another verdict does", () => {
    const rule = (verdict: string, packets: number) => [{ match: { op: "==", left: { payload: { protocol: "ip", field: "saddr" } }, right: "192.0.2.66" } }, { counter: { packets, bytes: packets * 60 } }, { [verdict]: null }];
    expect(ruleDigest(rule("drop", 0))).toBe(ruleDigest(rule("drop", 1234)));
    expect(ruleDigest(rule("drop", 0))).not.toBe(ruleDigest(rule("accept", 0)));
  });

  test("garbage is an error, never an empty ruleset (which would read as drift)", () => {
    expect(parseListing("").ok).toBe(false);
    expect(parseListing("{}").ok).toBe(false);
    expect(parseListing('{"nftables": [{"metainfo": {}}]}')).toEqual({ ok: true, tables: [] });
  });

  test("the fake kernel reads rendered scripts exactly as expectedTables describes them", () => {
    const built = buildRuleset({ files: exampleFiles(), node: "jasper", interfaces: new Set(["eth0"]) });
    let h = 1;
    const live = structureOf(built.script!.text, () => h++);
    expect(findDrift(expectedTables(built.ruleset!), live)).toEqual([]);
    expect(live.map((t) => `${t.family}:${t.chains.length}`)).toEqual(["netdev:4", "inet:14"]); // netdev: the untracked Deny rule's drop chain
  });
});

describe("drift", () => {
  async function started() {
    const f = fakeAgent();
    await f.agent.reload("startup");
    expect(f.kernel.applied.length).toBe(1);
    return f;
  }

  const outsideChanges: Array<{ name: string; change: (k: ReturnType<typeof fakeAgent>["kernel"]) => void; difference: string }> = [
    { name: "nft delete table", change: (k) => k.drop("netdev"), difference: "table netdev hostwall is missing" },
    {
      name: "nft flush ruleset",
      change: (k) => {
        k.tables = [];
      },
      difference: "table netdev hostwall is missing",
    },
    {
      name: "a chain deleted",
      change: (k) => {
        const t = k.tables.find((x) => x.family === "inet")!;
        t.chains = t.chains.filter((c) => c.name !== "failsafe-out");
      },
      difference: "table inet hostwall: chain failsafe-out is missing",
    },
    {
      name: "a rule deleted",
      change: (k) => k.tables.find((x) => x.family === "inet")!.chains.find((c) => c.name === "filter-input")!.rules.pop(),
      difference: "table inet hostwall: chain filter-input has 1 rule(s), applied 2",
    },
    {
      name: "a rule replaced in place (same comment, new handle)",
      change: (k) => {
        k.tables.find((x) => x.family === "inet")!.chains.find((c) => c.name === "filter-input")!.rules[0]!.handle = 9999;
      },
      difference: 'table inet hostwall: chain filter-input rule 0 was replaced (comment "", applied "")',
    },
    {
      name: "a rule changed in place (nft replace rule: same handle, same comment, another verdict)",
      change: (k) => {
        const rule = k.tables.find((x) => x.family === "inet")!.chains.find((c) => c.name === "filter-input")!.rules[0]!;
        rule.digest = "0000000000000000";
      },
      difference: 'table inet hostwall: chain filter-input rule 0 was changed in place (comment "")',
    },
    {
      name: "the table re-created from a dump (same content, new handle)",
      change: (k) => {
        k.tables.find((x) => x.family === "inet")!.handle = 9999;
      },
      difference: "table inet hostwall was deleted and re-created",
    },
    {
      name: "a chain added",
      change: (k) => k.tables.find((x) => x.family === "inet")!.chains.push({ name: "mine", handle: 9999, rules: [] }),
      difference: "table inet hostwall: unexpected chain mine",
    },
    {
      name: "a set deleted",
      change: (k) => {
        const t = k.tables.find((x) => x.family === "netdev")!;
        t.sets = t.sets.filter((_, i) => i !== t.sets.findIndex((x) => x.startsWith("sel-"))); // a selector set (drop-summary sets sort first)
      },
      difference: "table netdev hostwall: set sel-",
    },
  ];

  for (const c of outsideChanges) {
    test(`${c.name} is found and repaired with a forced re-apply`, async () => {
      const { agent, kernel, logger } = await started();
      c.change(kernel);
      const r = await agent.checkDrift();
      expect(r.state).toBe("drift");
      if (r.state !== "drift") return;
      expect(r.differences[0]).toStartWith(c.difference);
      expect(r.repaired).toBe(true);
      expect(kernel.applied.length).toBe(2);
      // The same content, stamped with the next generation.
      expect(unstamped(kernel.applied[1]!)).toBe(unstamped(kernel.applied[0]!));
      expect(kernel.applied[1]).toContain('comment "hostwall generation 2 hash ');
      expect(agent.generation).toBe(2);
      expect(agent.lastAttempt?.reason).toBe("drift repair");
      expect(agent.drift).toMatchObject({ checks: 1, count: 1, repairs: 1 });
      expect(logger.lines.some((l) => l.startsWith("warning: drift: ") && l.includes(c.difference))).toBe(true);
      // Repaired: the next check is clean and applies nothing.
      expect(await agent.checkDrift()).toEqual({ state: "clean" });
      expect(kernel.applied.length).toBe(2);
    });
  }

  test("no drift: a check lists and compares, and applies nothing", async () => {
    const { agent, kernel } = await started();
    for (let i = 0; i < 3; i++) expect(await agent.checkDrift()).toEqual({ state: "clean" });
    expect(kernel.applied.length).toBe(1);
    expect(agent.drift).toEqual({ checks: 3, count: 0, repairs: 0 });
  });

  test("with an invalid config on disk, a repair restores the last good script", async () => {
    const { agent, kernel, state, logger } = await started();
    state.files = [...state.files, { path: "/etc/hostwall/bad.yaml", text: "kind: Nope\n" }];
    kernel.tables = [];
    const r = await agent.checkDrift();
    expect(r).toMatchObject({ state: "drift", repaired: true });
    expect(kernel.applied).toEqual([kernel.applied[0]!, kernel.applied[0]!]);
    expect(agent.lastAttempt).toMatchObject({ ok: false, reason: "drift repair" });
    expect(agent.lastAttempt?.diagnostics.map((d) => d.code)).toEqual(["UNKNOWN_KIND"]);
    expect(agent.generation).toBe(1);
    expect(logger.lines).toContain("notice: restored the ruleset of generation 1 (the config on disk was rejected)");
    expect(await agent.checkDrift()).toEqual({ state: "clean" });
  });

  test("skipped: before the first apply, when listing fails, while an attempt runs", async () => {
    const f = fakeAgent();
    expect(await f.agent.checkDrift()).toEqual({ state: "skipped", why: "nothing applied yet" });
    await f.agent.reload("startup");
    f.kernel.listError = "Operation not permitted";
    f.kernel.tables = [];
    expect(await f.agent.checkDrift()).toEqual({ state: "skipped", why: "cannot list the ruleset: Operation not permitted" });
    f.kernel.listError = undefined;
    const running = f.agent.reload("config changed", { force: true });
    expect(await f.agent.checkDrift()).toEqual({ state: "skipped", why: "an attempt is running" });
    await running;
    expect(await f.agent.checkDrift()).toEqual({ state: "clean" });
    expect(f.agent.drift.count).toBe(0);
  });

  test("a kernel that prints the ruleset differently from the script never causes a repair loop", async () => {
    const f = fakeAgent();
    const apply = f.runner.apply.bind(f.runner);
    f.runner.apply = async (script, opts) => {
      const r = await apply(script, opts);
      for (const t of f.kernel.tables) for (const c of t.chains) for (const rule of c.rules) if (rule.comment) rule.comment = rule.comment.toUpperCase();
      return r;
    };
    await f.agent.reload("startup");
    expect(f.logger.lines.some((l) => l.startsWith("warning: the tables listed right after the apply differ from the rendered script"))).toBe(true);
    expect(await f.agent.checkDrift()).toEqual({ state: "clean" });
    expect(f.kernel.applied.length).toBe(1);
  });
});
