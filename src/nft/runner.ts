/**
 * [I/O] The one place that runs nft. Everything else hands it a script.
 *
 * A script is one netlink batch, so one kernel transaction, whichever backend sends it: the
 * system's libnftables in-process (libnftables.ts: ~0.2 ms instead of ~16 ms per transaction,
 * reference/nftables.md §6), or a spawned `nft -f -` when the library cannot be loaded, when
 * `run --nft PATH` names a binary, or when HOSTWALL_NFT_BACKEND=spawn forces it (tests).
 */
import { createHash } from "node:crypto";
import type { RuleOrigin } from "./ir.ts";
import { STAMP_OBJECT } from "./names.ts";
import { openNftContext, OUTPUT_HANDLE, OUTPUT_JSON, OUTPUT_TERSE, type NftContext } from "./libnftables.ts";
import { addSetElements, type SetElements } from "./netlink.ts";

/** How scripts reach the kernel: in-process through libnftables, or a spawned nft. */
export type NftBackend = "libnftables" | "spawn";

export interface NftResult {
  /** nft exited 0. */
  ok: boolean;
  /** nft's stdout (listings). */
  stdout: string;
  /** nft's error text. */
  stderr: string;
}

export interface NftRunner {
  /** Which backend sends the scripts (absent on fakes). */
  readonly backend?: NftBackend;
  /** Why the library is not used, when the backend is spawn. */
  readonly backendNote?: string;
  /**
   * Takes any nft script, not only whole-table definitions: `add`/`flush`/`delete` commands, as
   * nft/delta.ts writes them. Without it (fakes that know only the renderer's grammar) every
   * apply is a full replace.
   */
  readonly deltas?: boolean;
  /** Runs a script as one transaction; with `check`, the kernel validates it and nothing changes. */
  apply(script: string, opts?: { check?: boolean }): Promise<NftResult>;
  /**
   * Lists every table with its chains, rules (handle, comment, counter) and set names, but
   * never set elements. Optional so that minimal fakes need not implement it: without it the
   * agent has no per-rule counters and no drift check.
   */
  list?(): Promise<NftListing>;
  /**
   * Every table in the ruleset with its comment (`family name` → comment, or undefined when it
   * has none), from one terse text listing: nft 1.0.6 leaves table comments out of its JSON.
   * Optional like list(); without it a restarted agent cannot see what is in force.
   */
  tables?(): Promise<{ ok: true; tables: Map<string, string | undefined> } | { ok: false; error: string }>;
  /**
   * The elements of one set, as canonical text (elementText). nft 1.0.6 fetches only that
   * set's elements for `list set` (measured: 0.01 s CPU beside a 1,000,000-element set in the
   * same table). `big`: a set so large that its listing goes to a spawned nft (seconds and
   * hundreds of MB that should not be the agent's). Optional: without it no content drift check.
   */
  listSet?(family: string, table: string, name: string, opts?: { big?: boolean }): Promise<{ ok: true; elements: string[] } | { ok: false; error: string }>;
  /**
   * Adds elements to existing hash sets in one transaction over netlink, without nft
   * (netlink.ts): the staged first load of big sets (agent/apply.ts). Optional: absent on fakes
   * and when `run --nft PATH` names the binary to use.
   */
  loadElements?(sets: readonly SetElements[]): Promise<{ ok: true; messages: number; bytes: number } | { ok: false; error: string }>;
  /** `nft -j list ruleset` with set elements, as nft prints it (nft/listing.ts parses it); optional. */
  listJson?(): Promise<NftResult>;
  /** `nft -j list set` of one set, as nft prints it (elements with their counters: nft/drops.ts parses it); optional. */
  listSetJson?(family: string, table: string, name: string): Promise<NftResult>;
}

