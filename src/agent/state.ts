/**
 * [I/O] The agent's state dir (`/var/lib/hostwall`, `--state-dir`): the last good ruleset, kept
 * across restarts and reboots so that a host whose config is rejected at boot is not left open
 * (DESIGN.md §5, issue 18 finding 4).
 *
 * Whoever can write this file chooses the ruleset applied at boot, so it is handled like the
 * config dir: the directory must be a real directory (not a symlink) owned by root (or the
 * agent's uid) and not writable by group or others; it is created 0700 when missing. The file
 * is written to a temporary name created exclusively (O_EXCL|O_NOFOLLOW, mode 0600), synced,
 * and renamed over the old one, so a crash leaves the old record or the new one, never half of
 * one. It is read through one descriptor opened with O_NOFOLLOW and checked with fstat.
 */
import { constants } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { netnsInode } from "./lock.ts";
import { ensurePrivateDir, lstatOrUndefined, untrusted } from "./private-dir.ts";
import { checkedAdoptionRecord, type AdoptionRecord } from "../nft/delta-adopt.ts";
import type { ExpectedTable } from "./shape.ts";
import type { ScriptPiece } from "../nft/render.ts";
import type { EndpointPolicies } from "../resolve/resolve.ts";

/** The last ruleset the agent applied from a valid config. */
export interface LastGood {
  /** Record format. */
  format: 1;
  /** Node it was compiled for. */
  node: string;
  /** Generation it was applied as. */
  generation: number;
  /** Content hash of the ruleset (nft/ruleset-hash.ts), as in the stamp on its tables. */
  hash: string;
  /** When it was applied. */
  at: string;
  /** The script as applied (stamped). */
  script: string;
  /** Its structure, the drift check's reference until the next listing. */
  expected: ExpectedTable[];
  /** Resources in force by kind. */
  resources: Record<string, number>;
  /** Interfaces whose netdev chains it holds. */
  interfaces: string[];
  /** What a restarted agent needs to adopt the tables instead of reloading them (nft/delta-adopt.ts); absent in older records. */
  engine?: AdoptionRecord;
  /** The endpoints it enforces, so /status tells the truth about a ruleset restored at start; absent in older records. */
  endpoints?: SavedEndpoint[];
  /** The digest of the config it was compiled from (config-digest.ts): a restart with the same one is ready without compiling it first; absent when unknown. */
  config?: string;
}

/** A record whose script is decoded when asked (StateStore.loadHead). */
export type RecordHead = Omit<LastGood, "script"> & { script(): string };

/** An endpoint of a saved ruleset, as /status shows it (whether it is active is decided when asked). */
export interface SavedEndpoint {
  name: string;
  interface: string;
  policies: EndpointPolicies;
  profiles: string[];
}

export interface StateStore {
  /** Where the record lives, for messages. */
  readonly path: string;
  /** The saved record; undefined when there is none; throws with a clear message when it cannot be trusted or read. */
  load(): Promise<LastGood | undefined>;
  /**
   * The record without decoding its script (the bulk of it: 14 MB at a million elements), which
   * `script()` decodes and checks when asked (and throws then if it is not hostwall's alone):
   * for a start that adopts the tables on the record alone and may never need it. Optional.
   */
  loadHead?(): Promise<RecordHead | undefined>;
  /** Saves atomically; throws with a clear message. */
  save(record: LastGood): Promise<void>;
  /**
   * The same, with the script given in pieces (render.ts scriptChunks) and written piece by
   * piece: a million-element script is never held whole, as text or as JSON, and the agent's
   * loop runs between pieces (the next edit need not wait for the record of the last one).
   */
  saveStreamed?(record: Omit<LastGood, "script">, script: Iterable<ScriptPiece>): Promise<void>;
}

/** One record per network namespace (an agent per namespace, lock.ts): `last-good-netns-<inode>.json`. */
const fileName = () => `last-good-netns-${netnsInode()}.json`;
/** The top-level lines the renderer writes (render.ts): create, delete and define hostwall's tables. */
const OWN_TOP_LEVEL = /^(?:table (?:netdev|inet) hostwall \{\}|delete table (?:netdev|inet) hostwall|table (?:netdev|inet) hostwall \{(?: comment "hostwall generation \d+ hash [0-9a-f]{16}";)?|\})$/;

