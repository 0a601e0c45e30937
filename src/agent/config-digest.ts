/**
 * What a ruleset is compiled from, as one digest (issue 13: restart with the same files at 0.1×
 * a bare `nft -f`). The last good record keeps the digest of the config its ruleset was built
 * from; a restarted agent whose digest is the recorded one, and whose kernel holds the recorded
 * tables (nft/delta-adopt.ts heldAsRecorded), is ready without compiling a million entries
 * first (agent.ts; the build follows in the background).
 *
 * Everything the compilation depends on goes in: the code that compiles (version, commit and
 * source hash of the binary: a new hostwall may compile the same files differently), the node,
 * the options that change the ruleset, the interfaces and addresses the agent sees (all of
 * them, not only the endpoints': cheaper to over-match than to reason about which matter),
 * and every file's path and bytes, in the order read, with the reader's diagnostics. A source
 * run ("unbuilt") has no identity for its code: it never takes this path unless told one.
 */
import type { Cidr } from "../model/cidr.ts";
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import { textChunks, type SourceFile } from "../source/source-file.ts";
import { COMMIT, SOURCE_HASH, VERSION } from "../version.ts";
import { addressKey } from "./apply.ts";

/** The identity of the running code, or undefined when it has none (a source run). */
export function buildIdentity(): string | undefined {
  return SOURCE_HASH === "unbuilt" ? undefined : `${VERSION} ${COMMIT} ${SOURCE_HASH}`;
}

export interface ConfigInputs {
  build: string;
  node: string;
  dropSummaries: boolean;
  /** Netdev chains for absent interfaces too (then the interfaces do not matter). */
  absent: boolean;
  interfaces: ReadonlySet<string>;
  addresses: Map<string, Cidr[]> | undefined;
  files: readonly SourceFile[];
  diagnostics: readonly Diagnostic[];
}

/** SHA-256 (hex) of the inputs, each length-prefixed so no two inputs run together. */
export function configDigest(c: ConfigInputs): string {
  // Bun's hasher: 13 ms for a 19 MB file here, node:crypto's 83 ms.
  const h = new Bun.CryptoHasher("sha256");
  const put = (s: string) => h.update(`${s.length}:`).update(s);
  put("hostwall config digest 1");
  put(c.build);
  put(c.node);
  put(c.dropSummaries ? "drop-summaries" : "");
  put(c.absent ? "absent" : [...c.interfaces].sort().join(","));
  put(addressKey(c.addresses));
  put(JSON.stringify(c.diagnostics.map((d) => [d.code, d.severity, d.message, d.file, d.line, d.column])));
  put(String(c.files.length));
  for (const f of c.files) {
    put(f.path);
    // A big file's text may be pieces of earlier versions (parse-cache.ts): hashed as they are, not joined first.
    const chunks = textChunks(f);
    h.update(`${chunks.reduce((n, x) => n + x.length, 0)}:`);
    for (const x of chunks) h.update(x);
  }
  return h.digest("hex");
}
