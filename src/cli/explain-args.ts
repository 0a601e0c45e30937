/**
 * The flags of `hostwall explain` → the evaluator's Packet. Pure: every mistake is a
 * UsageError that names the flag, found before the config dir is read.
 *
 * Nothing is guessed that could change the answer: the protocol is given (or follows from
 * --icmp-type), the family follows from the addresses, and a port or ICMP field that is not
 * given is absent from the packet, which the evaluator treats as a value no rule names (a
 * rule listing ports or an ICMP type does not match it, one with notPorts or notICMP does).
 * That is what a real packet with an ephemeral source port looks like, so --sport is rarely
 * needed.
 */
import type { ConntrackState, Packet } from "../explain/explanation.ts";
import { formatCidr, type Family } from "../model/cidr.ts";
import { parseAddress } from "../model/cidr-parse.ts";
import { UsageError } from "./args.ts";

type Flags = Readonly<Record<string, string | true>>;

/** Protocol names --proto takes (any case), as nft and Calico spell them. */
const PROTOCOLS: Readonly<Record<string, number>> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, sctp: 132, udplite: 136 };
/** Protocols with ports: Calico's rule ports apply to these only. */
const PORT_PROTOCOLS = new Set([6, 17, 132, 136]);
const PORT_PROTOCOL_NAMES = "tcp, udp, sctp or udplite";
const STATES: readonly ConntrackState[] = ["new", "established", "related", "invalid"];

/** ICMP type names, as nft spells them, per family; numbers work too. */
const ICMP_TYPES: Record<Family, Readonly<Record<string, number>>> = {
  4: {
    "echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5, "echo-request": 8, "router-advertisement": 9,
    "router-solicitation": 10, "time-exceeded": 11, "parameter-problem": 12, "timestamp-request": 13, "timestamp-reply": 14,
  },
  6: {
    "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4, "echo-request": 128, "echo-reply": 129,
    "mld-listener-query": 130, "mld-listener-report": 131, "mld-listener-done": 132, "nd-router-solicit": 133, "nd-router-advert": 134,
    "nd-neighbor-solicit": 135, "nd-neighbor-advert": 136, "nd-redirect": 137,
  },
};

/** The protocol's name for messages and output: `tcp`, or the number when it has no name here. */
export function protocolName(protocol: number): string {
  return Object.keys(PROTOCOLS).find((k) => PROTOCOLS[k] === protocol) ?? String(protocol);
}

/** Builds the packet the explain flags describe; throws UsageError naming the flag at fault. */
export function packetFromFlags(flags: Flags): Packet {
  const value = (name: string): string | undefined => (typeof flags[name] === "string" ? (flags[name] as string) : undefined);

  const inInterface = interfaceFlag("in", value("in"));
  const outInterface = interfaceFlag("out", value("out"));
  if (!inInterface && !outInterface) {
    throw new UsageError("say where the packet goes: --in IFACE (to a host process), --out IFACE (from a host process), or both (forwarded); see hostwall explain --help");
  }
  const direction = inInterface && outInterface ? "forward" : inInterface ? "ingress" : "egress";

  const src = addressFlag("src", value("src"));
  const dst = addressFlag("dst", value("dst"));
  if (src.family !== dst.family) throw new UsageError(`--src ${src.text} is IPv${src.family} but --dst ${dst.text} is IPv${dst.family}; a packet has one IP version`);
  const family = src.family;

  const protocol = protocolFlag(value, family);
  const hasPorts = PORT_PROTOCOLS.has(protocol);
  const portFlag = (name: "sport" | "dport"): number | undefined => {
    const text = value(name);
    if (text === undefined) return undefined;
    if (!hasPorts) throw new UsageError(`--${name} needs --proto ${PORT_PROTOCOL_NAMES}, not ${protocolName(protocol)}`);
    return portNumber(`--${name}`, text);
  };
  const srcPort = portFlag("sport");
  const dstPort = portFlag("dport");

  const icmp = icmpFlags(value, family, protocol);
  const conntrack = stateFlag(value("state"));
  const dnatText = value("dnat");
  const dnat = dnatText === undefined ? undefined : dnatFlag(dnatText, family, protocol);

  // Absent fields stay absent (not `undefined`), so --json prints only what the packet has.
  return {
    direction,
    ...(inInterface ? { inInterface } : {}),
    ...(outInterface ? { outInterface } : {}),
    family,
    src: src.text,
    dst: dst.text,
    protocol,
    ...(srcPort !== undefined ? { srcPort } : {}),
    ...(dstPort !== undefined ? { dstPort } : {}),
    ...(icmp.type !== undefined ? { icmpType: icmp.type } : {}),
    ...(icmp.code !== undefined ? { icmpCode: icmp.code } : {}),
    conntrack,
    ...(dnat ? { dnat } : {}),
  };
}

/** Linux's rules for a device name (dev_valid_name): 1-15 bytes, no `/`, `:` or whitespace, not `.` or `..`. */
function interfaceFlag(name: "in" | "out", text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (text === "*") throw new UsageError(`--${name} needs an interface name; "*" is not one (the "*" HostEndpoint governs interfaces no other endpoint claims: name one of them)`);
  if (text === "" || text === "." || text === ".." || Buffer.byteLength(text) > 15 || /[/:\s]/.test(text)) {
    throw new UsageError(`--${name} needs an interface name (1-15 bytes, no '/', ':' or spaces), got ${JSON.stringify(text)}`);
  }
  return text;
}

