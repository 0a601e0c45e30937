/**
 * Sending a whole script to the kernel: a dry run (`nft -c`), then the apply, each one
 * transaction, so a rejected script never changes the live tables; nft's refusal as
 * diagnostics; and the keys that say what a ruleset was applied for (its hash, interfaces and
 * addresses). Used by every attempt (agent.ts) and by the start's fallbacks (boot.ts).
 */
import { createHash } from "node:crypto";
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import { formatCidr, type Cidr } from "../model/cidr.ts";
import type { RuleOrigin } from "../nft/ir.ts";
import { mapNftErrors, type NftRunner } from "../nft/runner.ts";
import type { Plan } from "../resolve/resolve.ts";
import type { Logger } from "./log.ts";

/**
 * Scripts up to this size get a dry run (`nft -c`) before the real apply. The apply is one
 * transaction either way, so a rejected script never changes the live tables; the dry run
 * only costs as much as the apply itself, which for million-element sets is seconds, so big
 * scripts go straight to the (equally atomic) apply.
 */
export const DRY_RUN_MAX_BYTES = 4 * 1024 * 1024;

/** The passes a script goes through: check then apply, or the apply alone for a big one. */
function passes(script: string): boolean[] {
  return script.length > DRY_RUN_MAX_BYTES ? [false] : [true, false];
}

/** The hash a ruleset is stamped and compared with: the first 16 hex digits of its SHA-256. */
export function scriptHash(script: string): string {
  return createHash("sha256").update(script).digest("hex").slice(0, 16);
}

/** Checks and applies a whole script; on a refusal, which pass refused it and nft's error text. */
export async function sendScript(runner: NftRunner, script: string): Promise<{ ok: true } | { ok: false; check: boolean; stderr: string }> {
  for (const check of passes(script)) {
    const result = await runner.apply(script, { check });
    if (!result.ok) return { ok: false, check, stderr: result.stderr };
  }
  return { ok: true };
}

/** Checks and applies a whole script; false (logged) when nft refuses it. */
export async function applyScript(runner: NftRunner, logger: Logger, script: string, what: string): Promise<boolean> {
  const sent = await sendScript(runner, script);
  if (!sent.ok) logger.log("error", `cannot apply ${what}: nft ${sent.check ? "check" : "apply"} failed: ${sent.stderr.trim().split("\n")[0]}`);
  return sent.ok;
}

/** The endpoint interfaces of a plan that are present, comma-joined: what a ruleset was applied for. */
export function interfaceKey(plan: Plan, present: ReadonlySet<string>): string {
  return plan.endpoints.filter((ep) => present.has(ep.interfaceName)).map((ep) => ep.interfaceName).join(",");
}

/** A stable text form of the interface addresses, to notice changes. */
export function addressKey(addresses: Map<string, Cidr[]> | undefined): string {
  if (!addresses) return "";
  return [...addresses.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, list]) => `${n}=${list.map(formatCidr).sort().join(",")}`).join(";");
}

/** nft's refusal of a script as NFT_REJECTED diagnostics, each placed at the YAML rule its script line came from. */
export function nftRejections(stderr: string, origins: ReadonlyMap<number, RuleOrigin>, check: boolean): Diagnostic[] {
  return mapNftErrors(stderr, origins).map((e): Diagnostic => ({
    code: "NFT_REJECTED",
    severity: "error",
    message: `nft ${check ? "check" : "apply"} failed: ${e.message}${e.line ? ` (script line ${e.line}${e.origin ? `, from ${e.origin.id}` : ""})` : ""}`,
    file: e.origin?.file,
    line: e.origin?.line,
    column: e.origin?.column,
  }));
}
