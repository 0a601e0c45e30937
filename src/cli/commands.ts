/**
 * The commands of DESIGN.md §3. Each is a plain async function that returns an exit code;
 * only src/main.ts calls process.exit. Output goes to the given streams so tests can call
 * commands directly.
 */
import { formatDiagnostic, hasErrors, type Diagnostic } from "../config/diagnostics.ts";
import { readConfigDir } from "../config/read-dir.ts";
import { buildRuleset, type BuildResult } from "../pipeline.ts";
import type { Cidr } from "../model/cidr.ts";
import { renderFlush } from "../nft/render.ts";
import { spawnRunner } from "../nft/runner.ts";
import { TABLE } from "../nft/names.ts";
import { listAddresses, listInterfaces, systemHostname } from "../agent/system.ts";
import { COMMIT, VERSION } from "../version.ts";
import { apiListeners, PACKET_FLAGS, UsageError, type ParsedArgs } from "./args.ts";
import { apiCommand, DEFAULT_SOCKET, DEFAULT_TCP_API } from "./api-client.ts";
import { packetFromFlags } from "./explain-args.ts";
import { explainPacket } from "./explain.ts";
import { runAgent } from "./run.ts";
import type { BootPolicy } from "../agent/agent.ts";
import { planDocument } from "./plan.ts";

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}

const DEFAULT_CONFIG_DIR = "/etc/hostwall";
const DEFAULT_STATE_DIR = "/var/lib/hostwall";
/** The lock of the one agent per network namespace (env HOSTWALL_RUN_DIR). */
const DEFAULT_RUN_DIR = "/run/hostwall";
const DEFAULT_LISTEN = "127.0.0.1:9099";

