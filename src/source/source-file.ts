/** A configuration file as read from disk. */
export interface SourceFile {
  /** Path as shown to users (absolute, or relative to the config dir's parent). */
  readonly path: string;
  /** File content (for a big file read as bytes, decoded on first access: see BytesFile). */
  readonly text: string;
  /**
   * The file's bytes, when it was read as bytes and its text may not be decoded yet (a big
   * file, read-dir.ts). Valid until `handOver`: read them, never keep them.
   */
  readonly bytes?: Uint8Array;
}

/**
 * A big file's content as read, decoded only when something asks for its text (issue #13: a
 * one-line edit of a 19 MB network set must not cost a 19 MB string, ~60-150 ms of fresh
 * memory and a collection, when the parse cache can read the edit from the bytes). The bytes
 * are the file's own buffer until `handOver` gives them away (parse-cache.ts: back to the
 * reader, or to the text that holds them), after which the text comes from `source`, the same
 * characters assembled another way (pieces of earlier versions' texts, strings or ASCII bytes:
 * textChunks gives them unjoined, for a hash). A decoded text can be dropped again
 * (forgetText) once it can be made from its source. Buffers are never shared: `bytes` is the
 * only reference the file gives out, and after handOver the file never touches it again.
 */
export class BytesFile implements SourceFile {
  #bytes: Uint8Array | undefined;
  #text: string | undefined;
  #source: TextSource | undefined;
  #hash: string | undefined;

  constructor(
    readonly path: string,
    bytes: Uint8Array,
  ) {
    this.#bytes = bytes;
  }

  get bytes(): Uint8Array | undefined {
    return this.#bytes;
  }

  /** Whether the text was decoded or assembled yet (tests: an edit read from bytes does neither). */
  get decoded(): boolean {
    return this.#text !== undefined;
  }

  get text(): string {
    // Same decoder as everywhere (invalid UTF-8 → U+FFFD), so equal bytes mean equal text.
    // The bytes stay the file's until handed over.
    this.#text ??= this.#source ? joinPieces(this.#source()) : decode(this.#bytes!);
    return this.#text;
  }

  /** The text in pieces, without joining them into one string when it was assembled (config-digest.ts hashes them). */
  chunks(): readonly TextPiece[] {
    return this.#text === undefined && this.#source ? this.#source() : [this.text];
  }

  /** Drops the decoded text when it can be made again from its pieces (parse-cache.ts forgetTexts); the next ask makes it. */
  forgetText(): void {
    if (this.#source) this.#text = undefined;
  }

  /** A 64-bit hash of the content as hex: Bun.hash of the bytes, which equals Bun.hash of the text for valid UTF-8. */
  contentHash(): string {
    this.#hash ??= Bun.hash(this.#bytes ?? this.text).toString(16);
    return this.#hash;
  }

  /**
   * Gives the bytes away (the caller keeps them as the previous version; this file never
   * reads them again): from now on the text is the one decoded already, or `source()`, which
   * must give exactly what decoding the bytes gives, or else the text decoded now. Undefined
   * when the bytes are gone already.
   */
  handOver(source?: TextSource): Uint8Array | undefined {
    const bytes = this.#bytes;
    if (!bytes) return undefined;
    this.contentHash();
    if (source) this.#source = source;
    else this.#text ??= decode(bytes);
    this.#bytes = undefined;
    return bytes;
  }
}

/** A piece of a text: a string, or ASCII bytes (one character each). */
export type TextPiece = string | Uint8Array;

/** A text as pieces whose concatenation it is (an edit's text, assembled from earlier ones; a big ASCII file's bytes). */
export type TextSource = () => readonly TextPiece[];

/** The text the pieces spell, as one string. */
export function joinPieces(pieces: readonly TextPiece[]): string {
  const text = (p: TextPiece) => (typeof p === "string" ? p : Buffer.from(p.buffer, p.byteOffset, p.length).toString("latin1"));
  return pieces.length === 1 ? text(pieces[0]!) : pieces.map(text).join("");
}

/** A file's text in pieces (one, unless it was assembled from an earlier version's and never joined). */
export function textChunks(file: SourceFile): readonly TextPiece[] {
  return file instanceof BytesFile ? file.chunks() : [file.text];
}

/** Config file path → a hash of its content, without decoding a big file's bytes (agent/change.ts). */
export function contentHash(file: SourceFile): string {
  return file instanceof BytesFile ? file.contentHash() : Bun.hash(file.text).toString(16);
}

/** What every read of a config file gives for these bytes (read-dir.ts, readFile(path, "utf8")): invalid UTF-8 → U+FFFD. */
export function decode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8");
}

/**
 * Buffers big files are read into, kept between reads: fresh memory costs ~12 µs per 4 KiB
 * page on a VM (a 19 MB file: ~60 ms), every time the config dir is read. A buffer is owned by
 * one party at a time: taken by a read, owned by the BytesFile read into it, handed over by
 * the parse cache once the file is loaded: given back here, or kept for good by the text made
 * of it (a big ASCII file's text is its bytes: fast-yaml.ts), which then never gives it back.
 * Only buffers made here come back (a WeakSet of them), each once; at most MAX_SPARES wait.
 * A read that found no spare leaves its size for prepareSpareBuffer, which the agent calls
 * while idle: the next version of that file is then read into memory already mapped too (the
 * first edit after start, whose first buffer the text keeps).
 */
const spares: Uint8Array[] = [];
const ours = new WeakSet<ArrayBufferLike>();
const MAX_SPARES = 2;
export const SPARE_MIN = 1 << 20;
/** The biggest size a read asked for and found no spare for since the last prepareSpareBuffer. */
let missed = 0;

const room = (size: number) => size + 1 + (size >> 4);

/** A buffer of more than `size` bytes that no one else holds (a spare, or a new one with room to grow). */
export function takeBuffer(size: number): Buffer {
  let best = -1;
  for (let i = 0; i < spares.length; i++) if (spares[i]!.length > size && (best < 0 || spares[i]!.length < spares[best]!.length)) best = i;
  if (best >= 0) {
    const [b] = spares.splice(best, 1);
    return Buffer.from(b!.buffer, 0, b!.length);
  }
  if (size > missed) missed = size;
  const buf = Buffer.allocUnsafeSlow(room(size));
  ours.add(buf.buffer);
  return buf;
}

/** Makes (and faults in) a spare for the biggest read that found none, if one is still missing; true if it made one. */
export function prepareSpareBuffer(): boolean {
  const size = missed;
  missed = 0;
  if (size === 0 || spares.some((s) => s.length > size)) return false;
  const buf = Buffer.allocUnsafeSlow(room(size)).fill(0);
  ours.add(buf.buffer);
  recycleBytes(buf);
  return true;
}

/** Gives back a buffer (or a view of one) made by takeBuffer, which its holder will not touch again. */
export function recycleBytes(bytes: Uint8Array | undefined): void {
  if (!bytes || !ours.has(bytes.buffer)) return;
  if (spares.some((s) => s.buffer === bytes.buffer)) return;
  const whole = new Uint8Array(bytes.buffer, 0, bytes.buffer.byteLength);
  spares.push(whole);
  spares.sort((a, b) => b.length - a.length);
  spares.length = Math.min(spares.length, MAX_SPARES);
}

/** The spare buffers waiting (tests: never one that someone holds). */
export function spareBuffers(): readonly Uint8Array[] {
  return [...spares];
}