/** A rule as listed: enough to map its counter to a policy rule and to notice drift. */
export interface ListedRule {
  /** Kernel handle; a rule replaced or re-created gets a new one. */
  handle: number;
  /** The rule's comment, as nft prints it. */
  comment?: string;
  /** Sum of the rule's anonymous counters; absent when it has none. */
  counter?: { packets: number; bytes: number };
  /**
   * A hash of what the rule does (its expressions as listed, counter values left out): `nft
   * replace rule` keeps the handle and can keep the comment, so this is what tells a rule
   * changed in place from the one applied. Absent when the listing has no expressions.
   */
  digest?: string;
}

export interface ListedChain {
  /** Chain name. */
  name: string;
  /** Kernel handle. */
  handle: number;
  /** Hook of a base chain. */
  hook?: string;
  /** Rules in chain order. */
  rules: ListedRule[];
}

export interface ListedTable {
  /** Table family. */
  family: string;
  /** Table name. */
  name: string;
  /** Kernel handle; a table deleted and re-created gets a new one. */
  handle: number;
  /** Named sets (names only, no elements). */
  sets: string[];
  /** Chains in listing order. */
  chains: ListedChain[];
}

/** What `list()` found, or why it could not list. */
export type NftListing = { ok: true; tables: ListedTable[] } | { ok: false; error: string };

/**
 * The listing command. `-t` (terse) leaves set elements out, and with `list ruleset` nft 1.0.6
 * then does not fetch them from the kernel at all: measured with a 1,000,000-element hash set,
 * `nft -j -t -a list ruleset` took 0.01 s and 6 MB, while `nft -j -t list table inet …` and
 * `nft -j list chain …` still fetched every element (19 s, 645 MB). So never list a table or a
 * chain in a loop; list the ruleset tersely once and pick hostwall's tables out of it.
 */
const LIST_ARGS = ["-j", "-t", "-a", "list", "ruleset"];

/** Runs the nft binary. `nftPath` lets tests and packagers point at a specific binary. */
export function spawnRunner(nftPath = "/usr/sbin/nft", timeoutMs = 120_000): NftRunner {
  const run = async (args: string[], stdin?: string): Promise<NftResult> => {
    let proc;
    try {
      proc = Bun.spawn([nftPath, ...args], { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" }, stdin: stdin === undefined ? "ignore" : "pipe", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL" });
    } catch (e) {
      return { ok: false, stdout: "", stderr: `cannot run ${nftPath}: ${(e as Error).message}` };
    }
    const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    if (stdin !== undefined && proc.stdin) {
      try {
        proc.stdin.write(stdin);
        await proc.stdin.end();
      } catch {
        // nft exited early (EPIPE); its stderr says why.
      }
    }
    const [stdout, stderr] = await output;
    const code = await proc.exited;
    const timedOut = proc.signalCode === "SIGKILL";
    return { ok: code === 0, stdout, stderr: timedOut ? `nft timed out after ${timeoutMs} ms\n${stderr}` : stderr };
  };
  return {
    backend: "spawn",
    deltas: true,
    apply: (script, opts) => run(opts?.check ? ["-c", "-f", "-"] : ["-f", "-"], script),
    list: async () => {
      const result = await run(LIST_ARGS);
      if (!result.ok) return { ok: false, error: result.stderr.trim() || "nft list failed without a message" };
      return parseListing(result.stdout);
    },
    // With set elements (slow for huge sets): hostwall diff against the kernel when no agent runs.
    listJson: () => run(["-j", "list", "ruleset"]),
    listSet: async (family, table, name) => parseSetListing(await run(["-j", "list", "set", family, table, name])),
    listSetJson: (family, table, name) => run(["-j", "list", "set", family, table, name]),
    tables: async () => {
      const result = await run(["-t", "list", "ruleset"]);
      if (!result.ok) return { ok: false, error: result.stderr.trim() || "nft list failed without a message" };
      return { ok: true, tables: parseTableComments(result.stdout) };
    },
  };
}

/**
 * Scripts above this size go to a spawned nft even with the library loaded: a libnftables call
 * is synchronous, and a million-element load (seconds) would stall the agent's API and timers
 * meanwhile, and leave nft's few hundred MB of peak memory in the agent's own heap.
 */
