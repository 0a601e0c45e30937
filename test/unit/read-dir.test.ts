/**
 * readConfigDir on real files: skip rules and order, owner and mode checks on files, the config
 * dir, its ancestors and symlink targets (security issue #18), loops, caps and odd file types.
 * Trees live in a fresh mkdtemp dir (root-owned 0700 under /tmp when run as root, which the
 * reader accepts: /tmp is root-owned and sticky). Owner checks chown to nobody and need root.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, lchownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readConfigDir, type ReadDirOptions } from "../../src/source/read-dir.ts";

const NOBODY = 65534;
const root = process.getuid?.() === 0;
const trees: string[] = [];

afterAll(() => {
  for (const t of trees) rmSync(t, { recursive: true, force: true });
});

/** A fresh tree: `files` maps relative paths to content (a trailing / makes a directory). */
function tree(files: Record<string, string> = {}): string {
  const t = mkdtempSync(join(tmpdir(), "hw-readdir-"));
  trees.push(t);
  for (const [rel, text] of Object.entries(files)) {
    const path = join(t, rel);
    mkdirSync(rel.endsWith("/") ? path : join(path, ".."), { recursive: true, mode: 0o755 });
    if (!rel.endsWith("/")) writeFileSync(path, text, { mode: 0o644 });
  }
  return t;
}

async function read(dir: string, opts: ReadDirOptions = {}) {
  const r = await readConfigDir(dir, opts);
  return {
    files: r.files.map((f) => [f.path.slice(dir.length + 1), f.text]),
    diags: r.diagnostics.map((d) => [d.code, d.file === dir ? "." : d.file?.slice(dir.length + 1)]),
    messages: r.diagnostics.map((d) => d.message),
  };
}

describe("what is read", () => {
  test("hidden files, hidden directories and editor leftovers are skipped", async () => {
    const names = [".hidden.yaml", "a.yaml~", "a.yaml.swp", "#a.yaml#", "a.yaml.tmp", "a.yaml.dpkg-new", "a.yaml.rpmnew", "notes.txt", ".git/x.yaml"];
    const t = tree(Object.fromEntries([...names, "a.yaml", "b.yml", "c.json"].map((n) => [`cfg/${n}`, n])));
    const r = await read(join(t, "cfg"));
    expect(r).toEqual({ files: [["a.yaml", "a.yaml"], ["b.yml", "b.yml"], ["c.json", "c.json"]], diags: [], messages: [] });
  });

  test("subdirectories are read, every directory in sorted order", async () => {
    const t = tree({ "cfg/z.yaml": "z", "cfg/b/d/e.yaml": "e", "cfg/b/c.yaml": "c", "cfg/a.yaml": "a", "cfg/b/a.yaml": "ba", "cfg/empty/": "" });
    const r = await read(join(t, "cfg"));
    expect(r.diags).toEqual([]);
    expect(r.files.map(([p]) => p)).toEqual(["a.yaml", "b/a.yaml", "b/c.yaml", "b/d/e.yaml", "z.yaml"]);
  });

  test("checkPermissions: false reads group- and world-writable files", async () => {
    const t = tree({ "cfg/a.yaml": "a" });
    chmodSync(join(t, "cfg/a.yaml"), 0o666);
    chmodSync(join(t, "cfg"), 0o777);
    expect(await read(join(t, "cfg"), { checkPermissions: false })).toEqual({ files: [["a.yaml", "a"]], diags: [], messages: [] });
  });
});

