/**
 * The apply path against the real kernel, in throwaway network namespaces:
 *
 * - A script over the dry-run limit (4 MiB) is applied by the real binary (`run --once`) in one
 *   nft transaction with no dry run: an nft wrapper records every nft run with its arguments
 *   and stdin, and the kernel holds the whole set, element for element.
 * - `hostwall flush` deletes exactly hostwall's two tables; other tables (and their handles)
 *   stay; a second flush is a no-op that succeeds.
 * - The shared scaffolding (test/support/agent-api.ts, metrics.ts) against a real agent:
 *   writeConfig + POST /reload over the control socket, and every line of /metrics parsed.
 * - The unit tests' fake nft (test/unit/fake-nft.ts) agrees with `nft -c`: what its grammar
 *   accepts the kernel accepts, and the broken scripts it refuses the kernel refuses too.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DRY_RUN_MAX_BYTES } from "../../src/agent/apply.ts";
import type { SourceFile } from "../../src/source/source-file.ts";
import { stampScript } from "../../src/nft/render.ts";
import { buildFailsafeRuleset, buildRuleset } from "../../src/pipeline.ts";
import { fakeNftBinary, type FakeNftBinary } from "../support/fake-nft-bin.ts";
import { parseMetrics } from "../support/metrics.ts";
import { realNftCheck } from "../support/nft-check.ts";
import { parseScript } from "../support/nft-script.ts";
import { BINARY, makeConfigDir, REPO, startAgent, waitFor, writeConfig, type AgentHandle } from "./agent-harness";
import { loadNft } from "./kernel";
import { createNs, deleteNs, kernelTestGate, sweepStaleLabs, type Ns } from "./netns";

const TAG = `hw-ak-${process.pid.toString(36)}`;
const RULES = join(REPO, "rules");
const enabled = await kernelTestGate();

/** `hostwall run --once` inside `ns`: no API, no state dir. */
function runOnce(ns: Ns, configDir: string, extra: string[] = [], timeoutMs = 30_000) {
  return ns.exec([BINARY, "run", "--once", "--config-dir", configDir, "--node", "jasper", "--listen", "off", "--socket", "off", "--state-dir", "off", ...extra], { timeoutMs });
}