export const IN_PROCESS_MAX_BYTES = 1024 * 1024;

/** The runner over one libnftables context; big scripts go to `spawned` (above). */
export function libnftablesRunner(ctx: NftContext, spawned: NftRunner): NftRunner {
  // From a memfd nft names the file /proc/self/fd/N; the CLI (stdin) says /dev/stdin, which mapNftErrors reads.
  const cli = (r: NftResult): NftResult => ({ ...r, stderr: r.stderr.replace(/^\/proc\/self\/fd\/\d+:/gm, "/dev/stdin:") });
  return {
    backend: "libnftables",
    deltas: true,
    apply: async (script, opts) => (script.length > IN_PROCESS_MAX_BYTES ? spawned.apply(script, opts) : cli(ctx.runScript(script, opts))),
    list: async () => {
      const result = ctx.runCommand("list ruleset", OUTPUT_JSON | OUTPUT_TERSE | OUTPUT_HANDLE);
      if (!result.ok) return { ok: false, error: result.stderr.trim() || "nft list failed without a message" };
      return parseListing(result.stdout);
    },
    listSet: async (family, table, name, opts) => {
      if (opts?.big) return spawned.listSet!(family, table, name);
      // Names go into a command line: only the identifiers hostwall itself writes.
      if (![family, table, name].every((x) => /^[A-Za-z_][A-Za-z0-9_./-]{0,254}$/.test(x))) return { ok: false, error: "unexpected set name" };
      return parseSetListing(ctx.runCommand(`list set ${family} ${table} ${name}`, OUTPUT_JSON));
    },
    listSetJson: async (family, table, name) => {
      if (![family, table, name].every((x) => /^[A-Za-z_][A-Za-z0-9_./-]{0,254}$/.test(x))) return { ok: false, stdout: "", stderr: "unexpected set name" };
      return ctx.runCommand(`list set ${family} ${table} ${name}`, OUTPUT_JSON);
    },
    tables: async () => {
      const result = ctx.runCommand("list ruleset", OUTPUT_TERSE);
      if (!result.ok) return { ok: false, error: result.stderr.trim() || "nft list failed without a message" };
      return { ok: true, tables: parseTableComments(result.stdout) };
    },
  };
}

/**
 * The agent's runner: libnftables when it loads, else a spawned nft (and why, in backendNote).
 * `nftPath` given (`run --nft PATH`: a packager's or a test's binary) or
 * HOSTWALL_NFT_BACKEND=spawn means spawn; HOSTWALL_NFT_BACKEND=libnftables means the library
 * or an error (no silent fallback where the library was asked for).
 */
export function openRunner(opts: { nftPath?: string; env?: Record<string, string | undefined> }): NftRunner {
  // Big sets' first load over netlink, whichever backend sends the scripts; not when a binary was named (a packager's or a test's nft is what it asked for).
  const spawned: NftRunner = { ...spawnRunner(opts.nftPath), ...(opts.nftPath === undefined ? { loadElements: async (sets: readonly SetElements[]) => addSetElements(sets) } : {}) };
  const forced = opts.env?.HOSTWALL_NFT_BACKEND;
  if (forced !== undefined && forced !== "spawn" && forced !== "libnftables") throw new Error(`HOSTWALL_NFT_BACKEND must be spawn or libnftables, not ${JSON.stringify(forced.slice(0, 40))}`);
  const withNote = (note: string): NftRunner => ({ ...spawned, backendNote: note });
  if (forced === "spawn") return withNote("HOSTWALL_NFT_BACKEND=spawn");
  if (opts.nftPath !== undefined && forced !== "libnftables") return withNote(`--nft ${opts.nftPath}`);
  let ctx: NftContext;
  try {
    ctx = openNftContext();
  } catch (e) {
    if (forced === "libnftables") throw new Error(`HOSTWALL_NFT_BACKEND=libnftables, but the library cannot be used: ${(e as Error).message}`);
    return withNote(`libnftables.so.1 cannot be loaded: ${(e as Error).message}`);
  }
  return { ...libnftablesRunner(ctx, spawned), loadElements: spawned.loadElements };
}

