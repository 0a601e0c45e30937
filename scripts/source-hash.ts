/**
 * Which source a binary was built from. scripts/build.ts bakes {@link sourceHash} into
 * dist/hostwall (`hostwall version` prints it as `source <hash>`), and the test preload
 * (test/preload.ts) compares it with the hash of the current tree before any test runs, so a
 * test never exercises a binary built from other code than the one under review.
 *
 * The hash covers what decides the binary's behaviour: every src/**\/*.ts, package.json (the
 * pinned dependency versions), the build script (its flags), and the Bun version that compiles
 * and embeds its runtime. Not node_modules: package.json pins exact versions.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Hex digits of the hash that are baked in and printed (64 bits: a build id, not a MAC). */
const HASH_HEX = 16;

/** Repo-relative files that decide what the binary does, sorted. */
export function sourceFiles(repo: string): string[] {
  const src = [...new Bun.Glob("src/**/*.ts").scanSync({ cwd: repo, onlyFiles: true, dot: false })];
  return [...src, "package.json", "scripts/build.ts"].sort();
}

/** The source hash of the tree at `repo`, for the given Bun version (default: this one). */
export function sourceHash(repo: string, bunVersion: string = Bun.version): string {
  const h = new Bun.CryptoHasher("sha256");
  h.update(`bun ${bunVersion}\0`);
  for (const file of sourceFiles(repo)) {
    const text = readFileSync(join(repo, file));
    // Name and length frame each file, so moving bytes between files changes the hash.
    h.update(`${file}\0${text.length}\0`);
    h.update(text);
  }
  return h.digest("hex").slice(0, HASH_HEX);
}

/** The source hash a built binary reports (`hostwall version`), or why there is none. */
export function embeddedHash(binary: string): { hash?: string; why?: string } {
  let r: { exitCode: number | null; stdout: Buffer; stderr: Buffer };
  try {
    r = Bun.spawnSync([binary, "version"], { stdout: "pipe", stderr: "pipe", timeout: 10_000, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
  } catch (e) {
    return { why: `${binary} cannot run: ${(e as Error).message}` };
  }
  const out = r.stdout.toString();
  const m = new RegExp(`\\bsource ([0-9a-f]{${HASH_HEX}})\\b`).exec(out);
  if (r.exitCode !== 0 || !m) return { why: `${binary} version (exit ${r.exitCode}) names no source hash: ${JSON.stringify(out.trim() || r.stderr.toString().trim())}` };
  return { hash: m[1] };
}

/** Whether the binary was built from the tree at `repo`, with both hashes for the message. */
export function binaryFreshness(repo: string, binary: string): { fresh: boolean; current: string; embedded?: string; why?: string } {
  const current = sourceHash(repo);
  const { hash, why } = embeddedHash(binary);
  return { fresh: hash === current, current, embedded: hash, why: why ?? (hash === current ? undefined : `built from source ${hash}, the tree is ${current}`) };
}

/**
 * Rebuilds `binary` (repo-relative, default dist/hostwall) with scripts/build.ts unless it was
 * built from the current tree; throws when the build fails or the result is still not the
 * current tree (src/ changed while it built).
 */
export function ensureFreshBinary(repo: string, binary = "dist/hostwall"): { rebuilt: boolean; hash: string; why?: string } {
  const path = join(repo, binary);
  const before = binaryFreshness(repo, path);
  if (before.fresh) return { rebuilt: false, hash: before.current };
  const build = Bun.spawnSync([process.execPath, "run", "scripts/build.ts", binary], { cwd: repo, stdout: "pipe", stderr: "pipe", timeout: 300_000 });
  if (build.exitCode !== 0) {
    throw new Error(`${binary} is stale (${before.why}) and rebuilding it failed (exit ${build.exitCode}):\n${build.stderr.toString()}${build.stdout.toString()}`);
  }
  const after = binaryFreshness(repo, path);
  if (!after.fresh) throw new Error(`${binary} was rebuilt but is still not the current tree: ${after.why}`);
  return { rebuilt: true, hash: after.current, why: before.why };
}
