/**
 * `hostwall completion` and `hostwall man`, generated from the flag table and the usage
 * texts: bash's script is run in a real bash (the completion function called as bash calls
 * it), zsh's and fish's are checked for every command and flag (and by `zsh -n` / `fish -n`
 * where those shells are installed), and the man page has a section per command.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commandSummaries, completionScript, SHELLS } from "../../src/cli/completion.ts";
import { COMMAND_FLAGS } from "../../src/cli/help.ts";
import { manPage } from "../../src/cli/man.ts";

/** What bash's completion offers for a command line whose last word is being typed. */
function bashComplete(words: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), "hw-completion-"));
  try {
    const script = join(dir, "hostwall.bash");
    writeFileSync(script, completionScript("bash"));
    const quoted = words.map((w) => `'${w}'`).join(" ");
    const run = `complete() { :; }; source ${script}; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _hostwall; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = Bun.spawnSync(["bash", "--norc", "--noprofile", "-c", run], { cwd: dir, timeout: 10_000 });
    expect(r.stderr.toString()).toBe("");
    return r.stdout.toString().split("\n").filter(Boolean).sort();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("bash completion", () => {
  test("the command word completes to the commands", () => {
    expect(bashComplete(["hostwall", "s"])).toEqual(["schema", "status"]);
    expect(bashComplete(["hostwall", "comp"])).toEqual(["compile", "completion"]);
  });

  test("each command completes to exactly its flags", () => {
    for (const [command, flags] of Object.entries(COMMAND_FLAGS)) {
      const offered = bashComplete(["hostwall", command, "--"]);
      expect([command, offered]).toEqual([command, [...flags, "help"].map((f) => `--${f}`).sort()]);
    }
  });

  test("flag values: closed sets and kinds", () => {
    expect(bashComplete(["hostwall", "run", "--boot-policy", ""])).toEqual(["failsafe", "open"]);
    expect(bashComplete(["hostwall", "schema", "--kind", "Global"])).toEqual(["GlobalNetworkPolicy", "GlobalNetworkSet"]);
    expect(bashComplete(["hostwall", "explain", "--proto", "icmp"])).toEqual(["icmp", "icmpv6"]);
    expect(bashComplete(["hostwall", "status", "--api", ""])).toEqual([]);
    expect(bashComplete(["hostwall", "completion", ""])).toEqual(["--help", "bash", "fish", "zsh"]);
    expect(bashComplete(["hostwall", "help", "tr"])).toEqual(["trace"]);
    if ("get" in COMMAND_FLAGS) expect(bashComplete(["hostwall", "get", "Pro"])).toEqual(["Profile"]);
  });
});

describe("zsh and fish completion", () => {
  for (const shell of ["zsh", "fish"] as const) {
    test(`${shell}: every command with its summary, every flag of each command`, () => {
      const script = completionScript(shell);
      const summaries = commandSummaries();
      for (const [command, flags] of Object.entries(COMMAND_FLAGS)) {
        expect([command, summaries[command] !== undefined]).toEqual([command, true]);
        for (const flag of flags) expect([command, flag, script.includes(shell === "zsh" ? `'--${flag}` : `__fish_seen_subcommand_from ${command}' -l ${flag}`)]).toEqual([command, flag, true]);
      }
    });

    test(`${shell}: the script parses (when ${shell} is installed)`, () => {
      if (!Bun.which(shell)) return;
      const dir = mkdtempSync(join(tmpdir(), "hw-completion-"));
      try {
        const file = join(dir, "script");
        writeFileSync(file, completionScript(shell));
        const r = Bun.spawnSync([shell, "-n", file], { timeout: 10_000 });
        expect([r.exitCode, r.stderr.toString()]).toEqual([0, ""]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test("fish: kinds and closed sets are offered", () => {
    expect(completionScript("fish")).toContain("-l kind -x -a 'HostEndpoint GlobalNetworkPolicy");
    expect(completionScript("fish")).toContain("-l boot-policy -x -a 'open failsafe'");
  });

  test("the shells are the ones the help names", () => expect([...SHELLS]).toEqual(["bash", "zsh", "fish"]));
});

describe("man page", () => {
  test("a section per command, each with its usage line; roff requests cannot come from the text", () => {
    const page = manPage();
    for (const command of Object.keys(COMMAND_FLAGS)) expect(page).toContain(`.SS ${command}\n.nf\nusage: hostwall ${command === "help" ? "help" : command}`);
    const lines = page.split("\n");
    const requests = lines.filter((l) => /^[.']/.test(l)).map((l) => l.split(" ")[0]);
    expect([...new Set(requests)].sort()).toEqual(['.\\"', ".B", ".BR", ".I", ".SH", ".SS", ".TH", ".TP", ".fi", ".nf"].sort());
    expect(page).toContain("\\-\\-config\\-dir");
  });
});