/** What `hostwall run` would use here (for `hostwall version`): the backend, and why not the library when it is spawn. */
export function probeBackend(env: Record<string, string | undefined>): { backend: NftBackend; note?: string } {
  if (env.HOSTWALL_NFT_BACKEND === "spawn") return { backend: "spawn", note: "HOSTWALL_NFT_BACKEND=spawn" };
  try {
    openNftContext().close();
    return { backend: "libnftables" };
  } catch (e) {
    return { backend: "spawn", note: `libnftables.so.1 cannot be loaded: ${(e as Error).message}` };
  }
}

/**
 * `table inet x {` lines of a text listing, each with the `comment "…"` line right after it, if
 * any; a table's `hostwall-stamp` counter object's comment (written by deltas, nft/delta.ts)
 * replaces the table's own.
 */
export function parseTableComments(text: string): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  const lines = text.split("\n");
  let table: string | undefined;
  lines.forEach((line, i) => {
    const t = /^table (\S+) (\S+) \{/.exec(line);
    const next = /^\t{1,2}comment "([^"]*)"$/.exec(lines[i + 1] ?? "")?.[1];
    if (t) {
      table = `${t[1]} ${t[2]}`;
      out.set(table, /^\tcomment /.test(lines[i + 1] ?? "") ? next : undefined);
    } else if (table && line === `\tcounter ${STAMP_OBJECT} {` && /^\t\tcomment /.test(lines[i + 1] ?? "")) out.set(table, next);
  });
  return out;
}

interface JsonCounter {
  packets?: unknown;
  bytes?: unknown;
}

/** Parses `nft -j -t -a list ruleset` output into tables; anything unexpected is an error, not a guess. */
export function parseListing(json: string): NftListing {
  let items: unknown;
  try {
    items = (JSON.parse(json) as { nftables?: unknown }).nftables;
  } catch (e) {
    return { ok: false, error: `nft listing is not JSON: ${(e as Error).message}` };
  }
  if (!Array.isArray(items)) return { ok: false, error: "nft listing has no nftables array" };
  const tables = new Map<string, ListedTable>();
  const key = (family: unknown, name: unknown) => `${String(family)} ${String(name)}`;
  const chainOf = (family: unknown, table: unknown, name: unknown): ListedChain | undefined => tables.get(key(family, table))?.chains.find((c) => c.name === name);
  for (const item of items as Record<string, Record<string, unknown> | undefined>[]) {
    if (item.table) {
      const t = item.table;
      tables.set(key(t.family, t.name), { family: String(t.family), name: String(t.name), handle: Number(t.handle), sets: [], chains: [] });
    } else if (item.set) {
      tables.get(key(item.set.family, item.set.table))?.sets.push(String(item.set.name));
    } else if (item.chain) {
      const c = item.chain;
      tables.get(key(c.family, c.table))?.chains.push({ name: String(c.name), handle: Number(c.handle), hook: typeof c.hook === "string" ? c.hook : undefined, rules: [] });
    } else if (item.rule) {
      const r = item.rule;
      const chain = chainOf(r.family, r.table, r.chain);
      if (!chain) continue;
      let counter: ListedRule["counter"];
      const exprs = (Array.isArray(r.expr) ? r.expr : []) as Record<string, unknown>[];
      for (const e of exprs) {
        const c = e.counter as JsonCounter | string | undefined;
        if (c && typeof c === "object" && typeof c.packets === "number" && typeof c.bytes === "number") {
          counter = { packets: (counter?.packets ?? 0) + c.packets, bytes: (counter?.bytes ?? 0) + c.bytes };
        }
      }
      const digest = Array.isArray(r.expr) ? ruleDigest(exprs) : undefined;
      chain.rules.push({ handle: Number(r.handle), ...(typeof r.comment === "string" ? { comment: r.comment } : {}), ...(counter ? { counter } : {}), ...(digest ? { digest } : {}) });
    }
  }
  return { ok: true, tables: [...tables.values()] };
}

