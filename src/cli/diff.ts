/**
 * `hostwall diff`: what applying the config dir now would change against what is in force.
 *
 * The running agent knows the ruleset it put in force (its IR), so it is asked first (POST
 * /diff on the control socket, or --api); it reads its own config dir. When no agent runs
 * (no socket, or nobody listening on it), the config dir is built here and compared with the
 * kernel's tables, listed with their set elements (`nft -j list ruleset`) and parsed into the
 * same IR (nft/listing.ts); both sides are normalised first (listing-normalise.ts), so nft's
 * way of printing a rule is not a change.
 *
 * Exit codes as diff(1): 0 nothing would change, 1 something would, 2 trouble: an invalid
 * config, an agent that refuses or cannot be asked (--api given, or permission denied), a
 * kernel listing that cannot be read, or a usage error.
 */
import type { DiffDocument } from "../diff/diff.ts";
import { diffRulesets } from "../diff/diff.ts";
import { formatDiff } from "../diff/format.ts";
import { kernelView, normalisedView } from "../diff/kernel.ts";
import { formatDiagnostic, hasErrors, type Diagnostic } from "../diagnostics/diagnostic.ts";
import { listAddresses, listInterfaces } from "../agent/system.ts";
import { spawnRunner } from "../nft/runner.ts";
import { buildRuleset } from "../pipeline.ts";
import { readSources } from "../source/sources.ts";
import { DEFAULT_SOCKET, parseApiTarget } from "./api-client.ts";
import type { Io } from "./io.ts";

export interface DiffOptions {
  /** --api: ask this agent; without it the control socket, then the kernel. */
  api?: string;
  configDir: string;
  node: string;
  nft: string;
  json: boolean;
  defaultSocket?: string;
}

export async function diffCommand(opts: DiffOptions, io: Io): Promise<number> {
  const target = parseApiTarget(opts.api ?? `unix:${opts.defaultSocket ?? DEFAULT_SOCKET}`);
  const init: RequestInit & { unix?: string } = { method: "POST", headers: { "content-type": "application/json" }, body: "{}", signal: AbortSignal.timeout(120_000) };
  if (target.unix) init.unix = target.unix;
  let res: Response | undefined;
  try {
    res = await fetch(target.base + "/diff", init);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const noAgent = code === "ENOENT" || code === "ECONNREFUSED";
    if (opts.api !== undefined || !noAgent) {
      io.err(`hostwall: cannot reach the agent at ${target.label}: ${code === "EACCES" ? "permission denied (the control socket is root's; run as root)" : noAgent ? "no agent is running there" : (e as Error).message}\n`);
      return 2;
    }
  }
  if (!res) return diffAgainstKernel(opts, io);
  const body = (await res.json().catch(() => null)) as (DiffDocument & { error?: string; hint?: string; diagnostics?: Diagnostic[] }) | null;
  for (const d of body?.diagnostics ?? []) io.err(formatDiagnostic(d) + "\n");
  if (res.status !== 200 || !body || typeof body.changed !== "boolean") {
    io.err(`hostwall: the agent at ${target.label} answered ${res.status}: ${body?.error ?? "unexpected answer"}${body?.hint ? ` (${body.hint})` : ""}\n`);
    return 2;
  }
  return print(body, opts.json, io);
}

function print(doc: DiffDocument, json: boolean, io: Io): number {
  io.out(json ? JSON.stringify(doc, null, 2) + "\n" : formatDiff(doc));
  return doc.changed ? 1 : 0;
}

/** No agent: the config dir built here against the kernel's tables. */
async function diffAgainstKernel(opts: DiffOptions, io: Io): Promise<number> {
  const read = await readSources([opts.configDir]);
  const built = buildRuleset({ files: read.files, readDiagnostics: read.diagnostics, node: opts.node, interfaces: listInterfaces(), addresses: listAddresses() });
  const diagnostics = [...read.diagnostics, ...built.diagnostics];
  for (const d of diagnostics) io.err(formatDiagnostic(d) + "\n");
  if (hasErrors(diagnostics) || !built.ruleset) {
    io.err(`hostwall: ${opts.configDir} is invalid; nothing would be applied\n`);
    return 2;
  }
  const listed = await spawnRunner(opts.nft).listJson!();
  if (!listed.ok) {
    io.err(`hostwall: no agent runs, and the kernel's ruleset cannot be listed: ${listed.stderr.trim().split("\n")[0]}\n`);
    return 2;
  }
  const kernel = kernelView(listed.stdout);
  if (!kernel.ok) {
    io.err(`hostwall: no agent runs, and the kernel's hostwall tables cannot be read: ${kernel.error}\n`);
    return 2;
  }
  const against = kernel.view ? "the kernel's hostwall tables (no agent runs)" : "nothing in force (no agent runs, no hostwall table in the kernel)";
  return print(diffRulesets(kernel.view, normalisedView(built.ruleset), against), opts.json, io);
}
