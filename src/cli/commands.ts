/**
 * The commands of DESIGN.md §3. Each is a plain async function that returns an exit code;
 * only src/main.ts calls process.exit. Output goes to the given streams so tests can call
 * commands directly.
 */
import { formatDiagnostic, type Diagnostic } from "../diagnostics/diagnostic.ts";
import { readSources } from "../source/sources.ts";
import type { SourceFile } from "../source/source-file.ts";
import { buildRuleset, type BuildResult } from "../pipeline.ts";
import { formatCidr, type Cidr } from "../model/cidr.ts";
import { renderFlush } from "../nft/render.ts";
import { probeBackend, spawnRunner } from "../nft/runner.ts";
import { TABLE } from "../nft/names.ts";
import { listAddresses, listInterfaces, systemHostname } from "../agent/system.ts";
import { COMMIT, SOURCE_HASH, VERSION } from "../version.ts";
import { apiListeners, PACKET_FLAGS, parseOnOff, UsageError, type ParsedArgs } from "./args.ts";
import { apiCommand, DEFAULT_SOCKET, traceViaApi } from "./api-client.ts";
import { COMMAND_FLAGS, DEFAULT_CONFIG_DIR, DEFAULT_LISTEN, DEFAULT_RUN_DIR, DEFAULT_STATE_DIR, HELP } from "./help.ts";
import { nearest } from "../validate/check.ts";
import { packetFromFlags } from "./explain-args.ts";
import { explainPacket } from "./explain.ts";
import { runAgent } from "./run.ts";
import { checkLive } from "./check-live.ts";
import { confirmChangesFlag, confirmCommand, reloadBody } from "./confirm.ts";
import { dropsCommand } from "./drops.ts";
import { diffCommand } from "./diff.ts";
import { datastoreFromFlags } from "./datastore-args.ts";
import { datastoreCommand, datastoreReader, DATASTORE_COMMANDS } from "./datastore.ts";
import { traceArgsFromFlags } from "./trace-args.ts";
import { runTrace } from "../trace/run.ts";
import { TRACE_QUERY } from "../trace/serve.ts";
import type { BootPolicy } from "../agent/types.ts";
import { planDocument } from "./plan.ts";
import { completionCommand, manCommand, schemaCommand } from "./schema.ts";
import type { Io } from "./io.ts";