function addressFlag(name: "src" | "dst", text: string | undefined): { text: string; family: Family } {
  if (text === undefined) throw new UsageError(`--${name} is needed: the packet's ${name === "src" ? "source" : "destination"} address`);
  const r = parseAddress(text);
  if (!r.ok) throw new UsageError(`--${name} needs an IP address, got ${JSON.stringify(text)}: ${r.message}`);
  return { text: formatCidr(r.cidr), family: r.cidr.family };
}

function protocolFlag(value: (name: string) => string | undefined, family: Family): number {
  const text = value("proto");
  const icmpName = family === 4 ? "icmp" : "icmpv6";
  if (text === undefined) {
    // ICMP fields say which protocol is meant; ports do not (tcp? udp?), so they need --proto.
    if (value("icmp-type") !== undefined || value("icmp-code") !== undefined) return PROTOCOLS[icmpName]!;
    const port = ["dport", "sport"].find((f) => value(f) !== undefined) ?? (splitDnat(value("dnat") ?? "").port !== undefined ? "dnat" : undefined);
    if (port) throw new UsageError(`--${port}${port === "dnat" ? " with a port" : ""} needs --proto ${PORT_PROTOCOL_NAMES}`);
    throw new UsageError(`--proto is needed: tcp, udp, icmp, icmpv6, sctp, udplite or a protocol number 1-255`);
  }
  const lower = text.toLowerCase();
  if (Object.hasOwn(PROTOCOLS, lower)) {
    const number = PROTOCOLS[lower]!;
    // ICMP by name is the family's own ICMP, as in Calico rules; by number it is taken as given.
    if ((number === 1 || number === 58) && lower !== icmpName) {
      throw new UsageError(`--proto ${lower} does not go with IPv${family} addresses; use --proto ${icmpName}`);
    }
    return number;
  }
  if (/^\d{1,3}$/.test(text) && Number(text) >= 1 && Number(text) <= 255) return Number(text);
  throw new UsageError(`--proto needs tcp, udp, icmp, icmpv6, sctp, udplite or a protocol number 1-255, got ${JSON.stringify(text)}`);
}

function portNumber(flag: string, text: string): number {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new UsageError(`${flag} needs a port 1-65535, got ${text === "" ? '""' : text}`);
  return n;
}

function icmpFlags(value: (name: string) => string | undefined, family: Family, protocol: number): { type?: number; code?: number } {
  const typeText = value("icmp-type");
  const codeText = value("icmp-code");
  if (typeText === undefined && codeText === undefined) return {};
  const icmpName = family === 4 ? "icmp" : "icmpv6";
  if (protocol !== PROTOCOLS[icmpName]) {
    throw new UsageError(`--${typeText !== undefined ? "icmp-type" : "icmp-code"} needs --proto ${icmpName} (IPv${family} addresses), not ${protocolName(protocol)}`);
  }
  if (typeText === undefined) throw new UsageError("--icmp-code needs --icmp-type");
  const names = ICMP_TYPES[family];
  const type = Object.hasOwn(names, typeText.toLowerCase()) ? names[typeText.toLowerCase()]! : byte(typeText);
  if (type === undefined) {
    throw new UsageError(`--icmp-type needs an ${icmpName} type 0-255 or one of ${Object.keys(names).join(", ")}; got ${JSON.stringify(typeText)}`);
  }
  // A real ICMP packet always carries a code: without --icmp-code it is 0, what ping sends.
  if (codeText === undefined) return { type, code: 0 };
  const code = byte(codeText);
  if (code === undefined) throw new UsageError(`--icmp-code needs a code 0-255, got ${JSON.stringify(codeText)}`);
  return { type, code };
}

function byte(text: string): number | undefined {
  return /^\d{1,3}$/.test(text) && Number(text) <= 255 ? Number(text) : undefined;
}

function stateFlag(text: string | undefined): ConntrackState {
  if (text === undefined) return "new";
  const state = STATES.find((s) => s === text.toLowerCase());
  if (!state) throw new UsageError(`--state needs ${STATES.slice(0, -1).join(", ")} or ${STATES.at(-1)}, got ${JSON.stringify(text)}`);
  return state;
}

/** `ADDR`, `V4:PORT`, `[V6]` or `[V6]:PORT` (an IPv6 address with a port needs the brackets). */
function dnatFlag(text: string, family: Family, protocol: number): NonNullable<Packet["dnat"]> {
  const { address: addrText, port: portText } = splitDnat(text);
  const r = parseAddress(addrText);
  if (!r.ok) throw new UsageError(`--dnat needs ADDR, V4:PORT or [V6]:PORT, got ${JSON.stringify(text)}: ${r.message}`);
  if (r.cidr.family !== family) throw new UsageError(`--dnat ${text} is IPv${r.cidr.family} but the packet is IPv${family}`);
  const dst = formatCidr(r.cidr);
  if (portText === undefined) return { dst };
  if (!PORT_PROTOCOLS.has(protocol)) throw new UsageError(`--dnat with a port needs --proto ${PORT_PROTOCOL_NAMES}, not ${protocolName(protocol)}`);
  return { dst, dstPort: portNumber("--dnat", portText) };
}

/** `[V6]:PORT` and `V4:PORT` (one colon) have a port; anything else is an address alone. */
function splitDnat(text: string): { address: string; port?: string } {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) return { address: bracketed[1]!, port: bracketed[2] };
  const v4 = /^([^:]*):([^:]*)$/.exec(text);
  return v4 ? { address: v4[1]!, port: v4[2] } : { address: text };
}
