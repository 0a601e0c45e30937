/**
 * Issue #13 goal "small config, one-line edit, rename → enforced, p50": the running agent
 * (dist/hostwall run, in a namespace of its own, the example rules) gets a one-line edit of
 * rules/40-allow-host-services.yaml (a port), saved by rename as editors do; the time from the
 * rename to the new rule in the kernel (seen by `nft monitor` in that namespace) is set against
 * a bare `nft -f` of the agent's own script for the same edit (spawned from inside a second
 * namespace, so neither pays `ip netns exec`), interleaved, same run. The same edit written in
 * place is measured too: it still waits for the watcher's debounce (150 ms).
 * Usage: bun bench/react.bench.ts [--runs=8] [--json]   (build dist/hostwall first; root)
 */
import { $ } from "bun";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lines } from "./engine-lab.ts";

const REPO = join(import.meta.dir, "..");
const BIN = join(REPO, "dist/hostwall");
const FILE = "40-allow-host-services.yaml";

/** Child mode: time `nft -f <file>` n times from inside the namespace it runs in. */
if (process.argv[2] === "--time-nft") {
  const [file, n] = [process.argv[3]!, Number(process.argv[4])];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = Bun.spawnSync(["nft", "-f", file], { stdout: "ignore", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`nft -f failed: ${r.stderr.toString()}`);
    out.push(performance.now() - t);
  }
  console.log(JSON.stringify(out));
  process.exit(0);
}

const flag = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const runs = flag("runs", 8);
const json = process.argv.includes("--json");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

const tag = `hw-h6r-${process.pid.toString(36)}`;
const [ns, bare] = [`${tag}-a`, `${tag}-b`];
const dir = mkdtempSync(join(tmpdir(), "hw-react-"));
chmodSync(dir, 0o755);
const original = readFileSync(join(REPO, "rules", FILE), "utf8");
if (!original.includes("ports: [80, 443]")) throw new Error(`${FILE} no longer has the line this bench edits`);
const edited = (port: number) => original.replace("ports: [80, 443]", `ports: [80, ${port}]`);
const procs: { kill(): void }[] = [];

try {
  for (const n of [ns, bare]) {
    await $`ip netns add ${n}`.quiet();
    await $`ip -n ${n} link add eth0 type veth peer name eth1`.quiet();
    await $`ip -n ${n} link set lo up`.quiet();
  }
  for (const f of readdirSync(join(REPO, "rules")).filter((f) => f.endsWith(".yaml"))) {
    copyFileSync(join(REPO, "rules", f), join(dir, f));
    chmodSync(join(dir, f), 0o644);
  }
  // Every rule the kernel takes, as nft monitor prints it; lines are timestamped on arrival.
  const monitor = Bun.spawn(["ip", "netns", "exec", ns, "nft", "monitor", "rules"], { stdout: "pipe", stderr: "ignore" });
  procs.push(monitor);
  const seen: { at: number; line: string }[] = [];
  lines(monitor.stdout, (line) => seen.push({ at: performance.now(), line }));
  const waitMarker = async (marker: string, since: number): Promise<number> => {
    const deadline = performance.now() + 10_000;
    for (;;) {
      const hit = seen.find((s) => s.at >= since && s.line.includes(marker));
      if (hit) return hit.at - since;
      if (performance.now() > deadline) throw new Error(`the rule with ${marker} was not applied within 10 s`);
      await Bun.sleep(1);
    }
  };
  const agent = Bun.spawn(["ip", "netns", "exec", ns, BIN, "run", "--config-dir", dir, "--node", "jasper", "--listen", "off", "--socket", "off", "--state-dir", "off"], { stdout: "ignore", stderr: "pipe" });
  procs.push(agent);
  await waitMarker("dport { 80, 443 }", 0);
  await Bun.sleep(500);

  const renamed: number[] = [];
  const inPlace: number[] = [];
  const bareMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Saved by rename (a hidden temp, then rename over: what editors and writeConfig do).
    let port = 40_000 + 2 * i;
    writeFileSync(join(dir, `.${FILE}.tmp`), edited(port), { mode: 0o644 });
    let t = performance.now();
    renameSync(join(dir, `.${FILE}.tmp`), join(dir, FILE));
    renamed.push(await waitMarker(`dport { 80, ${port} }`, t));
    await Bun.sleep(400);
    // The agent's own script for this edit, applied bare in the second namespace.
    const script = join(dir, `.script-${i}.nft`);
    writeFileSync(script, await $`ip netns exec ${bare} ${BIN} compile --config-dir ${dir} --node jasper`.text());
    bareMs.push(...JSON.parse(await $`ip netns exec ${bare} ${process.execPath} ${import.meta.path} --time-nft ${script} 1`.text()));
    // Written in place.
    port++;
    t = performance.now();
    writeFileSync(join(dir, FILE), edited(port));
    inPlace.push(await waitMarker(`dport { 80, ${port} }`, t));
    await Bun.sleep(400);
  }
  const r = { runs, renameP50: median(renamed), inPlaceP50: median(inPlace), bareP50: median(bareMs), renamed, inPlace, bare: bareMs };
  if (json) console.log(JSON.stringify(r));
  else {
    console.log(`small config, one-line edit → enforced (nft monitor), p50 of ${runs}:`);
    console.log(`  renamed in (editor save)   ${r.renameP50.toFixed(1)} ms = ${(r.renameP50 / r.bareP50).toFixed(2)} x bare nft -f of the agent's script (${r.bareP50.toFixed(1)} ms)`);
    console.log(`  written in place           ${r.inPlaceP50.toFixed(1)} ms (debounce 150 ms)`);
  }
} finally {
  for (const p of procs) p.kill();
  for (const n of [ns, bare]) await $`ip netns del ${n}`.quiet().nothrow();
  rmSync(dir, { recursive: true, force: true });
}