describe("owner and mode", () => {
  test.skipIf(!root)("a file or directory owned by someone else is refused", async () => {
    const t = tree({ "cfg/a.yaml": "a", "cfg/b.yaml": "b", "cfg/sub/c.yaml": "c" });
    chownSync(join(t, "cfg/b.yaml"), NOBODY, NOBODY);
    chownSync(join(t, "cfg/sub"), NOBODY, NOBODY);
    const r = await read(join(t, "cfg"));
    expect(r.files).toEqual([["a.yaml", "a"]]);
    expect(r.diags).toEqual([["INSECURE_PERMISSIONS", "b.yaml"], ["INSECURE_PERMISSIONS", "sub"]]);
    expect(r.messages.every((m) => m.includes(`owned by uid ${NOBODY}, not root`))).toBe(true);
  });

  const modes: [number, string][] = [
    [0o664, "group-writable (mode 664)"],
    [0o646, "world-writable (mode 646)"],
    [0o666, "world-writable (mode 666)"],
  ];
  for (const [mode, wording] of modes) {
    test(`a file with mode ${mode.toString(8)} is ${wording.split(" ")[0]}`, async () => {
      const t = tree({ "cfg/a.yaml": "a", "cfg/b.yaml": "b" });
      chmodSync(join(t, "cfg/b.yaml"), mode);
      const r = await read(join(t, "cfg"));
      expect(r.files).toEqual([["a.yaml", "a"]]);
      expect(r.diags).toEqual([["INSECURE_PERMISSIONS", "b.yaml"]]);
      expect(r.messages[0]).toContain(`config file is ${wording}`);
    });
  }

  for (const [mode, wording] of [[0o775, "group-writable (mode 775)"], [0o777, "world-writable (mode 777)"], [0o757, "world-writable (mode 757)"]] as const) {
    test(`a directory with mode ${mode.toString(8)} is ${wording.split(" ")[0]}, itself or below`, async () => {
      const t = tree({ "cfg/sub/a.yaml": "a" });
      chmodSync(join(t, "cfg/sub"), mode);
      expect((await read(join(t, "cfg"))).diags).toEqual([["INSECURE_PERMISSIONS", "sub"]]);
      chmodSync(join(t, "cfg/sub"), 0o755);
      chmodSync(join(t, "cfg"), mode);
      const r = await read(join(t, "cfg"));
      expect(r).toEqual({ files: [], diags: [["INSECURE_PERMISSIONS", "."]], messages: [expect.stringContaining(`config directory is ${wording}`)] });
    });
  }

  test("an ancestor of the config dir writable by others is refused, naming it", async () => {
    const t = tree({ "open/cfg/a.yaml": "a" });
    chmodSync(join(t, "open"), 0o777);
    const r = await read(join(t, "open/cfg"));
    expect(r.files).toEqual([]);
    expect(r.diags).toEqual([["INSECURE_PATH", "."]]);
    expect(r.messages[0]).toContain(`passes through ${join(t, "open")}, which is world-writable (mode 777)`);
    chmodSync(join(t, "open"), 0o1777);
    expect((await read(join(t, "open/cfg"))).files).toEqual([["a.yaml", "a"]]);
  });

  test.skipIf(!root)("an ancestor owned by someone else is refused, even when sticky", async () => {
    const t = tree({ "theirs/cfg/a.yaml": "a" });
    chownSync(join(t, "theirs"), NOBODY, NOBODY);
    for (const mode of [0o755, 0o1777]) {
      chmodSync(join(t, "theirs"), mode);
      const r = await read(join(t, "theirs/cfg"));
      expect(r.diags).toEqual([["INSECURE_PATH", "."]]);
      expect(r.messages[0]).toContain(`passes through ${join(t, "theirs")}, which `);
    }
  });

  test("the config dir itself may not be sticky world-writable", async () => {
    const t = tree({ "cfg/a.yaml": "a" });
    chmodSync(join(t, "cfg"), 0o1777);
    expect((await read(join(t, "cfg"))).diags).toEqual([["INSECURE_PERMISSIONS", "."]]);
  });
});

