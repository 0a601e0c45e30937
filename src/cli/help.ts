/**
 * Usage texts, and the flags each command takes: every flag a command takes is in its help,
 * and any other flag is a usage error (exit 2) with the nearest flag it does take.
 */
import { DEFAULT_SOCKET, DEFAULT_TCP_API } from "./api-client.ts";
import { DATASTORE_FLAGS, PACKET_FLAGS, TRACE_FLAGS } from "./args.ts";
import { DATASTORE_COMMAND_FLAGS, DATASTORE_FLAG_HELP, DATASTORE_HELP } from "./datastore-help.ts";

export const DEFAULT_CONFIG_DIR = "/etc/hostwall";
export const DEFAULT_STATE_DIR = "/var/lib/hostwall";
/** The lock of the one agent per network namespace (env HOSTWALL_RUN_DIR). */
export const DEFAULT_RUN_DIR = "/run/hostwall";
export const DEFAULT_LISTEN = "127.0.0.1:9099";

const CONFIG = ["config-dir", "node"];
/** Flags per command (`help` is every command's). */
export const COMMAND_FLAGS: Record<string, readonly string[]> = {
  run: [...CONFIG, "once", "listen", "socket", "nft", "debug", "state-dir", "boot-policy", ...DATASTORE_FLAGS, "allow-lockout", "confirm-changes", "drop-summaries"],
  check: [...CONFIG, "json", "strict", ...DATASTORE_FLAGS, "live"],
  compile: [...CONFIG, "all-interfaces", ...DATASTORE_FLAGS],
  plan: [...CONFIG, "json", ...DATASTORE_FLAGS],
  ...DATASTORE_COMMAND_FLAGS,
  explain: [...CONFIG, "json", ...PACKET_FLAGS],
  trace: [...CONFIG, "json", "nft", "api", "src", "dst", "proto", "sport", "dport", ...TRACE_FLAGS],
  status: ["api", "json"],
  reload: ["api", "json", "confirm", "allow-lockout"],
  diff: [...CONFIG, "api", "json", "nft"],
  confirm: ["api", "json"],
  drops: ["api", "json", "top"],
  flush: ["nft"],
  schema: ["kind"],
  completion: [],
  man: [],
  version: [],
  help: [],
};

