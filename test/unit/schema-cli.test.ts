/**
 * `hostwall schema`, `hostwall completion` and `hostwall man` as commands: what they print,
 * and their usage errors (an unknown kind with the nearest one, a missing or unknown shell,
 * a flag they do not take), run through the CLI's dispatch without the binary.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs, UsageError } from "../../src/cli/args.ts";
import { runCommand } from "../../src/cli/commands.ts";
import { completionScript } from "../../src/cli/completion.ts";
import { manPage } from "../../src/cli/man.ts";

const REPO = join(import.meta.dir, "../..");

async function run(argv: string[]): Promise<{ code: number; out: string } | { usage: string }> {
  let out = "";
  const io = { out: (s: string) => void (out += s), err: () => {}, env: {} };
  try {
    return { code: await runCommand(parseArgs(argv), io), out };
  } catch (e) {
    if (e instanceof UsageError) return { usage: e.message };
    throw e;
  }
}

describe("hostwall schema", () => {
  test("prints the committed schema; --kind one kind", async () => {
    expect(await run(["schema"])).toEqual({ code: 0, out: readFileSync(join(REPO, "schema/hostwall.schema.json"), "utf8") });
    const tier = await run(["schema", "--kind", "Tier"]);
    expect("code" in tier && JSON.parse(tier.out).allOf).toEqual([{ $ref: "#/definitions/Tier" }]);
  });

  test("usage errors", async () => {
    expect(await run(["schema", "--kind", "Teir"])).toEqual({ usage: "--kind Teir is not a kind hostwall reads; did you mean Tier?" });
    expect(await run(["schema", "--kind"])).toEqual({ usage: "--kind needs a value" });
    expect(await run(["schema", "--json"])).toEqual({ usage: "--json is not a flag of hostwall schema; see hostwall help schema" });
    expect(await run(["schema", "extra"])).toEqual({ usage: 'unexpected argument "extra"; see hostwall help schema' });
  });
});

describe("hostwall completion and man", () => {
  test("print the generated texts", async () => {
    for (const shell of ["bash", "zsh", "fish"] as const) expect(await run(["completion", shell])).toEqual({ code: 0, out: completionScript(shell) });
    expect(await run(["man"])).toEqual({ code: 0, out: manPage() });
  });

  test("usage errors", async () => {
    const wanted = { usage: "hostwall completion takes one shell: bash, zsh, fish; see hostwall help completion" };
    expect(await run(["completion"])).toEqual(wanted);
    expect(await run(["completion", "tcsh"])).toEqual(wanted);
    expect(await run(["completion", "bash", "zsh"])).toEqual(wanted);
    expect(await run(["man", "x"])).toEqual({ usage: 'unexpected argument "x"; see hostwall help man' });
  });
});
