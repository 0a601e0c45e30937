/**
 * Preloaded by every `bun test` run from the repo root (bunfig.toml): before any test file
 * loads, dist/hostwall is rebuilt unless `hostwall version` names the source hash of the
 * current tree (scripts/source-hash.ts). Tests that run the binary (CLI, notify, every kernel
 * test) then exercise the code under review, never a binary left over from other source.
 * A failed build, or a tree that changes while it builds, fails the run loudly.
 */
import { join } from "node:path";
import { ensureFreshBinary } from "../scripts/source-hash.ts";

const repo = join(import.meta.dir, "..");
const { rebuilt, hash, why } = ensureFreshBinary(repo);
if (rebuilt) console.error(`test preload: rebuilt dist/hostwall (${why}); now source ${hash}`);