describe("symlinks", () => {
  test("a symlink to a file in a root-owned directory is read from its target, shown by its own name", async () => {
    const t = tree({ "cfg/a.yaml": "a", "shared/s.yaml": "shared", "shared/deep/d.yaml": "deep" });
    symlinkSync("../shared/s.yaml", join(t, "cfg/rel.yaml"));
    symlinkSync(join(t, "shared/deep/d.yaml"), join(t, "cfg/abs.yaml"));
    symlinkSync(join(t, "shared/deep"), join(t, "cfg/dir"));
    symlinkSync(join(t, "cfg"), join(t, "cfg-link"));
    const r = await read(join(t, "cfg"));
    expect(r).toEqual({ files: [["a.yaml", "a"], ["abs.yaml", "deep"], ["dir/d.yaml", "deep"], ["rel.yaml", "shared"]], diags: [], messages: [] });
    // The config dir given as a symlink: read from its target, shown under the given name.
    const viaLink = await readConfigDir(join(t, "cfg-link"));
    expect(viaLink.files.map((f) => f.path)).toEqual(["a.yaml", "abs.yaml", "dir/d.yaml", "rel.yaml"].map((n) => join(t, "cfg-link", n)));
  });

  test("a symlink through a directory writable by others is refused, naming that directory", async () => {
    const t = tree({ "cfg/a.yaml": "a", "open/s.yaml": "theirs", "open/sub/s.yaml": "theirs", "sticky/s.yaml": "theirs" });
    chmodSync(join(t, "open"), 0o777);
    chmodSync(join(t, "sticky"), 0o1777);
    symlinkSync(join(t, "open/s.yaml"), join(t, "cfg/file.yaml"));
    symlinkSync(join(t, "open/sub/s.yaml"), join(t, "cfg/through.yaml"));
    symlinkSync(join(t, "open/sub"), join(t, "cfg/dir"));
    // Sticky is fine to pass through, not to hold a config file.
    symlinkSync(join(t, "sticky/s.yaml"), join(t, "cfg/sticky.yaml"));
    const r = await read(join(t, "cfg"));
    expect(r.files).toEqual([["a.yaml", "a"]]);
    expect(r.diags).toEqual([["INSECURE_PATH", "dir"], ["INSECURE_PATH", "file.yaml"], ["INSECURE_PATH", "sticky.yaml"], ["INSECURE_PATH", "through.yaml"]]);
    expect(r.messages[0]).toContain(`passes through ${join(t, "open")}, which is world-writable (mode 777)`);
    expect(r.messages[1]).toContain(`passes through ${join(t, "open")}, which is world-writable (mode 777)`);
    expect(r.messages[2]).toContain(`is in ${join(t, "sticky")}, which is world-writable (mode 1777)`);
    expect(r.messages[3]).toContain(`passes through ${join(t, "open")}, which is world-writable`);
  });

  test.skipIf(!root)("a symlink into a directory owned by someone else, or through their symlink, is refused", async () => {
    const t = tree({ "cfg/a.yaml": "a", "theirs/s.yaml": "theirs", "shared/s.yaml": "shared" });
    chownSync(join(t, "theirs"), NOBODY, NOBODY);
    symlinkSync(join(t, "theirs/s.yaml"), join(t, "cfg/into.yaml"));
    symlinkSync(join(t, "shared/s.yaml"), join(t, "their-link"));
    lchownSync(join(t, "their-link"), NOBODY, NOBODY);
    symlinkSync(join(t, "their-link"), join(t, "cfg/via.yaml"));
    const r = await read(join(t, "cfg"));
    expect(r.files).toEqual([["a.yaml", "a"]]);
    expect(r.diags).toEqual([["INSECURE_PATH", "into.yaml"], ["INSECURE_PATH", "via.yaml"]]);
    expect(r.messages[0]).toContain(`passes through ${join(t, "theirs")}, which is owned by uid ${NOBODY}`);
    expect(r.messages[1]).toContain(`passes through ${join(t, "their-link")}, which is a symlink owned by uid ${NOBODY}`);
  });

  for (const checkPermissions of [true, false]) {
    test(`two symlinks to . and one to .. finish at once with DIRECTORY_LOOP (checkPermissions ${checkPermissions})`, async () => {
      const t = tree({ "cfg/a.yaml": "a", "cfg/sub/b.yaml": "b", "top.yaml": "top" });
      symlinkSync(".", join(t, "cfg/l1"));
      symlinkSync(".", join(t, "cfg/l2"));
      symlinkSync("..", join(t, "cfg/sub/up"));
      const started = performance.now();
      const r = await read(join(t, "cfg"), { checkPermissions });
      expect(performance.now() - started).toBeLessThan(1000);
      expect(r.files).toEqual([["a.yaml", "a"], ["sub/b.yaml", "b"]]);
      expect(r.diags).toEqual([["DIRECTORY_LOOP", "l1"], ["DIRECTORY_LOOP", "l2"], ["DIRECTORY_LOOP", "sub/up"]]);
      // A symlink to the config dir's parent walks the parent once and stops at the config dir.
      symlinkSync("..", join(t, "cfg/parent"));
      const p = await read(join(t, "cfg"), { checkPermissions });
      expect(p.files).toEqual([["a.yaml", "a"], ["parent/top.yaml", "top"], ["sub/b.yaml", "b"]]);
      expect(p.diags).toEqual([["DIRECTORY_LOOP", "l1"], ["DIRECTORY_LOOP", "l2"], ["DIRECTORY_LOOP", "parent/cfg"], ["DIRECTORY_LOOP", "sub/up"]]);
    });
  }

  test("a symlink chain loop and a dangling symlink are read errors", async () => {
    const t = tree({ "cfg/a.yaml": "a" });
    symlinkSync("loop2.yaml", join(t, "cfg/loop1.yaml"));
    symlinkSync("loop1.yaml", join(t, "cfg/loop2.yaml"));
    symlinkSync("missing.yaml", join(t, "cfg/dangling.yaml"));
    for (const checkPermissions of [true, false]) {
      const r = await read(join(t, "cfg"), { checkPermissions });
      expect(r.files).toEqual([["a.yaml", "a"]]);
      expect(r.diags).toEqual([["READ_ERROR", "dangling.yaml"], ["READ_ERROR", "loop1.yaml"], ["READ_ERROR", "loop2.yaml"]]);
    }
  });
});