async function nft(ns: Ns, ...args: string[]): Promise<string> {
  const r = await ns.exec(["nft", ...args], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`nft ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

describe.skipIf(!enabled)("the real kernel", () => {
  let ns: Ns;
  const dirs: string[] = [];
  const wrappers: FakeNftBinary[] = [];

  beforeAll(async () => {
    await sweepStaleLabs("hw-ak-");
    ns = await createNs(TAG);
  });

  afterAll(async () => {
    await ns?.close();
    await deleteNs(TAG);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    for (const w of wrappers) w.remove();
  });

  test("a script over the dry-run limit is one nft transaction without a dry run, and the kernel holds the whole set", async () => {
    await nft(ns, "flush", "ruleset");
    // Every other address, so normalisation cannot merge them into prefixes.
    const nets = Array.from({ length: 400_000 }, (_, i) => `    - 10.${(i >> 15) & 255}.${(i >> 7) & 255}.${(i & 127) * 2}`).join("\n");
    const big = `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: big\n  labels: {dos-deny-list: 'true'}\nspec:\n  nets:\n${nets}\n`;
    const configDir = makeConfigDir(RULES);
    dirs.push(configDir);
    writeFileSync(join(configDir, "25-big.yaml"), big, { mode: 0o644 });

    // What the binary will apply, compiled here: the sets and their sizes.
    const files: SourceFile[] = readdirSync(configDir).map((f) => ({ path: join(configDir, f), text: readFileSync(join(configDir, f), "utf8") }));
    const built = buildRuleset({ files, node: "jasper" });
    expect(built.script!.text.length).toBeGreaterThan(DRY_RUN_MAX_BYTES);
    const sets = built.ruleset!.tables.flatMap((t) => t.sets.map((s) => ({ family: t.family, table: t.name, name: s.name, size: s.elements.length })));
    const biggest = sets.reduce((a, b) => (b.size > a.size ? b : a));
    expect(biggest.size).toBeGreaterThan(400_000); // ours, and the example deny list's own entries

    // An nft that records each run (arguments, stdin) and hands it to the real one.
    const wrapper = fakeNftBinary(`n=$(date +%s%N)\necho "$@" > "$LOG/$n.args"\ncat > "$LOG/$n.in"\nexec /usr/sbin/nft "$@" < "$LOG/$n.in"`);
    wrappers.push(wrapper);
    const r = await runOnce(ns, configDir, ["--nft", wrapper.path], 120_000);
    expect([r.code, r.stderr]).toEqual([0, expect.stringContaining("applied generation 1")]);

    const runs = readdirSync(wrapper.log).filter((f) => f.endsWith(".args")).sort().map((f) => {
      const id = f.slice(0, -5);
      return { args: wrapper.read(f).trim(), stdin: wrapper.read(`${id}.in`) };
    });
    const applies = runs.filter((x) => x.args === "-f -");
    const checks = runs.filter((x) => x.args === "-c -f -");
    expect(applies.length).toBe(1); // one transaction
    expect(applies[0]!.stdin.length).toBeGreaterThan(DRY_RUN_MAX_BYTES);
    expect(applies[0]!.stdin).toContain(biggest.name);
    // The only dry run is the agent's probe of the kernel (netdev chains for absent devices), never the script.
    expect(checks.map((c) => [c.stdin.length < 4096, c.stdin.includes("table netdev hostwall-probe")])).toEqual([[true, true]]);

    // The kernel holds every set of the script, element for element.
    for (const s of sets) {
      const listed = JSON.parse(await nft(ns, "-j", "list", "set", s.family, s.table, s.name)) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
      expect([s.name, listed.nftables.find((x) => x.set)?.set?.elem?.length ?? 0]).toEqual([s.name, s.size]);
    }
    expect(await nft(ns, "-t", "list", "tables")).toBe("table netdev hostwall\ntable inet hostwall\n");
  }, 180_000);

  test("hostwall flush deletes hostwall's two tables and nothing else; a second flush changes nothing", async () => {
    await nft(ns, "flush", "ruleset");
    const configDir = makeConfigDir(RULES);
    dirs.push(configDir);
    expect((await runOnce(ns, configDir)).code).toBe(0);
    await loadNft(ns, 'table inet keepme {\n\tchain input {\n\t\ttype filter hook input priority 10; policy accept;\n\t\tcounter comment "kept"\n\t}\n}\ntable ip keepme4 {\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 192.0.2.1, 192.0.2.2 }\n\t}\n}\n');
    expect(await nft(ns, "list", "tables")).toBe("table netdev hostwall\ntable inet hostwall\ntable inet keepme\ntable ip keepme4\n");
    // With handles: the other tables must be the same objects afterwards, not re-created.
    const others = async () => (await nft(ns, "-a", "list", "table", "inet", "keepme")) + (await nft(ns, "-a", "list", "table", "ip", "keepme4"));
    const before = await others();

    const flush = await ns.exec([BINARY, "flush"], { timeoutMs: 15_000 });
    expect([flush.code, flush.stdout, flush.stderr]).toEqual([0, "", "hostwall: removed table netdev hostwall and table inet hostwall; nothing is enforced now\n"]);
    expect(await nft(ns, "list", "tables")).toBe("table inet keepme\ntable ip keepme4\n");
    expect(await others()).toBe(before);

    const again = await ns.exec([BINARY, "flush"], { timeoutMs: 15_000 });
    expect(again.code).toBe(0);
    expect(await nft(ns, "list", "tables")).toBe("table inet keepme\ntable ip keepme4\n");
    expect(await others()).toBe(before);
  }, 60_000);
});

describe.skipIf(!enabled)("the shared agent scaffolding against the real agent", () => {
  let ns: Ns;
  let agent: AgentHandle | undefined;
  let configDir = "";
  const stateDir = mkdtempSync(join(tmpdir(), "hw-ak-state-"));

  beforeAll(async () => {
    ns = await createNs(`${TAG}-api`);
    configDir = makeConfigDir(RULES);
    agent = startAgent(ns, { configDir, extraArgs: ["--state-dir", stateDir] });
    await waitFor("the first apply (/readyz 200)", async () => (await agent!.get("/readyz"))?.status === 200, 15_000);
  });

  afterAll(async () => {
    await ns?.close();
    await deleteNs(`${TAG}-api`);
    rmSync(configDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  test("writeConfig + agent.reload() apply over the control socket; a rejected config throws with its diagnostics", async () => {
    writeConfig(configDir, "50-more.yaml", "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: more, labels: {dos-deny-list: 'true'}}\nspec: {nets: [198.51.100.7/32]}\n");
    expect(await agent!.reload()).toMatchObject({ ok: true, reason: "POST /reload" });
    expect((await agent!.status()).generation).toBe(2);
    writeConfig(configDir, "50-more.yaml", "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: more}\nspec: {nets: [198.51.100.300/32]}\n");
    await expect(agent!.reload()).rejects.toThrow(/POST \/reload: 422, the agent refused the config:\nerror INVALID_CIDR: /);
    await Bun.sleep(200);
    expect((await agent!.status()).generation).toBe(2);
  }, 30_000);

  test("parseMetrics reads every line of the real /metrics page", async () => {
    const page = await agent!.get("/metrics");
    expect(page?.status).toBe(200);
    const m = parseMetrics(page!.body);
    expect(m.get("hostwall_generation")).toBe(2);
    expect(m.get('hostwall_rule_packets_total{kind="gnp",policy="dos-mitigation",direction="ingress",rule="0",table="netdev",chain="gnp-dos-mitigation-in"}')).toBe(0);
    expect(page!.body.split("\n").filter((l) => l && !l.startsWith("#")).length).toBe(m.size);
  });
});

describe.skipIf(!enabled)("the fake nft agrees with nft -c", () => {
  const example = stampScript(buildRuleset({ files: readdirSync(RULES).map((f) => ({ path: join(RULES, f), text: readFileSync(join(RULES, f), "utf8") })), node: "jasper" }).script!.text, { generation: 1, hash: "0123456789abcdef" });
  const lines = example.split("\n");
  const rule = lines.findIndex((l) => l.includes('comment "gnp/allow-host-services/ingress/1"')) + 1;
  const withLine = (text: string) => [...lines.slice(0, rule), text, ...lines.slice(rule)].join("\n");
  const fakeAccepts = (script: string) => parseScript(script).ok;

  test("scripts the renderer writes: both accept", async () => {
    for (const script of [example, buildFailsafeRuleset("jasper", new Set(["lo", "eth0"])).script!.text]) {
      expect(fakeAccepts(script)).toBe(true);
      expect(await realNftCheck(script)).toEqual({ ok: true, stderr: "" });
    }
  });

  const broken: [string, string][] = [
    ["a jump to a chain the table does not define", withLine("\t\tjump nosuch")],
    ["a jump to a base chain", withLine("\t\tjump filter-input")],
    ["a set the table does not define", withLine("\t\tip saddr @nosuch drop")],
    ["an unbalanced brace", withLine("\t\tip saddr { 192.0.2.1 drop")],
    ["a set closed early", example.replace(/\n\t\ttype ipv4_addr\n/, "\n\t}\n\t\ttype ipv4_addr\n")],
  ];
  for (const [name, script] of broken) {
    test(`${name}: both refuse`, async () => {
      expect(script).not.toBe(example);
      expect(fakeAccepts(script)).toBe(false);
      expect((await realNftCheck(script)).ok).toBe(false);
    });
  }
});
