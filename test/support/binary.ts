/**
 * The hostwall binary every test runs, defined once. dist/hostwall by default (test/preload.ts
 * rebuilds it before the tests when it was not built from the current src/), or the build
 * HOSTWALL_TEST_BINARY names (an absolute path), to show that a test fails on another build.
 * HOSTWALL_BINARY is the older name of the same setting; both set to different paths is an error.
 */
import { isAbsolute, join } from "node:path";

/** The repository root. */
export const REPO = join(import.meta.dir, "../..");
/** What `npm run build` writes. */
export const DIST_BINARY = join(REPO, "dist/hostwall");

/** The binary under test for this environment (exported for the tests of this rule). */
export function binaryFor(env: Record<string, string | undefined>): string {
  const named = [env.HOSTWALL_TEST_BINARY, env.HOSTWALL_BINARY].filter((b): b is string => b !== undefined && b !== "");
  if (named.length === 2 && named[0] !== named[1]) throw new Error(`HOSTWALL_TEST_BINARY (${named[0]}) and HOSTWALL_BINARY (${named[1]}) name different binaries`);
  const b = named[0];
  if (b === undefined) return DIST_BINARY;
  if (!isAbsolute(b)) throw new Error(`HOSTWALL_TEST_BINARY must be an absolute path, got ${JSON.stringify(b)}`);
  return b;
}

/** The hostwall binary the tests run. */
export const BINARY = binaryFor(process.env);
