/**
 * Run inside a scratch namespace by libnftables.test.ts: the in-process runner (runner.ts over
 * libnftables.ts) against the real kernel. Prints one JSON object with what each step returned.
 */
import { mapNftErrors, openRunner } from "../../src/nft/runner.ts";

const runner = openRunner({ env: { HOSTWALL_NFT_BACKEND: "libnftables" } });
const out: Record<string, unknown> = { backend: runner.backend };
const base = "table inet hwlnf {\n\tset s { type ipv4_addr; flags interval; elements = { 10.0.0.0/8 } }\n\tchain c { ip saddr @s counter drop; }\n}\n";
out.base = await runner.apply(base);
// A delta checked, then applied: the dry run must not leave its edits in nft's cache (the
// apply would then see 10.1.0.0/16 as present already and refuse an overlap).
const delta = "delete element inet hwlnf s { 10.0.0.0/8 }\nadd element inet hwlnf s { 10.1.0.0/16, 10.0.0.0/16 }\n";
out.check = await runner.apply(delta, { check: true });
out.apply = await runner.apply(delta);
// A refused script: the error names its line, as the CLI's does, and maps to the rule's origin.
const bad = "add rule inet hwlnf c counter\n\nadd rule inet hwlnf c jump nosuch\n";
const refused = await runner.apply(bad);
out.refused = { ok: refused.ok, errors: mapNftErrors(refused.stderr, new Map([[3, { id: "gnp/x/ingress/0", file: "/etc/hostwall/x.yaml", line: 9, column: 7 }]])) };
// After a refusal the next command works (a fresh context) and nothing of the refused script is in.
const listed = await runner.list!();
out.rules = listed.ok ? listed.tables.find((t) => t.name === "hwlnf")?.chains[0]?.rules.length : listed.error;
const set = await runner.listSet!("inet", "hwlnf", "s");
out.elements = set.ok ? set.elements : set.error;
console.log(JSON.stringify(out));