/** `nft -j list set …` output: the set's elements as canonical text. */
export function parseSetListing(result: NftResult): { ok: true; elements: string[] } | { ok: false; error: string } {
  if (!result.ok) return { ok: false, error: result.stderr.trim() || "nft list set failed without a message" };
  try {
    const items = (JSON.parse(result.stdout) as { nftables?: { set?: { elem?: unknown[] } }[] }).nftables ?? [];
    const set = items.find((i) => i.set)?.set;
    if (!set) return { ok: false, error: "nft listed no set" };
    return { ok: true, elements: (set.elem ?? []).map(elementText) };
  } catch (e) {
    return { ok: false, error: `nft set listing is not JSON: ${(e as Error).message}` };
  }
}

/**
 * One listed element as comparable text: `192.0.2.1`, `203.0.113.0/24`, `2001:db8::1`,
 * `192.0.2.1 . tcp . 80`, with IPv6 addresses written out in full (all eight groups, lower
 * case) so that two spellings of one address compare equal; the IR's elements go through the
 * same function (canonicalElement) before a comparison.
 */
export function elementText(e: unknown): string {
  if (typeof e === "string" || typeof e === "number") return canonicalElement(String(e));
  const o = (e ?? {}) as Record<string, any>;
  if (o.elem) return elementText(o.elem.val);
  if (o.prefix) return canonicalElement(`${o.prefix.addr}/${o.prefix.len}`);
  if (Array.isArray(o.concat)) return o.concat.map(elementText).join(" . ");
  if (Array.isArray(o.range)) return `${elementText(o.range[0])}-${elementText(o.range[1])}`;
  return JSON.stringify(e);
}

/** An element's text with IPv6 addresses in full (see elementText). */
export function canonicalElement(text: string): string {
  return text
    .split(" . ")
    .map((part) => {
      const [addr, len] = part.split("/");
      if (!addr?.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(addr)) return part.toLowerCase();
      const [head, tail] = addr.includes("::") ? addr.split("::") : [addr, undefined];
      const groups = (s: string | undefined) => (s ? s.split(":") : []);
      let parts = groups(head);
      if (tail !== undefined) {
        const rest = groups(tail);
        parts = [...parts, ...Array(Math.max(0, 8 - parts.length - rest.length)).fill("0"), ...rest];
      }
      const full = parts.map((g) => g.toLowerCase().padStart(4, "0")).join(":");
      return len === undefined ? full : `${full}/${len}`;
    })
    .join(" . ");
}

/** What a rule does, without its counters' values: 16 hex digits of SHA-256 over its expressions. */
export function ruleDigest(exprs: readonly Record<string, unknown>[]): string {
  const text = JSON.stringify(exprs.map((e) => ("counter" in e ? { counter: null } : e)));
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** An nft error located in the script, mapped back to the rule that produced the line. */
export interface NftError {
  /** nft's message. */
  message: string;
  /** Script line. */
  line?: number;
  /** The policy rule that produced that line, if any. */
  origin?: RuleOrigin;
}

/** Parses nft's `/dev/stdin:12:5-20: Error: …` lines and maps them through the renderer's line map. */
export function mapNftErrors(stderr: string, origins: ReadonlyMap<number, RuleOrigin>): NftError[] {
  const errors: NftError[] = [];
  for (const lineText of stderr.split("\n")) {
    const m = /^(?:\/dev\/stdin|-):(\d+):[\d-]+: Error: (.*)$/.exec(lineText);
    if (m) errors.push({ message: m[2]!, line: Number(m[1]), origin: origins.get(Number(m[1])) });
    else if (/^Error: /.test(lineText)) errors.push({ message: lineText.slice(7) });
  }
  if (errors.length === 0) errors.push({ message: stderr.trim().split("\n")[0] || "nft failed without a message" });
  return errors;
}
