/**
 * Builds the single binary dist/hostwall with `bun build --compile`: version and commit baked
 * in, .env and bunfig.toml autoloading off (a root daemon must not read files from its CWD),
 * bytecode for a faster start. Never strip the result: stripping turns it into plain bun.
 * No compile option stops the runtime from acting on BUN_OPTIONS, BUN_BE_BUN and the like
 * (`compile.execArgv` only adds flags): the binary refuses them itself (src/cli/environment.ts).
 */
import { $ } from "bun";
import pkg from "../package.json";

const commit = (await $`git rev-parse --short HEAD`.nothrow().quiet().text()).trim() || "unknown";
const dirty = (await $`git status --porcelain --untracked-files=no`.nothrow().quiet().text()).trim() ? "-dirty" : "";
const outfile = process.argv[2] ?? "dist/hostwall";
const started = performance.now();
const result = await Bun.build({
  entrypoints: ["src/main.ts"],
  compile: { outfile, autoloadDotenv: false, autoloadBunfig: false },
  minify: true,
  bytecode: true,
  format: "esm",
  sourcemap: "linked",
  define: { BUILD_VERSION: JSON.stringify(pkg.version), BUILD_COMMIT: JSON.stringify(commit + dirty) },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
const size = Bun.file(outfile).size;
console.error(`built ${outfile} (${(size / 1048576).toFixed(1)} MiB, hostwall ${pkg.version} ${commit}${dirty}) in ${Math.round(performance.now() - started)} ms`);
