/**
 * The state dir (src/agent/state.ts): the last good ruleset survives a restart, is written
 * atomically with mode 0600, and is refused when anyone but root could have written it or
 * when it would touch more than hostwall's tables.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stateStore, type LastGood } from "../../src/agent/state.ts";

const record = (script = 'table inet hostwall {}\ndelete table inet hostwall\ntable inet hostwall { comment "hostwall generation 3 hash 0123456789abcdef";\n\tchain c {\n\t}\n}\n'): LastGood => ({
  format: 1, node: "jasper", generation: 3, hash: "0123456789abcdef", at: "2026-01-01T00:00:00.000Z", script, expected: [], resources: { HostEndpoint: 1 }, interfaces: ["eth0"],
});

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "hw-state-test-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("state dir", () => {
  test("save then load returns the record; the file is 0600 and no temporary file is left", async () => {
    const dir = join(tempDir(), "state");
    const store = stateStore(dir);
    expect(await store.load()).toBeUndefined();
    await store.save(record());
    expect(await store.load()).toEqual(record());
    expect(lstatSync(dir).mode & 0o777).toBe(0o700);
    expect(lstatSync(store.path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual([store.path.split("/").at(-1)!]);
  });

  test("saved endpoints come back; malformed ones are dropped, not the record", async () => {
    const store = stateStore(join(tempDir(), "state"));
    const policies = { ingress: { untracked: ["a"], preDNAT: [], normal: ["b"], forward: [] }, egress: { untracked: [], normal: [], forward: [] } };
    const good = { ...record(), endpoints: [{ name: "hep", interface: "eth0", policies, profiles: ["p"] }] };
    await store.save(good);
    expect(await store.load()).toEqual(good);
    for (const endpoints of [[{ name: "hep", interface: "eth0", policies: { ingress: policies.ingress }, profiles: [] }], [{ name: 1 }], "x"]) {
      writeFileSync(store.path, JSON.stringify({ ...record(), endpoints }), { mode: 0o600 });
      expect(await store.load()).toEqual(record());
    }
  });

  test("a state dir that is a symlink, or writable by others, is refused for load and save", async () => {
    const base = tempDir();
    const real = join(base, "real");
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(base, "link"));
    await expect(stateStore(join(base, "link")).load()).rejects.toThrow(/the state dir .* is a symlink/);
    await expect(stateStore(join(base, "link")).save(record())).rejects.toThrow(/symlink/);
    chmodSync(real, 0o777);
    await expect(stateStore(real).save(record())).rejects.toThrow(/world-writable/);
    chmodSync(real, 0o770);
    await expect(stateStore(real).load()).rejects.toThrow(/group-writable/);
  });

  test("a record file that is a symlink is never followed; one whose script touches other tables is refused", async () => {
    const dir = tempDir();
    const store = stateStore(dir);
    const elsewhere = join(tempDir(), "x.json");
    writeFileSync(elsewhere, JSON.stringify(record()));
    symlinkSync(elsewhere, store.path);
    await expect(store.load()).rejects.toThrow(/cannot open/);
    rmSync(store.path);
    writeFileSync(store.path, JSON.stringify(record("flush ruleset\n")), { mode: 0o600 });
    await expect(store.load()).rejects.toThrow(/touches more than hostwall's tables \("flush ruleset"\)/);
    writeFileSync(store.path, "{", { mode: 0o600 });
    await expect(store.load()).rejects.toThrow(/not valid JSON/);
    expect(existsSync(store.path)).toBe(true);
  });

  test("the record's config digest comes back; a malformed one is dropped, not the record", async () => {
    const store = stateStore(join(tempDir(), "state"));
    const good = { ...record(), config: "a".repeat(64) };
    await store.save(good);
    expect(await store.load()).toEqual(good);
    for (const config of ["a".repeat(63), 7, "A".repeat(64)]) {
      writeFileSync(store.path, JSON.stringify({ ...record(), config }), { mode: 0o600 });
      expect(await store.load()).toEqual(record());
    }
  });

  test("loadHead: the record without decoding its script, which is decoded and checked when asked", async () => {
    const store = stateStore(join(tempDir(), "state"));
    const script = record().script + '\t# a "quoted" \\ line, and ,"script":"x" inside\n';
    const { script: _, ...head } = record(script);
    await store.saveStreamed!({ ...head, config: "b".repeat(64) }, [script.slice(0, 10), script.slice(10)]);
    const got = (await store.loadHead!())!;
    expect({ ...got, script: undefined }).toEqual({ ...head, config: "b".repeat(64), script: undefined });
    expect(got.script()).toBe(script);
    // Written whole (script not last): parsed whole, the same record.
    writeFileSync(store.path, JSON.stringify({ script, ...head }), { mode: 0o600 });
    const whole = (await store.loadHead!())!;
    expect(whole.script()).toBe(script);
    expect(whole.generation).toBe(3);
    // A script that touches other tables: the head loads, the script is refused when asked.
    await store.saveStreamed!(head, ["flush ruleset\n"]);
    const bad = (await store.loadHead!())!;
    expect(bad.hash).toBe("0123456789abcdef");
    expect(() => bad.script()).toThrow(/touches more than hostwall's tables \("flush ruleset"\)/);
    // A broken head is refused as load() refuses it.
    writeFileSync(store.path, '{"format":2,"script":""}', { mode: 0o600 });
    await expect(store.loadHead!()).rejects.toThrow(/not a hostwall last-good record/);
  });
});