const HELP: Record<string, string> = {
  "": `hostwall — Calico v3 host-endpoint policy from files, enforced with nftables

usage: hostwall <command> [flags]

commands:
  run [--once]       load, apply, watch the config dir and serve the status API
  check              validate the config dir; exit 1 if anything is wrong
  compile            print the nft script this node would apply (no root needed)
  plan [--json]      which policies and profiles apply to each HostEndpoint of this node
  explain [--json]   which stage, tier, policy and rule decide one packet, and the verdict
  status [--json]    ask the running agent what is in force
  reload             ask the running agent to re-read the config dir now
  flush              remove hostwall's nft tables (stops enforcement)
  version            print version and build info

common flags:
  --config-dir DIR   config directory (env HOSTWALL_CONFIG_DIR, default ${DEFAULT_CONFIG_DIR})
  --node NAME        this node's name (env HOSTWALL_NODE, default the hostname)
  --help             help for a command
`,
  run: `usage: hostwall run [--once] [--config-dir DIR] [--node NAME] [--listen ADDR] [--socket PATH]
                    [--nft PATH] [--state-dir DIR|off] [--boot-policy open|failsafe]

Loads the config dir, applies it atomically, then watches the dir and re-applies on change;
SIGHUP reloads; SIGTERM/SIGINT stop the agent and leave the rules in force.
  --once          apply once and exit: 0 applied, 1 invalid config, 2 apply failed
  --listen ADDR   the HTTP status API: HOST:PORT or [V6]:PORT (default ${DEFAULT_LISTEN}) is
                  read-only (GET /, /status, /metrics, ...; POST answers 403) and checks Host;
                  an address other than loopback is warned about (reachable from the network).
                  unix:/PATH serves everything on that socket, which is then the control
                  socket (and --socket is not allowed); off: no HTTP listener
  --socket PATH   the control socket, the only place that takes POST /reload (hostwall
                  reload): mode 0600, in a directory owned by root that nobody else may write
                  (created 0750 if missing); default ${DEFAULT_SOCKET}; off: none.
                  --listen off --socket off: no API at all
  --state-dir DIR the last good ruleset, applied at start when the config is rejected and
                  no hostwall ruleset is in the kernel (env HOSTWALL_STATE_DIR, default
                  ${DEFAULT_STATE_DIR}; off: keep none)
  --boot-policy P what a rejected config at start enforces when there is neither: open
                  (default: nothing) or failsafe (failsafe ports only, the rest denied)
  --nft PATH      the nft binary, an absolute path (default /usr/sbin/nft)
`,
  check: "usage: hostwall check [--config-dir DIR] [--node NAME]\n\nValidates every file; prints one diagnostic per line (file:line:col: severity[CODE]: message). Exit 0 valid, 1 invalid.\n",
  compile: "usage: hostwall compile [--config-dir DIR] [--node NAME] [--all-interfaces]\n\nPrints the nft script for this node. netdev chains are rendered for interfaces that exist now; --all-interfaces renders them for every endpoint, as `hostwall run` does on kernels that attach them to interfaces appearing later (6.16+).\n",
  plan: "usage: hostwall plan [--json] [--config-dir DIR] [--node NAME]\n\nFor each HostEndpoint of this node: the policies per direction and stage in evaluation order, and its profiles.\n",
  explain: `usage: hostwall explain [--config-dir DIR] [--node NAME] [--json]
         (--in IFACE | --out IFACE | --in IFACE --out IFACE) --src ADDR --dst ADDR
         --proto P [--sport N] [--dport N] [--icmp-type T] [--icmp-code C]
         [--state new|established|related|invalid] [--dnat ADDR[:PORT]]

Loads the config dir as check does, then prints the verdict this node gives one packet and
every stage it passes (untracked, preDNAT, normal, forward) with the tier, policy and rule,
failsafe, profile, end of tier or default that decided, and the Log rules it hits. It
explains the config dir, not the ruleset in force (hostwall status says what is in force).
  --in IFACE        arrives on IFACE for a host process (ingress)
  --out IFACE       a host process sends it out of IFACE (egress); --in and --out: forwarded
  --src, --dst      addresses (plain, no /prefix); their IP version is the packet's
  --proto P         tcp, udp, icmp, icmpv6, sctp, udplite or a number 1-255 (icmp or
                    icmpv6 is implied by --icmp-type)
  --sport, --dport  ports (tcp, udp, sctp, udplite); one not given is a port no rule names
  --icmp-type T     a number 0-255 or a name (echo-request, nd-neighbor-solicit, ...)
  --icmp-code C     0-255, with --icmp-type (default 0, as ping's echo-request)
  --state S         conntrack state in the tracked stages (default new: a first packet)
  --dnat A[:PORT]   the destination after DNAT ([V6]:PORT for IPv6): pre-DNAT policies see
                    --dst and --dport, later stages this
  --json            the explanation as JSON: {node, packet, verdict, denyAction, decidedBy,
                    steps, logs, notrack}
Exit 0 whatever the verdict, 1 if the config is invalid, 2 on a usage error.
`,
  status: `usage: hostwall status [--json] [--api ADDR]

Asks the running agent what is in force (GET /status). Without --api: the control socket
${DEFAULT_SOCKET}, or ${DEFAULT_TCP_API} when the socket cannot be reached (no agent
there, or not root); when neither answers it says what it tried.
  --api ADDR   HOST:PORT, [V6]:PORT, http://HOST:PORT or unix:/PATH (the forms of --listen)
  --json       the /status document as JSON
Exit 0 healthy (a ruleset in force and the last attempt ok), 1 the last attempt failed or
nothing is in force, 2 the agent unreachable or refusing, or a usage error.
`,
  reload: `usage: hostwall reload [--json] [--api ADDR]

Asks the running agent to re-read the config dir and apply it now (POST /reload). Only the
control socket takes it (default ${DEFAULT_SOCKET}, root only); a TCP listener answers
403. --api as for status.
Exit 0 applied or unchanged, 1 rejected (the ruleset in force stays; diagnostics printed),
2 the agent unreachable or refusing, or a usage error.
`,
  flush: "usage: hostwall flush [--nft PATH]\n\nDeletes table netdev hostwall and table inet hostwall, and nothing else.\n",
  version: "usage: hostwall version\n",
};

