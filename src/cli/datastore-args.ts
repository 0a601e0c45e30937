/**
 * Where resources come from: the config dir (`--datastore file`, the default) or etcd v3
 * (`--datastore etcdv3`, env HOSTWALL_DATASTORE or calicoctl's DATASTORE_TYPE). The etcd
 * connection uses calicoctl's and Felix's variable names, each also a flag:
 *
 *   ETCD_ENDPOINTS      --etcd-endpoints      comma-separated http(s):// URLs
 *   ETCD_CA_CERT_FILE   --etcd-ca-cert-file   CA of the server certificates (PEM)
 *   ETCD_CERT_FILE      --etcd-cert-file      client certificate (PEM)
 *   ETCD_KEY_FILE       --etcd-key-file       its key (PEM)
 *   ETCD_USERNAME       --etcd-username       etcd user (authenticated for a token)
 *   ETCD_PASSWORD       --etcd-password       its password (prefer the variable: flags show in ps)
 *
 * A flag wins over its variable. Certificate files are read here, once, so a missing file is
 * an error at start naming the file, not a TLS failure later.
 */
import { readFileSync } from "node:fs";
import type { EtcdConfig } from "../datastore/client.ts";
import { UsageError, type ParsedArgs } from "./args.ts";

export type DatastoreChoice = { type: "file" } | { type: "etcdv3"; config: EtcdConfig };

/** The default endpoint, calicoctl's. */
export const DEFAULT_ETCD_ENDPOINT = "http://127.0.0.1:2379";

const VARS = {
  endpoints: ["etcd-endpoints", "ETCD_ENDPOINTS"],
  ca: ["etcd-ca-cert-file", "ETCD_CA_CERT_FILE"],
  cert: ["etcd-cert-file", "ETCD_CERT_FILE"],
  key: ["etcd-key-file", "ETCD_KEY_FILE"],
  username: ["etcd-username", "ETCD_USERNAME"],
  password: ["etcd-password", "ETCD_PASSWORD"],
} as const;

export function datastoreFromFlags(flags: ParsedArgs["flags"], env: Record<string, string | undefined>): DatastoreChoice {
  const get = (k: keyof typeof VARS): string | undefined => {
    const [flag, name] = VARS[k];
    const v = flags[flag];
    if (typeof v === "string") return v;
    const e = env[name];
    return e === undefined || e === "" ? undefined : e;
  };
  const given = typeof flags.datastore === "string" ? flags.datastore : (env.HOSTWALL_DATASTORE || env.DATASTORE_TYPE || "file");
  if (given === "file") {
    const stray = Object.values(VARS).map(([flag]) => flag).filter((f) => flags[f] !== undefined);
    if (stray.length) throw new UsageError(`--${stray[0]} needs --datastore etcdv3 (or HOSTWALL_DATASTORE=etcdv3)`);
    return { type: "file" };
  }
  if (given !== "etcdv3") throw new UsageError(`--datastore must be file or etcdv3, got "${given}"`);
  const endpoints = (get("endpoints") ?? DEFAULT_ETCD_ENDPOINT).split(",").map((e) => e.trim()).filter(Boolean);
  for (const e of endpoints) {
    let url: URL | undefined;
    try {
      url = new URL(e);
    } catch {
      // reported below
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.pathname.replace(/\/$/, "") !== "" || url.search || url.username) {
      throw new UsageError(`ETCD_ENDPOINTS / --etcd-endpoints: "${e}" is not an http:// or https:// URL of an etcd client port (scheme, host and port only)`);
    }
  }
  if (endpoints.length === 0) throw new UsageError("ETCD_ENDPOINTS / --etcd-endpoints is empty");
  const certFile = get("cert");
  const keyFile = get("key");
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError("a client certificate needs both ETCD_CERT_FILE and ETCD_KEY_FILE (or --etcd-cert-file and --etcd-key-file)");
  const caFile = get("ca");
  const tls = caFile || certFile ? { ...(caFile ? { ca: readPem(caFile, "ETCD_CA_CERT_FILE") } : {}), ...(certFile ? { cert: readPem(certFile, "ETCD_CERT_FILE"), key: readPem(keyFile!, "ETCD_KEY_FILE") } : {}) } : undefined;
  const username = get("username");
  const password = get("password");
  if (password !== undefined && username === undefined) throw new UsageError("ETCD_PASSWORD needs ETCD_USERNAME");
  return { type: "etcdv3", config: { endpoints: endpoints.map((e) => e.replace(/\/$/, "")), ...(tls ? { tls } : {}), ...(username !== undefined ? { username, password: password ?? "" } : {}) } };
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`${what} ${path}: cannot read: ${(e as Error).message}`);
  }
}
