/**
 * `hostwall check --live`: the lockout check of an apply (agent/lockout.ts), without applying.
 * The config is validated as `check` does; then the live inbound TCP sessions of this network
 * namespace (/proc/self/net/tcp{,6}) and the SSH session running the command (SSH_CONNECTION)
 * are evaluated against it. Exit 0 when no session would be denied (or the socket table could
 * not be read, which is said), 1 when the config is invalid or would deny one (each named
 * with the rule that denies it), as an apply would refuse it.
 */
import { lockoutGate } from "../agent/lockout.ts";
import { readSessions, sshSession } from "../agent/sessions.ts";
import { listAddresses, listInterfaces } from "../agent/system.ts";
import { formatDiagnostic, hasErrors } from "../diagnostics/diagnostic.ts";
import { buildRuleset } from "../pipeline.ts";
import { readSources } from "../source/sources.ts";
import type { Io } from "./io.ts";

export async function checkLive(opts: { paths: string[]; node: string; json: boolean }, io: Io): Promise<number> {
  const read = await readSources(opts.paths);
  const addresses = listAddresses();
  const built = buildRuleset({ files: read.files, readDiagnostics: read.diagnostics, node: opts.node, interfaces: listInterfaces(), addresses });
  const diagnostics = [...read.diagnostics, ...built.diagnostics];
  if (hasErrors(diagnostics) || !built.ruleset) {
    for (const d of diagnostics) io.err(formatDiagnostic(d) + "\n");
    io.err(`hostwall: ${opts.paths.join(", ")} is invalid; nothing would be applied\n`);
    return 1;
  }
  const ssh = sshSession(io.env.SSH_CONNECTION);
  const table = readSessions();
  const gate = lockoutGate({ model: built.model, node: opts.node, addresses, table, extra: ssh ? [ssh] : [] });
  const r = gate.result;
  const sessions = { checked: r?.checked ?? 0, failsafe: r?.failsafe ?? 0, skipped: r?.skipped ?? 0, denied: r?.findings.length ?? 0, tableRead: table.ok };
  if (opts.json) io.out(JSON.stringify({ ok: !gate.refuse, sessions, diagnostics: [...diagnostics, ...gate.diagnostics] }, null, 2) + "\n");
  else {
    for (const d of [...diagnostics, ...gate.diagnostics]) io.err(formatDiagnostic(d) + "\n");
    const counted = `${sessions.checked} live session(s) checked, ${sessions.failsafe} covered by a failsafe, ${sessions.skipped} not checked (loopback, an address on no interface, or over the limit)`;
    io.out(gate.refuse ? `lockout: the config would deny ${sessions.denied} live session(s) (${counted}); an apply would be refused\n` : `lockout: no live session would be denied (${counted}${table.ok ? "" : "; the socket table could not be read"})\n`);
  }
  return gate.refuse ? 1 : 0;
}