export function stateStore(dir: string): StateStore {
  const FILE = fileName();
  const path = join(dir, FILE);
  const checkDir = (create: boolean): boolean => {
    if (!create && !lstatOrUndefined(dir)) return false;
    ensurePrivateDir(dir, { what: "the state dir", mode: 0o700 });
    return true;
  };
  return {
    path,
    async load() {
      const bytes = await readRecord();
      return bytes && parseRecord(bytes.toString("utf8"), path);
    },
    async loadHead() {
      const bytes = await readRecord();
      return bytes && parseHead(bytes, path);
    },
    save(record) {
      return writeRecord([JSON.stringify(record)]);
    },
    saveStreamed(record, script) {
      return writeRecord(recordPieces(record, script));
    },
  };
  async function readRecord(): Promise<Buffer | undefined> {
    if (!checkDir(false)) return undefined;
    let fh;
    try {
      fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new Error(`cannot open ${path}: ${(e as Error).message}`);
    }
    try {
      const problem = untrusted(await fh.stat(), "file");
      if (problem) throw new Error(`${path} ${problem}`);
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }
  async function writeRecord(pieces: Iterable<string | Uint8Array>): Promise<void> {
    checkDir(true);
    const tmp = join(dir, `.${FILE}.${process.pid}.tmp`);
    await unlink(tmp).catch(() => undefined);
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      // writeFile on a handle writes all of it from the current position (write() may write part).
      for (const piece of pieces) await fh.writeFile(piece);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  }
}

/** The JSON text of `record` with `script` as its last member, in pieces (each piece of the script escaped on its own: JSON escapes character by character); bytes stay bytes. */
export function* recordPieces(record: Omit<LastGood, "script">, script: Iterable<ScriptPiece>): Generator<string | Uint8Array> {
  const head = JSON.stringify({ ...record, script: "" });
  if (!head.endsWith(',"script":""}')) throw new Error("internal error: the record has a member named script");
  yield head.slice(0, -2);
  for (const piece of script) yield typeof piece === "string" ? JSON.stringify(piece).slice(1, -1) : jsonEscaped(piece);
  yield '"}';
}

/** The two-character escapes JSON.stringify writes (\b \t \n \f \r \" \\), by byte. */
const SHORT_ESCAPE = new Map<number, number>([[0x08, 0x62], [0x09, 0x74], [0x0a, 0x6e], [0x0c, 0x66], [0x0d, 0x72], [0x22, 0x22], [0x5c, 0x5c]]);

/** ASCII bytes as the inside of a JSON string, as JSON.stringify writes their text, as new bytes (the same when nothing needs escaping). */
export function jsonEscaped(bytes: Uint8Array): Uint8Array {
  let extra = 0;
  for (const b of bytes) {
    if (b > 0x7f) throw new Error("internal error: a script piece of bytes that are not ASCII");
    if (SHORT_ESCAPE.has(b)) extra += 1;
    else if (b < 0x20) extra += 5;
  }
  if (extra === 0) return bytes;
  const out = new Uint8Array(bytes.length + extra);
  let n = 0;
  for (const b of bytes) {
    const short = SHORT_ESCAPE.get(b);
    if (short !== undefined) {
      out[n++] = 0x5c;
      out[n++] = short;
    } else if (b < 0x20) {
      for (const c of `\\u${b.toString(16).padStart(4, "0")}`) out[n++] = c.charCodeAt(0);
    } else out[n++] = b;
  }
  return out;
}

const SCRIPT_MEMBER = Buffer.from(',"script":"');

/**
 * The record with its script left as bytes: the script is its last member (recordPieces, and
 * JSON.stringify of a LastGood), and no string inside the record can hold an unescaped `"`, so
 * the last `,"script":"` starts it. A record written otherwise is parsed whole.
 */
function parseHead(bytes: Buffer, path: string): RecordHead {
  const at = bytes.lastIndexOf(SCRIPT_MEMBER);
  const tail = bytes.length >= 2 ? bytes.toString("latin1", bytes.length - 2) : "";
  if (at < 0 || tail !== '"}') {
    const whole = parseRecord(bytes.toString("utf8"), path);
    return { ...whole, script: () => whole.script };
  }
  const r = checkRecord(parseJson(bytes.toString("utf8", 0, at) + ',"script":""}', path), path) as LastGood;
  let script: string | undefined;
  return {
    ...r,
    script: () => (script ??= checkScript(parseJson(`"${bytes.toString("utf8", at + SCRIPT_MEMBER.length, bytes.length - 2)}"`, path) as string, path)),
  };
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

function parseRecord(text: string, path: string): LastGood {
  const r = checkRecord(parseJson(text, path), path);
  checkScript(r.script!, path);
  return r as LastGood;
}

/** The script may touch hostwall's two tables and nothing else, whoever wrote the file. */
function checkScript(script: string, path: string): string {
  if (typeof script !== "string") throw new Error(`${path} is not a hostwall last-good record (format 1)`);
  const foreign = script.split("\n").find((l) => l !== "" && !/^\s/.test(l) && !OWN_TOP_LEVEL.test(l));
  if (foreign !== undefined) throw new Error(`${path} holds a script that touches more than hostwall's tables (${JSON.stringify(foreign.slice(0, 60))})`);
  return script;
}

/** Every member but the script's contents checked; malformed optional parts dropped. */
function checkRecord(value: unknown, path: string): Partial<LastGood> {
  const r = value as Partial<LastGood>;
  const ok =
    typeof r === "object" &&
    r !== null &&
    r.format === 1 &&
    typeof r.node === "string" &&
    Number.isSafeInteger(r.generation) &&
    typeof r.hash === "string" &&
    /^[0-9a-f]{16}$/.test(r.hash) &&
    typeof r.at === "string" &&
    typeof r.script === "string" &&
    Array.isArray(r.expected) &&
    typeof r.resources === "object" &&
    Array.isArray(r.interfaces);
  if (!ok) throw new Error(`${path} is not a hostwall last-good record (format 1)`);
  // A malformed adoption part only costs the adoption (a full replace at start), not the record.
  if (r.engine !== undefined && !checkedAdoptionRecord(r.engine)) delete r.engine;
  if (r.config !== undefined && !(typeof r.config === "string" && /^[0-9a-f]{64}$/.test(r.config))) delete r.config;
  // Likewise the endpoints: malformed, /status shows none (as before they were saved).
  if (r.endpoints !== undefined && !(Array.isArray(r.endpoints) && r.endpoints.length <= 100_000 && r.endpoints.every(isSavedEndpoint))) delete r.endpoints;
  return r;
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");
const hasStages = (v: unknown, stages: readonly string[]): boolean =>
  typeof v === "object" && v !== null && stages.every((k) => isStrings((v as Record<string, unknown>)[k]));

function isSavedEndpoint(v: unknown): v is SavedEndpoint {
  if (typeof v !== "object" || v === null) return false;
  const e = v as Partial<SavedEndpoint>;
  const p = e.policies as Partial<EndpointPolicies> | undefined;
  return (
    typeof e.name === "string" &&
    typeof e.interface === "string" &&
    isStrings(e.profiles) &&
    typeof p === "object" &&
    p !== null &&
    hasStages(p.ingress, ["untracked", "preDNAT", "normal", "forward"]) &&
    hasStages(p.egress, ["untracked", "normal", "forward"])
  );
}

/**
 * One record write at a time, newest wins: a write asked for while another runs waits for it,
 * and replaces any write still waiting (only the newest record matters; an older one must never
 * land over a newer one). A burst of edits of a big set writes the record at most twice.
 */
export class RecordWriter {
  private next?: () => Promise<void>;
  private running?: Promise<void>;

  /** Queues `job` (which reports its own failures); resolves once it, or a newer job, has run. */
  write(job: () => Promise<void>): Promise<void> {
    this.next = job;
    this.running ??= this.drain();
    return this.running;
  }

  /** Whether a write runs or waits. */
  get writing(): boolean {
    return this.running !== undefined;
  }

  /** Resolves when no write runs or waits (a clean shutdown). */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async drain(): Promise<void> {
    try {
      while (this.next) {
        const job = this.next;
        this.next = undefined;
        await job();
      }
    } finally {
      this.running = undefined;
    }
  }
}
