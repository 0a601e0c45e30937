/**
 * `hostwall apply|create|delete|get` against the etcd datastore, as calicoctl does them:
 *
 *   hostwall apply  -f FILE|DIR|-          create or replace; one transaction for all
 *   hostwall create -f FILE|DIR|-          create only: an existing resource is an error
 *   hostwall delete -f FILE|DIR|- | KIND NAME [-n NS]
 *   hostwall get    KIND [NAME] [-n NS | -A] [-o yaml|json]
 *
 * calicoctl's short options (-f, -o, -n, -A) are positional words to hostwall's parser, so
 * they are read here. The datastore is etcdv3 whatever HOSTWALL_DATASTORE says (the config
 * dir is edited with an editor, not with these). Writing is datastore-write.ts; this file
 * reads the command line, `get`, and the reader that `plan --datastore etcdv3` uses.
 */
import { stringify } from "yaml";
import { EtcdClient } from "../datastore/client.ts";
import { keysAsFiles } from "../datastore/files.ts";
import { kindByName, KINDS, RESOURCE_PREFIX, type KindInfo } from "../datastore/keys.ts";
import { API_VERSION } from "../datastore/values.ts";
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import type { SourceFile } from "../source/source-file.ts";
import { readSources } from "../source/sources.ts";
import { UsageError, type ParsedArgs } from "./args.ts";
import { datastoreFromFlags, type DatastoreChoice } from "./datastore-args.ts";
import { nameOf, readKind } from "./datastore-read.ts";
import { deleteResources, writeResources } from "./datastore-write.ts";
import type { Io } from "./io.ts";

export const DATASTORE_COMMANDS: readonly string[] = ["apply", "create", "delete", "get"];

/** calicoctl's short options, read from the positional words. */
interface Words {
  file?: string;
  output?: string;
  namespace?: string;
  allNamespaces: boolean;
  rest: string[];
}

function readWords(command: string, words: readonly string[]): Words {
  const out: Words = { allNamespaces: false, rest: [] };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const value = (what: string) => {
      const v = words[++i];
      if (v === undefined) throw new UsageError(`${w} needs ${what}; see hostwall help ${command}`);
      return v;
    };
    if (w === "-f") out.file = value("a file, a directory or - (stdin)");
    else if (w === "-o") out.output = value("yaml or json");
    else if (w === "-n") out.namespace = value("a namespace");
    else if (w === "-A") out.allNamespaces = true;
    else if (w.startsWith("-") && w !== "-") throw new UsageError(`unknown option ${w} of hostwall ${command}; see hostwall help ${command}`);
    else out.rest.push(w);
  }
  return out;
}

export async function datastoreCommand(command: string, args: ParsedArgs, io: Io): Promise<number> {
  // Always etcd, whatever HOSTWALL_DATASTORE says: the config dir is edited as files.
  const choice = datastoreFromFlags({ ...args.flags, datastore: "etcdv3" }, io.env);
  if (choice.type !== "etcdv3") return 2;
  const w = readWords(command, args.positional);
  const client = new EtcdClient(choice.config);
  if (command === "get") {
    if (w.file !== undefined) throw new UsageError("hostwall get takes KIND [NAME], not -f");
    return get(client, w, io);
  }
  if (command === "delete" && w.file === undefined) {
    const [kind, name, ...more] = w.rest;
    if (!kind || !name || more.length) throw new UsageError("hostwall delete needs -f FILE|DIR|- or KIND NAME");
    return deleteResources({ client, io, named: { info: kindOrThrow(kind), name, namespace: w.namespace } });
  }
  if (w.file === undefined) throw new UsageError(`hostwall ${command} needs -f FILE|DIR|- (stdin)`);
  if (w.rest.length) throw new UsageError(`unexpected argument "${w.rest[0]}"; see hostwall help ${command}`);
  const read = w.file === "-" ? { files: [{ path: "<stdin>", text: await Bun.stdin.text() }], diagnostics: [] } : await readSources([w.file]);
  if (command === "delete") return deleteResources({ client, io, files: read });
  return writeResources({ mode: command as "apply" | "create", client, io, read });
}

function kindOrThrow(name: string): KindInfo {
  const info = kindByName(name);
  if (!info) throw new UsageError(`unknown kind "${name}"; hostwall knows ${KINDS.map((k) => k.kind).join(", ")}`);
  return info;
}

async function get(client: EtcdClient, w: Words, io: Io): Promise<number> {
  const [kind, name, ...more] = w.rest;
  if (!kind || more.length) throw new UsageError("hostwall get needs KIND [NAME]");
  if (w.output !== undefined && w.output !== "yaml" && w.output !== "json") throw new UsageError(`-o must be yaml or json, got "${w.output}"`);
  const info = kindOrThrow(kind);
  const namespace = info.namespaced && !w.allNamespaces ? (w.namespace ?? "default") : undefined;
  let read;
  try {
    read = await readKind(client, info, namespace);
  } catch (e) {
    io.err(`hostwall: ${(e as Error).message}\n`);
    return 1;
  }
  let items = read.items;
  if (name !== undefined) {
    items = items.filter((i) => nameOf(i.obj).name === name);
    if (items.length === 0) {
      io.err(`hostwall: resource does not exist: ${info.kind}(${namespace ? `${namespace}/` : ""}${name})\n`);
      return 1;
    }
  }
  const objs = items.map((i) => i.obj);
  const doc = name !== undefined ? objs[0] : { apiVersion: API_VERSION, kind: `${info.kind}List`, metadata: { resourceVersion: String(read.revision) }, items: objs };
  if (w.output === "json") io.out(JSON.stringify(doc, null, 2) + "\n");
  else if (w.output === "yaml") io.out(stringify(doc));
  else {
    const rows = objs.map((o) => nameOf(o));
    io.out(info.namespaced ? ["NAMESPACE   NAME", ...rows.map((r) => `${(r.namespace ?? "").padEnd(11)} ${r.name}`)].join("\n") + "\n" : ["NAME", ...rows.map((r) => r.name)].join("\n") + "\n");
  }
  return 0;
}

/**
 * What `check`, `compile` and `plan` read: the paths given (files), or with --datastore
 * etcdv3 one list of every resource key, read as the agent reads it.
 */
export function datastoreReader(choice: DatastoreChoice, paths: string[]): { paths: string[]; read?: () => Promise<{ files: SourceFile[]; diagnostics: Diagnostic[] }> } {
  if (choice.type !== "etcdv3") return { paths };
  const endpoints = choice.config.endpoints;
  return {
    paths: [`etcd ${endpoints.join(",")}`],
    read: async () => {
      try {
        const { kvs } = await new EtcdClient(choice.config).rangePrefix(RESOURCE_PREFIX);
        return { files: keysAsFiles(kvs), diagnostics: [] };
      } catch (e) {
        return { files: [], diagnostics: [{ code: "DATASTORE_UNREACHABLE", severity: "error", message: (e as Error).message, file: endpoints[0] }] };
      }
    },
  };
}
