/** Usage texts and flags of the datastore commands and of --datastore (help.ts spreads them in). */
import { DATASTORE_FLAGS } from "./args.ts";
import { DEFAULT_ETCD_ENDPOINT } from "./datastore-args.ts";

/** Flags of apply, create, delete and get: the connection only (their datastore is etcd). */
const ETCD_FLAGS = DATASTORE_FLAGS.filter((f) => f !== "datastore");
export const DATASTORE_COMMAND_FLAGS: Record<string, readonly string[]> = {
  apply: ETCD_FLAGS,
  create: ETCD_FLAGS,
  delete: ETCD_FLAGS,
  get: ETCD_FLAGS,
};

/** The --datastore lines of run's, plan's, check's and compile's help. */
export const DATASTORE_FLAG_HELP = `  --datastore file|etcdv3  read resources from the config dir (default) or from etcd v3 in
                  Calico's key layout (env HOSTWALL_DATASTORE, or DATASTORE_TYPE as calicoctl)
  --etcd-endpoints URLS    comma-separated etcd client URLs (env ETCD_ENDPOINTS, default
                  ${DEFAULT_ETCD_ENDPOINT}); --etcd-ca-cert-file, --etcd-cert-file,
                  --etcd-key-file, --etcd-username, --etcd-password (env ETCD_CA_CERT_FILE,
                  ETCD_CERT_FILE, ETCD_KEY_FILE, ETCD_USERNAME, ETCD_PASSWORD: prefer the
                  variable for the password, flags show in ps)
`;

const CONNECTION = `The connection: --etcd-endpoints URLS (default ${DEFAULT_ETCD_ENDPOINT}),
--etcd-ca-cert-file, --etcd-cert-file, --etcd-key-file, --etcd-username, --etcd-password, or
calicoctl's variables ETCD_ENDPOINTS, ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE,
ETCD_USERNAME, ETCD_PASSWORD (prefer the variable for the password: flags show in ps).
`;

export const DATASTORE_HELP: Record<string, string> = {
  apply: `usage: hostwall apply -f FILE|DIR|- [--etcd-endpoints URLS ...]

Creates or replaces the resources of FILE (a directory: its config files; -: stdin) in etcd,
in Calico's key layout, as calicoctl apply does. Every resource is validated first (the
agent's validator, beside what etcd holds; diagnostics as file:line:col); nothing is written
unless all are valid, and all are written in one transaction. A resource carrying
metadata.resourceVersion is written only if the stored one is still at that revision (else
an update conflict); the first write creates ClusterInformation and the default tiers.
${CONNECTION}Exit 0 written, 1 invalid, a conflict or etcd unreachable, 2 on a usage error.
`,
  create: `usage: hostwall create -f FILE|DIR|- [--etcd-endpoints URLS ...]

As apply, but every resource must be new: one that exists already fails the whole write.
${CONNECTION}Exit 0 written, 1 invalid, existing, or etcd unreachable, 2 on a usage error.
`,
  delete: `usage: hostwall delete -f FILE|DIR|- | KIND NAME [-n NAMESPACE] [--etcd-endpoints URLS ...]

Deletes the resources named in FILE, or one by kind and name, in one transaction; each must
exist (and, with metadata.resourceVersion in FILE, be at that revision). The default tier
cannot be deleted.
${CONNECTION}Exit 0 deleted, 1 missing, a conflict or etcd unreachable, 2 on a usage error.
`,
  get: `usage: hostwall get KIND [NAME] [-n NAMESPACE | -A] [-o yaml|json] [--etcd-endpoints URLS ...]

Prints resources of one kind from etcd as the API shows them: policies under the name they
were given (not the stored tier.name), with the label projectcalico.org/tier, and
metadata.resourceVersion = the key's mod revision (give it back to apply to guard against a
concurrent change). KIND: the kind, its plural or calicoctl's short form (gnp, hep, ...).
Without -o: the names. Namespaced kinds: -n (default "default") or -A for all.
${CONNECTION}Exit 0, 1 when NAME does not exist or etcd is unreachable, 2 on a usage error.
`,
};