export async function runCommand(args: ParsedArgs, io: Io): Promise<number> {
  const command = args.command ?? "";
  if (args.flags.version && !args.command) return version(io);
  if (command === "help") {
    // `hostwall help [COMMAND]`
    const topic = args.positional[0] ?? "";
    if (args.positional.length > 1 || !(topic in HELP)) throw new UsageError(`no help for "${args.positional.join(" ")}"${suggest(topic, Object.keys(COMMAND_FLAGS))}; see hostwall help`);
    io.out(HELP[topic]!);
    return 0;
  }
  if (!(command in HELP)) throw new UsageError(`unknown command "${command}"${suggest(command, Object.keys(COMMAND_FLAGS))}; see hostwall help`);
  if (args.flags.help || command === "") {
    io.out(HELP[command]!);
    return command === "" && !args.flags.help ? 2 : 0;
  }
  const takes = COMMAND_FLAGS[command]!;
  for (const flag of Object.keys(args.flags)) {
    if (takes.includes(flag)) continue;
    const why = PACKET_FLAGS.includes(flag) ? " (it describes a packet for hostwall explain)" : suggest(flag, takes, "--");
    throw new UsageError(`--${flag} is not a flag of hostwall ${command}${why}; see hostwall help ${command}`);
  }
  if (args.positional.length > 0 && command !== "check" && command !== "completion" && !DATASTORE_COMMANDS.includes(command)) throw new UsageError(`unexpected argument "${args.positional[0]}"; see hostwall help ${command}`);
  const configDir = str(args.flags["config-dir"]) ?? io.env.HOSTWALL_CONFIG_DIR ?? DEFAULT_CONFIG_DIR;
  const node = str(args.flags.node) ?? io.env.HOSTWALL_NODE ?? systemHostname();
  const nft = str(args.flags.nft) ?? "/usr/sbin/nft";
  switch (command) {
    case "version":
      return version(io);
    case "schema":
      return schemaCommand(str(args.flags.kind), io);
    case "completion":
      return completionCommand(args.positional, io);
    case "man":
      return manCommand(io);
    case "apply":
    case "create":
    case "delete":
    case "get":
      return datastoreCommand(command, args, io);
    case "check":
    case "compile":
    case "plan":
      if (args.flags.live) return checkLive({ paths: args.positional.length > 0 ? args.positional : [configDir], node, json: Boolean(args.flags.json) }, io);
      return offline(command, { ...datastoreReader(datastoreFromFlags(args.flags, io.env), args.positional.length > 0 ? args.positional : [configDir]), node, all: Boolean(args.flags["all-interfaces"]), json: Boolean(args.flags.json), strict: Boolean(args.flags.strict) }, io);
    case "explain": {
      // Flags first: a usage error costs no load of a large config dir.
      const packet = packetFromFlags(args.flags);
      const loaded = await load({ paths: [configDir], node, all: true }, io);
      return loaded ? explainPacket({ model: loaded.built.model, node, packet, json: Boolean(args.flags.json), addresses: loaded.addresses }, io) : 1;
    }
    case "trace": {
      // Flags first: a usage error installs nothing and loads nothing.
      const t = traceArgsFromFlags(args.flags);
      const api = str(args.flags.api);
      if (api !== undefined) {
        const query = Object.fromEntries(TRACE_QUERY.flatMap((k) => (typeof args.flags[k] === "string" ? [[k, args.flags[k] as string]] : [])));
        return traceViaApi({ api, query, durationMs: t.durationMs, json: Boolean(args.flags.json) }, io);
      }
      const loaded = await load({ paths: [configDir], node, all: true }, io);
      if (!loaded) return 1;
      const interfaceAddresses = Object.fromEntries([...loaded.addresses].map(([name, list]) => [name, list.map(formatCidr)]));
      return runTrace({ model: loaded.built.model, node, ...t, json: Boolean(args.flags.json), nftPath: nft, interfaces: [...listInterfaces()], interfaceAddresses, out: io.out, err: io.err });
    }
    case "run":
      return runAgent({ configDir, node, once: Boolean(args.flags.once), ...apiListeners(str(args.flags.listen) ?? DEFAULT_LISTEN, str(args.flags.socket), DEFAULT_SOCKET), nftPath: nft, nftGiven: args.flags.nft !== undefined, debug: Boolean(args.flags.debug), ...stateFlags(args.flags, io.env), datastore: datastoreFromFlags(args.flags, io.env), allowLockout: Boolean(args.flags["allow-lockout"]), confirmChangesMs: confirmChangesFlag(args.flags["confirm-changes"]), dropSummaries: parseOnOff(args.flags["drop-summaries"], "--drop-summaries") ?? true }, io);
    case "flush": {
      const result = await spawnRunner(nft).apply(renderFlush([{ family: "netdev", name: TABLE }, { family: "inet", name: TABLE }]));
      if (!result.ok) {
        io.err(`hostwall: flush failed: ${result.stderr.trim()}\n`);
        return 1;
      }
      io.err("hostwall: removed table netdev hostwall and table inet hostwall; nothing is enforced now\n");
      return 0;
    }
    case "status":
    case "reload":
      return apiCommand(command, { api: str(args.flags.api), json: Boolean(args.flags.json), ...(command === "reload" ? { body: reloadBody(args.flags, io.env) } : {}) }, io);
    case "diff":
      return diffCommand({ api: str(args.flags.api), configDir, node, nft, json: Boolean(args.flags.json) }, io);
    case "confirm":
      return confirmCommand({ api: str(args.flags.api), json: Boolean(args.flags.json) }, io);
    case "drops":
      return dropsCommand({ api: str(args.flags.api), json: Boolean(args.flags.json), top: str(args.flags.top) }, io);
  }
  return 2;
}

/** `--state-dir DIR|off` (env HOSTWALL_STATE_DIR) and `--boot-policy open|failsafe` of `run`. */
function stateFlags(flags: ParsedArgs["flags"], env: Io["env"]): { stateDir?: string; bootPolicy: BootPolicy; runDir: string } {
  const dir = str(flags["state-dir"]) ?? env.HOSTWALL_STATE_DIR ?? DEFAULT_STATE_DIR;
  if (dir !== "off" && !dir.startsWith("/")) throw new UsageError(`--state-dir needs an absolute path or off, got "${dir}"`);
  const policy = str(flags["boot-policy"]) ?? "open";
  if (policy !== "open" && policy !== "failsafe") throw new UsageError(`--boot-policy must be open or failsafe, got "${policy}"`);
  const runDir = env.HOSTWALL_RUN_DIR ?? DEFAULT_RUN_DIR;
  if (!runDir.startsWith("/")) throw new UsageError(`HOSTWALL_RUN_DIR needs an absolute path, got "${runDir}"`);
  return { stateDir: dir === "off" ? undefined : dir, bootPolicy: policy, runDir };
}

/** `; did you mean "x"?` for the nearest candidate, or nothing. */
function suggest(word: string, candidates: readonly string[], prefix = ""): string {
  const near = word ? nearest(word, candidates) : undefined;
  return near ? `; did you mean ${prefix}${near}?` : "";
}

