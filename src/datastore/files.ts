/**
 * The datastore read as config files: one per key of a kind the agent reads, its path the
 * key and its text the value in API form (values.ts) as one line of JSON. JSON is YAML, so
 * the parser reads it with key:line:column positions and the pipeline after it is the one of
 * the config dir. A value that is not a JSON object is handed over as it is: the parser then
 * says where it breaks, under its key.
 */
import type { SourceFile } from "../source/source-file.ts";
import type { KeyValue } from "./client.ts";
import { parseKey } from "./keys.ts";
import { apiObject } from "./values.ts";

export function keysAsFiles(kvs: Iterable<KeyValue>): SourceFile[] {
  const files: SourceFile[] = [];
  for (const kv of [...kvs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const file = keyAsFile(kv);
    if (file) files.push(file);
  }
  return files;
}

/** One key as a file, or undefined for a key of a kind the agent does not read. */
export function keyAsFile(kv: KeyValue): SourceFile | undefined {
  if (!parseKey(kv.key)?.info.enforced) return undefined;
  const obj = apiObject(kv.value, kv.modRevision);
  return { path: kv.key, text: obj ? JSON.stringify(obj) : kv.value };
}
