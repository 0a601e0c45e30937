/**
 * Builds the single binary dist/hostwall with `bun build --compile`: version, commit and the
 * source hash (scripts/source-hash.ts, checked by the test preload) baked in, .env and
 * bunfig.toml autoloading off (a root daemon must not read files from its CWD),
 * bytecode for a faster start. Never strip the result: stripping turns it into plain bun.
 * No compile option stops the runtime from acting on BUN_OPTIONS, BUN_BE_BUN and the like
 * (`compile.execArgv` only adds flags): the binary refuses them itself (src/cli/environment.ts).
 * Written to a temp name and renamed into place, so a running binary (a test's agent, or a
 * concurrent build) never sees a half-written file.
 */
import { $ } from "bun";
import { renameSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import pkg from "../package.json";
import { sourceHash } from "./source-hash.ts";

const commit = (await $`git rev-parse --short HEAD`.nothrow().quiet().text()).trim() || "unknown";
const dirty = (await $`git status --porcelain --untracked-files=no`.nothrow().quiet().text()).trim() ? "-dirty" : "";
const target = process.argv[2] ?? "dist/hostwall";
const outfile = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
const source = sourceHash(join(import.meta.dir, ".."));
const started = performance.now();
const result = await Bun.build({
  entrypoints: ["src/main.ts"],
  compile: { outfile, autoloadDotenv: false, autoloadBunfig: false },
  minify: true,
  bytecode: true,
  format: "esm",
  sourcemap: "linked",
  define: { BUILD_VERSION: JSON.stringify(pkg.version), BUILD_COMMIT: JSON.stringify(commit + dirty), BUILD_SOURCE_HASH: JSON.stringify(source) },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
renameSync(`${outfile}.map`, `${target}.map`);
renameSync(outfile, target);
const size = Bun.file(target).size;
console.error(`built ${target} (${(size / 1048576).toFixed(1)} MiB, hostwall ${pkg.version} ${commit}${dirty}, source ${source}) in ${Math.round(performance.now() - started)} ms`);