export async function runCommand(args: ParsedArgs, io: Io): Promise<number> {
  const command = args.command ?? "";
  if (args.flags.version && !args.command) return version(io);
  if (!(command in HELP)) throw new UsageError(`unknown command "${command}"; see hostwall --help`);
  if (args.flags.help || command === "") {
    io.out(HELP[command]!);
    return command === "" && !args.flags.help ? 2 : 0;
  }
  if (args.positional.length > 0) throw new UsageError(`unexpected argument "${args.positional[0]}"`);
  const foreign = Object.keys(args.flags).find((f) => (command === "explain" ? !EXPLAIN_FLAGS.has(f) : PACKET_FLAGS.includes(f)));
  if (foreign) throw new UsageError(`--${foreign} is not a flag of hostwall ${command}${command === "explain" ? "" : " (it describes a packet for hostwall explain)"}`);
  const configDir = str(args.flags["config-dir"]) ?? io.env.HOSTWALL_CONFIG_DIR ?? DEFAULT_CONFIG_DIR;
  const node = str(args.flags.node) ?? io.env.HOSTWALL_NODE ?? systemHostname();
  const nft = str(args.flags.nft) ?? "/usr/sbin/nft";
  switch (command) {
    case "version":
      return version(io);
    case "check":
    case "compile":
    case "plan":
      return offline(command, { configDir, node, all: Boolean(args.flags["all-interfaces"]), json: Boolean(args.flags.json) }, io);
    case "explain": {
      // Flags first: a usage error costs no load of a large config dir.
      const packet = packetFromFlags(args.flags);
      const loaded = await load({ configDir, node, all: true }, io);
      return loaded ? explainPacket({ model: loaded.built.model, node, packet, json: Boolean(args.flags.json), addresses: loaded.addresses }, io) : 1;
    }
    case "run":
      return runAgent({ configDir, node, once: Boolean(args.flags.once), ...apiListeners(str(args.flags.listen) ?? DEFAULT_LISTEN, str(args.flags.socket), DEFAULT_SOCKET), nftPath: nft, debug: Boolean(args.flags.debug), ...stateFlags(args.flags, io.env) }, io);
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
      return apiCommand(command, { api: str(args.flags.api), json: Boolean(args.flags.json) }, io);
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

const EXPLAIN_FLAGS = new Set(["config-dir", "node", "json", "help", ...PACKET_FLAGS]);

function str(v: string | true | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function version(io: Io): number {
  io.out(`hostwall ${VERSION} (commit ${COMMIT}, bun ${Bun.version})\n`);
  return 0;
}

function printDiagnostics(diagnostics: readonly Diagnostic[], io: Io): void {
  for (const d of diagnostics) io.err(formatDiagnostic(d) + "\n");
}

/**
 * Reads and builds the config dir for this node, the one loading path of check, compile, plan
 * and explain: prints every diagnostic, and returns undefined (exit 1) when there are errors.
 */
async function load(opts: { configDir: string; node: string; all: boolean }, io: Io): Promise<{ built: BuildResult; addresses: Map<string, Cidr[]> } | undefined> {
  const read = await readConfigDir(opts.configDir);
  const addresses = listAddresses();
  const built = buildRuleset({ files: read.files, node: opts.node, interfaces: opts.all ? undefined : listInterfaces(), addresses });
  const diagnostics = [...read.diagnostics, ...built.diagnostics];
  printDiagnostics(diagnostics, io);
  if (hasErrors(diagnostics)) {
    const n = diagnostics.filter((d) => d.severity === "error").length;
    io.err(`hostwall: ${n} error${n === 1 ? "" : "s"} in ${opts.configDir}; nothing would be applied\n`);
    return undefined;
  }
  return { built, addresses };
}

async function offline(command: "check" | "compile" | "plan", opts: { configDir: string; node: string; all: boolean; json: boolean }, io: Io): Promise<number> {
  const loaded = await load(opts, io);
  if (!loaded) return 1;
  const { built } = loaded;
  if (command === "compile") io.out(built.script!.text);
  else if (command === "plan") {
    const doc = planDocument(built.plan!, built.model, { interfaces: listInterfaces() });
    io.out(opts.json ? JSON.stringify(doc, null, 2) + "\n" : formatPlan(doc));
  } else {
    const total = Object.values(built.model.counts).reduce((a, b) => a + b, 0);
    io.err(`hostwall: ${opts.configDir} is valid: ${total} resource${total === 1 ? "" : "s"}, ${built.plan!.endpoints.length} endpoint(s) on node ${opts.node}\n`);
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