function str(v: string | true | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function version(io: Io): number {
  io.out(`hostwall ${VERSION} (commit ${COMMIT}, source ${SOURCE_HASH}, bun ${Bun.version})\n`);
  const nft = probeBackend(io.env);
  io.out(`nft backend: ${nft.backend === "libnftables" ? "libnftables (in-process; run --nft PATH spawns that binary instead)" : `spawn (${nft.note})`}\n`);
  return 0;
}

function printDiagnostics(diagnostics: readonly Diagnostic[], io: Io): void {
  for (const d of diagnostics) io.err(formatDiagnostic(d) + "\n");
}

interface LoadOptions {
  /** The config dir, or the files and directories given to check. */
  paths: string[];
  node: string;
  /** Netdev chains for every endpoint, present or not. */
  all: boolean;
  /** check --json: diagnostics go to stdout as JSON, not to stderr as lines. */
  json?: boolean;
  /** check --strict: warnings fail too. */
  strict?: boolean;
  /** Reads the resources instead of `paths` (--datastore etcdv3; `paths` then names the endpoints). */
  read?(): Promise<{ files: SourceFile[]; diagnostics: Diagnostic[] }>;
}

/**
 * Reads and builds the config for this node, the one loading path of check, compile, plan and
 * explain: prints every diagnostic, and returns undefined (exit 1) when there are errors (or,
 * with `strict`, warnings).
 */
async function load(opts: LoadOptions, io: Io): Promise<{ built: BuildResult; addresses: Map<string, Cidr[]> } | undefined> {
  const read = opts.read ? await opts.read() : await readSources(opts.paths);
  const addresses = listAddresses();
  const built = buildRuleset({ files: read.files, readDiagnostics: read.diagnostics, node: opts.node, interfaces: opts.all ? undefined : listInterfaces(), addresses });
  const diagnostics = [...read.diagnostics, ...built.diagnostics];
  if (opts.json) io.out(JSON.stringify(diagnostics.map(diagnosticJson), null, 2) + "\n");
  else printDiagnostics(diagnostics, io);
  const where = opts.paths.join(", ");
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const warnings = diagnostics.length - errors;
  if (errors > 0 || (opts.strict && warnings > 0)) {
    const what = errors > 0 ? `${errors} error${errors === 1 ? "" : "s"}` : `${warnings} warning${warnings === 1 ? "" : "s"} (--strict)`;
    io.err(`hostwall: ${what} in ${where}; nothing would be applied\n`);
    return undefined;
  }
  return { built, addresses };
}

/** One diagnostic as check --json prints it: every field, absent ones as null. */
function diagnosticJson(d: Diagnostic) {
  return { file: d.file ?? null, line: d.line ?? null, column: d.column ?? null, severity: d.severity, code: d.code, message: d.message, resource: d.resource ?? null, path: d.path ?? null };
}

async function offline(command: "check" | "compile" | "plan", opts: LoadOptions, io: Io): Promise<number> {
  const loaded = await load({ ...opts, json: command === "check" && opts.json }, io);
  if (!loaded) return 1;
  const { built } = loaded;
  if (command === "compile") io.out(built.script!.text);
  else if (command === "plan") {
    const doc = planDocument(built.plan!, built.model, { interfaces: listInterfaces() });
    io.out(opts.json ? JSON.stringify(doc, null, 2) + "\n" : formatPlan(doc));
  } else {
    const total = Object.values(built.model.counts).reduce((a, b) => a + b, 0);
    const warnings = built.diagnostics.filter((d) => d.severity === "warning").length;
    io.err(`hostwall: ${opts.paths.join(", ")} is valid: ${total} resource${total === 1 ? "" : "s"}, ${built.plan!.endpoints.length} endpoint(s) on node ${opts.node}${warnings > 0 ? `, ${warnings} warning${warnings === 1 ? "" : "s"}` : ""}\n`);
  }
  return 0;
}

function formatPlan(doc: ReturnType<typeof planDocument>): string {
  const lines = [`node ${doc.node}`];
  if (doc.endpoints.length === 0) lines.push("  no HostEndpoint of this node");
  for (const ep of doc.endpoints) {
    lines.push(`HostEndpoint/${ep.name} on ${ep.interface}`);
    for (const [dir, stages] of Object.entries(ep.policies)) {
      for (const [stage, names] of Object.entries(stages as Record<string, string[]>)) if (names.length > 0) lines.push(`  ${dir} ${stage}: ${names.join(", ")}`);
    }
    lines.push(`  profiles: ${ep.profiles.length > 0 ? ep.profiles.join(", ") : "(none: local traffic not allowed by a policy is denied)"}`);
  }
  for (const n of doc.notApplied) lines.push(`${n.resource}: ${n.reason}`);
  return lines.join("\n") + "\n";
}