export const HELP: Record<string, string> = {
  ...DATASTORE_HELP,
  "": `hostwall — Calico v3 host-endpoint policy from files, enforced with nftables

usage: hostwall <command> [flags]

commands:
  run [--once]       load, apply, watch the config dir and serve the status API
  check              validate the config dir; exit 1 if anything is wrong
  compile            print the nft script this node would apply (no root needed)
  plan [--json]      which policies and profiles apply to each HostEndpoint of this node
  explain [--json]   which stage, tier, policy and rule decide one packet, and the verdict
  trace [--json]     why real packets were dropped or let through, traced in the kernel
  status [--json]    ask the running agent what is in force
  reload             ask the running agent to re-read the config dir now (--confirm DUR: provisional)
  diff [--json]      what applying the config dir now would change against what is in force
  confirm            keep the provisional ruleset of reload --confirm (else it is reverted)
  drops [--json]     what each Deny rule dropped and from where (on unless run --drop-summaries=off)
  flush              remove hostwall's nft tables (stops enforcement)
  apply, create      write resources to etcd (--datastore etcdv3), as calicoctl does
  delete, get        delete or print resources in etcd
  schema [--kind K]  print the JSON Schema of the config files, for editors
  completion SHELL   print a completion script for bash, zsh or fish
  man                print this manual as a man page (roff)
  version, -V        print version and build info
  help [COMMAND], -h usage of hostwall or of one command

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
  --debug         log debug lines too
  --allow-lockout apply configs that would deny a live session (an established TCP connection
                  to a local port, not a failsafe one): by default such an apply is refused
                  with a LOCKOUT_RISK diagnostic naming the session and the rule
  --confirm-changes DUR  every watched change (and SIGHUP, hostwall reload) is provisional:
                  reverted after DUR (Ns, Nm) unless hostwall confirm arrives
  --drop-summaries on|off  on (the default): every Deny rule keeps the addresses it denied in
                  a bounded kernel set (256 per rule and family, 10 minutes after the last
                  drop), with packet and byte counts: GET /drops lists the top sources per
                  rule (each Log rule keeps the addresses it logged the same way). A dropped
                  packet costs 1.06-1.14 x a plain drop (bench/RESULTS.md); off: plain
                  drops and logs, no sets
${DATASTORE_FLAG_HELP}  With --datastore etcdv3 the agent lists etcd, watches it and applies every change;
  while etcd is unreachable the ruleset in force stays (/status datastore.connected false).
`,
  check: `usage: hostwall check [--config-dir DIR | PATH...] [--node NAME] [--json] [--strict]

Validates the config dir (or the files and directories given) as the agent would, for this
node; prints one diagnostic per line (file:line:col: severity[CODE]: message).
  PATH...    files and directories to check instead of the config dir
  --json     the diagnostics as a JSON array on stdout: {file, line, column, severity,
             code, message, resource, path}
  --strict   warnings fail too (a config that applies but does less than it says)
  --live     also the lockout check of an apply, without applying: the live inbound TCP
             sessions (/proc/net/tcp, tcp6) and SSH_CONNECTION evaluated against the config;
             exit 1 when it would deny one (named with the rule), as an apply would refuse
${DATASTORE_FLAG_HELP}Exit 0 valid, 1 invalid (or, with --strict, any warning), 2 on a usage error.
`,
  compile: "usage: hostwall compile [--config-dir DIR] [--node NAME] [--all-interfaces]\n\nPrints the nft script for this node. netdev chains are rendered for interfaces that exist now; --all-interfaces renders them for every endpoint, as `hostwall run` does on kernels that attach them to interfaces appearing later (6.16+).\n" + DATASTORE_FLAG_HELP,
  plan: `usage: hostwall plan [--json] [--config-dir DIR] [--node NAME] [--datastore etcdv3 ...]\n\nFor each HostEndpoint of this node: the policies per direction and stage in evaluation order, and its profiles.\n${DATASTORE_FLAG_HELP}`,
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
  trace: `usage: hostwall trace [--config-dir DIR] [--node NAME] [--json] [--nft PATH] [--api ADDR]
         [--src ADDR[/N]] [--dst ADDR[/N]] [--proto P] [--sport N] [--dport N]
         [--iface IFACE] [--direction in|out] [--count N] [--duration D]

Traces real packets through the kernel (root): installs its own table hostwall-trace
(netdev ingress and raw prerouting/output, before hostwall's chains) that marks matching
packets for nft's trace, at most 50 a second, and prints for each packet the rules that
acted on it in policy words (stage, endpoint interface, tier, policy or profile, rule index,
file:line:col), the verdict and where it was taken. Each packet is also asked of the
evaluator (hostwall explain); when the two differ it prints MISMATCH with both answers.
The table is removed at the end, on Ctrl-C and SIGTERM (after a SIGKILL, hostwall run or
the next trace removes it). One trace at a time per network namespace.
  --src, --dst      an address or a prefix the packet's source / destination is in
  --proto P         tcp, udp, icmp, icmpv6, sctp, udplite or a number 1-255
  --sport, --dport  a port (with --proto tcp, udp, sctp or udplite)
  --iface IFACE     only packets arriving on or leaving by IFACE
  --direction D     in: arriving (and forwarded) packets only; out: leaving ones only
  --count N         stop after N packets (default 10)
  --duration D      stop after D: N seconds, Ns, Nms or Nm (default 30s, at most 1h)
  --json            one JSON object per packet (NDJSON): {id, packet, summary, verdict,
                    decidedBy, steps, governed, predicted, mismatch}
  --nft PATH        the nft binary, an absolute path (default /usr/sbin/nft)
  --api ADDR        ask the running agent instead (GET /trace; no root needed, only access
                    to ADDR): unix:/PATH, HOST:PORT, [V6]:PORT, http://HOST:PORT, or auto for
                    ${DEFAULT_SOCKET}, then ${DEFAULT_TCP_API}; the agent traces with the
                    config of its last successful apply (--config-dir, --node are unused)
Exit 0 traced (or nothing matched, which it says), 1 a MISMATCH, an invalid config, or the
trace could not run (another trace holds the table: its pid is named), 2 on a usage error
(or, with --api, when the agent cannot be reached).
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
  reload: `usage: hostwall reload [--json] [--api ADDR] [--confirm DUR] [--allow-lockout]

Asks the running agent to re-read the config dir and apply it now (POST /reload). Only the
control socket takes it (default ${DEFAULT_SOCKET}, root only); a TCP listener answers
403. --api as for status. The agent first checks the live sessions (and this command's SSH
session, SSH_CONNECTION): a config that would deny one is refused (LOCKOUT_RISK).
  --confirm DUR    provisional: unless hostwall confirm arrives within DUR (N, Ns, Nm; 1 s to
                   1 h), the agent restores the ruleset in force before by itself (a lockout
                   is then a warning: the window is the way back)
  --allow-lockout  apply even when it would deny a live session
Exit 0 applied or unchanged, 1 rejected (the ruleset in force stays; diagnostics printed),
2 the agent unreachable or refusing, or a usage error.
`,
  diff: `usage: hostwall diff [--json] [--api ADDR] [--config-dir DIR] [--node NAME] [--nft PATH]

What applying the config dir now would change against what is in force: per endpoint the
policies added, removed or moved in each stage and direction, per policy the rules added,
removed or moved, set elements added and removed (counts and the first few), failsafes, and
a one-line summary. The running agent is asked (POST /diff on ${DEFAULT_SOCKET}, or --api;
it reads its own config dir); when none runs, the config dir is compared with the kernel's
hostwall tables (nft -j list ruleset).
  --json   the document: {changed, summary, against, endpoints, policies, failsafes, sets, notes}
Exit 0 nothing would change, 1 something would, 2 an invalid config, the agent refusing or
unreachable (--api), the kernel's tables unreadable, or a usage error.
`,
  confirm: `usage: hostwall confirm [--json] [--api ADDR]

Keeps the provisional ruleset of hostwall reload --confirm (or run --confirm-changes): POST
/confirm on the control socket (default ${DEFAULT_SOCKET}). --api as for status.
Exit 0 confirmed, 1 nothing was pending (a window that expired was reverted: it says so),
2 the agent unreachable or refusing, or a usage error.
`,
  drops: `usage: hostwall drops [--json] [--api ADDR] [--top N]

Asks the running agent (GET /drops, control socket ${DEFAULT_SOCKET} by default; --api as for
status) what each Deny rule dropped while its addresses were kept (10 minutes after their last
drop): packets, bytes and addresses per rule, and the top N sources (default 10); then the
same per Log rule for the packets it logged. Drop summaries are on unless the agent runs with --drop-summaries=off (restart it without that
flag to turn them on).
Exit 0 summaries printed, 1 the agent runs without drop summaries, 2 the agent unreachable or
refusing, or a usage error.
`,
  flush: "usage: hostwall flush [--nft PATH]\n\nDeletes table netdev hostwall and table inet hostwall, and nothing else.\n",
  version: "usage: hostwall version (or -V)\n\nPrints the version, the commit it was built from and the Bun runtime.\n",
  schema: `usage: hostwall schema [--kind KIND]

Prints the JSON Schema (draft-07) of hostwall's config files, generated from the validator's
field table: every kind, field, closed set of values and range it checks. Editors that speak
yaml-language-server use it with a first line such as
  # yaml-language-server: $schema=/usr/local/share/hostwall/hostwall.schema.json
(the repo's copy is schema/hostwall.schema.json). Addresses, selectors and rules that span
fields are checked by hostwall check only, which stays the authority.
  --kind KIND   the schema of one resource of that kind (HostEndpoint, GlobalNetworkPolicy, ...)
Exit 0, 2 on a usage error (an unknown kind).
`,
  completion: `usage: hostwall completion bash|zsh|fish

Prints a completion script for the shell: commands, their flags and known flag values.
  bash   source <(hostwall completion bash), or save it as
         /usr/share/bash-completion/completions/hostwall
  zsh    save it as _hostwall in a directory of $fpath
  fish   save it as ~/.config/fish/completions/hostwall.fish
`,
  man: "usage: hostwall man\n\nPrints this manual (every command's help) as a man page, e.g.\nhostwall man > /usr/local/share/man/man1/hostwall.1 (the repo's copy is man/hostwall.1).\n",
  help: "usage: hostwall help [COMMAND] (or -h, or COMMAND --help)\n",
};