describe("odd files and caps", () => {
  test("a FIFO named x.yaml, directly or through a symlink, is an error and does not hang", async () => {
    const t = tree({ "cfg/a.yaml": "a" });
    const mk = Bun.spawnSync(["mkfifo", join(t, "cfg/x.yaml"), join(t, "fifo")]);
    expect(mk.exitCode).toBe(0);
    symlinkSync(join(t, "fifo"), join(t, "cfg/y.yaml"));
    const started = performance.now();
    const r = await read(join(t, "cfg"));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(r.files).toEqual([["a.yaml", "a"]]);
    expect(r.diags).toEqual([["READ_ERROR", "x.yaml"], ["READ_ERROR", "y.yaml"]]);
  });

  test("READ_ERROR for a missing config dir and for a file given as the config dir", async () => {
    const t = tree({ "cfg/a.yaml": "a" });
    expect((await read(join(t, "missing"))).diags).toEqual([["READ_ERROR", "."]]);
    expect((await read(join(t, "cfg/a.yaml"))).diags).toEqual([["READ_ERROR", "."]]);
  });

  test("FILE_TOO_LARGE above maxFileBytes; a file at the limit is read", async () => {
    const t = tree({ "cfg/a.yaml": "0123456789", "cfg/b.yaml": "0123456789x" });
    const r = await read(join(t, "cfg"), { maxFileBytes: 10 });
    expect(r.files).toEqual([["a.yaml", "0123456789"]]);
    expect(r.diags).toEqual([["FILE_TOO_LARGE", "b.yaml"]]);
  });

  test("TOO_MANY_FILES above maxFiles (files and directories); the limit itself is fine", async () => {
    const t = tree({ "cfg/a.yaml": "a", "cfg/b.yaml": "b", "cfg/sub/c.yaml": "c" });
    expect((await read(join(t, "cfg"), { maxFiles: 5 })).diags).toEqual([]);
    const r = await read(join(t, "cfg"), { maxFiles: 4 });
    expect(r.diags).toEqual([["TOO_MANY_FILES", "sub/c.yaml"]]);
    expect(r.files.length).toBe(2);
  });

  test("CONFIG_TOO_LARGE above maxTotalBytes stops reading", async () => {
    const t = tree({ "cfg/a.yaml": "aaaa", "cfg/b.yaml": "bbbb", "cfg/c.yaml": "cccc" });
    expect((await read(join(t, "cfg"), { maxTotalBytes: 12 })).diags).toEqual([]);
    const r = await read(join(t, "cfg"), { maxTotalBytes: 11 });
    expect(r.files).toEqual([["a.yaml", "aaaa"], ["b.yaml", "bbbb"]]);
    expect(r.diags).toEqual([["CONFIG_TOO_LARGE", "c.yaml"]]);
  });

  test("the walk yields to the event loop", async () => {
    const t = tree(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`cfg/f${String(i).padStart(3, "0")}.yaml`, "x"])));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      const r = await read(join(t, "cfg"));
      expect(r.files.length).toBe(300);
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(0);
  });
});

describe("big files read as bytes (source-file.ts BytesFile)", () => {
  test("decoded only when asked; no later read or load changes an earlier file's text (loaded or not, asked early or late)", async () => {
    const { BytesFile } = await import("../../src/source/source-file.ts");
    const { loadConfig } = await import("../../src/validate/load.ts");
    const { clearParseCache } = await import("../../src/config/parse-cache.ts");
    clearParseCache();
    const version = (k: number, n: number) =>
      `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: big}\nspec:\n  nets:\n${Array.from({ length: n }, (_, i) => `    - 10.${k}.${(i >> 8) & 255}.${i & 255}/32 # é${k}\n`.replace(k % 2 ? "é" : "\0", "e")).join("")}`;
    const dir = tree();
    const read: { file: Awaited<ReturnType<typeof readConfigDir>>["files"][number]; text: string }[] = [];
    for (let k = 0; k < 8; k++) {
      // Odd versions are ASCII (their edits are read from bytes), even ones not; sizes vary.
      const text = version(k, 60_000 + ((k * 7919) % 5) * 3000 + (k % 3 === 0 ? 2 : 0) * 1000);
      writeFileSync(join(dir, "big.yaml"), text);
      const { files, diagnostics } = await readConfigDir(dir, { checkPermissions: false });
      expect(diagnostics).toEqual([]);
      expect({ k, bytesFile: files[0] instanceof BytesFile, big: text.length > 1 << 20 }).toEqual({ k, bytesFile: true, big: true });
      if (k % 4 !== 3) loadConfig(files, { node: "n" }); // every fourth read is never loaded
      if (k % 2 === 0) expect(files[0]!.text === text).toBe(true); // asked at once
      read.push({ file: files[0]!, text });
    }
    // Asked after all the later reads overwrote the spare buffers.
    expect(read.map((r, k) => [k, r.file.text === r.text])).toEqual(read.map((_, k) => [k, true]));
    clearParseCache();
  }, 60_000);
});
