/**
 * Confirm or revert (issue #14 item 2): a provisional apply stays in force only if
 * `hostwall confirm` (POST /confirm) arrives within its window; otherwise the agent goes back
 * to the last confirmed ruleset by itself. The timer is here, in the agent, so the revert
 * happens even when the new ruleset cut off the client that asked for it.
 *
 *   applied (confirmed) ──reload --confirm 60s──▶ pending (baseline = what was in force)
 *        ▲                                          │  edited again in the window: applied, new
 *        │ confirm                                  │  window, the same baseline
 *        └──────────────────────────────────────────┤
 *                                   window expires  ▼
 *                          revert to the baseline (a new generation), log why; the reverted
 *                          config is not applied again by the watcher, a link change or the
 *                          drift repair, only by an explicit reload or an edit
 *
 * The baseline is opaque here (the agent's own record of what was in force); the agent does the
 * revert itself, as one of its serialised attempts (Agent.revertTo). Everything that changes the
 * pending state runs synchronously between awaits, so two reload --confirm requests (which the
 * agent coalesces or runs one after the other anyway) cannot leave it half-written.
 */
import type { Model } from "../model/types.ts";
import type { NftRuleset } from "../nft/ir.ts";
import type { Plan } from "../resolve/resolve.ts";
import type { Snapshot } from "./change.ts";
import type { Logger } from "./log.ts";
import type { ExpectedTable } from "./shape.ts";
import type { Applied, ApplyRequest } from "./types.ts";

/** The shortest and longest window a request may ask for. */
export const MIN_WINDOW_MS = 1000;
export const MAX_WINDOW_MS = 3600_000;

/** `60`, `60s`, `2m`, `1500ms` → milliseconds; undefined when malformed or outside 1 s to 1 h. */
export function parseWindow(text: string | number): number | undefined {
  const m = typeof text === "number" ? [String(text), String(text), "s"] : /^(\d{1,7})(ms|s|m)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const ms = m[2] === "ms" ? n : m[2] === "m" ? n * 60_000 : n * 1000;
  return Number.isInteger(ms) && ms >= MIN_WINDOW_MS && ms <= MAX_WINDOW_MS ? ms : undefined;
}

/** A provisional apply waiting for its confirmation. */
export interface PendingConfirm<T> {
  /** Bumped by every (re)opened window: an expiry checks it is still the window it was set for. */
  id: number;
  /** The generation in force now (provisional). */
  generation: number;
  /** The last confirmed generation, which a revert goes back to. */
  baselineGeneration: number;
  baseline: T;
  /** When this window opened and when it expires (ISO). */
  since: string;
  deadline: string;
  windowMs: number;
  /** The attempts' reasons that made it provisional. */
  reason: string;
}

/** The confirm state as /status shows it. */
export interface ConfirmStatus {
  /** none: nothing was ever provisional; pending: waiting; confirmed, reverted, revert-failed: how the last window ended. */
  state: "none" | "pending" | "confirmed" | "reverted" | "revert-failed";
  pending: { generation: number; baselineGeneration: number; since: string; deadline: string; windowMs: number; remainingMs: number; reason: string } | null;
  last: { outcome: "confirmed" | "reverted" | "revert-failed"; at: string; generation: number; detail: string } | null;
  /** A setting that makes every watched change provisional (run --confirm-changes), in ms. */
  changesWindowMs: number | null;
}

export interface ConfirmDeps<T> {
  logger: Logger;
  now(): Date;
  /** Reverts to the baseline as one attempt; `due` is asked right before it starts. True when the baseline is in force again. */
  revert(baseline: T, why: string, due: () => boolean): Promise<boolean | "not-due">;
  /** Called when a window is confirmed (the agent saves the ruleset as the last good one). */
  confirmed(): Promise<void>;
  /** run --confirm-changes: the window of every watched change, in ms. */
  changesWindowMs?: number;
}

/** Reasons of attempts that apply an edited config (the watcher, SIGHUP, POST /reload). */
const CHANGE_REASONS = /config changed|SIGHUP|POST \/reload/;
/** After a failed revert, it is tried again this often, this many times. */
const RETRY_MS = 5000;
const RETRIES = 12;

export class ConfirmWindow<T> {
  pending?: PendingConfirm<T>;
  last?: NonNullable<ConfirmStatus["last"]>;
  /** The hash of a config that was reverted: not applied again unless asked explicitly or edited. */
  revertedHash?: string;
  private timer?: ReturnType<typeof setTimeout>;
  private nextId = 1;
  private stopped = false;

  constructor(private readonly deps: ConfirmDeps<T>) {}

  /**
   * The window an apply gets, or undefined when it is not provisional: the request's own, the
   * pending window's (an apply during a window is provisional too), or the setting's for a
   * watched change.
   */
  windowFor(reason: string, requestedMs?: number): number | undefined {
    return requestedMs ?? this.pending?.windowMs ?? (this.deps.changesWindowMs && CHANGE_REASONS.test(reason) ? this.deps.changesWindowMs : undefined);
  }

  /** A provisional apply succeeded: (re)start the window; the baseline stays the last confirmed one. */
  open(opts: { baseline: T; baselineGeneration: number; generation: number; windowMs: number; reason: string }): void {
    const at = this.deps.now();
    const keep = this.pending;
    this.pending = {
      id: this.nextId++,
      generation: opts.generation,
      baselineGeneration: keep?.baselineGeneration ?? opts.baselineGeneration,
      baseline: keep?.baseline ?? opts.baseline,
      since: at.toISOString(),
      deadline: new Date(at.getTime() + opts.windowMs).toISOString(),
      windowMs: opts.windowMs,
      reason: opts.reason,
    };
    this.revertedHash = undefined;
    this.arm(this.pending.id, opts.windowMs);
    this.deps.logger.log("notice", `generation ${opts.generation} is provisional (${opts.reason}): confirm within ${opts.windowMs / 1000} s (hostwall confirm), or generation ${this.pending.baselineGeneration}'s ruleset is restored`);
  }

  /** hostwall confirm: ends the window, the provisional ruleset stays. */
  async confirm(): Promise<{ ok: true; generation: number } | { ok: false; error: string }> {
    const p = this.pending;
    if (!p) return { ok: false, error: this.last?.outcome === "reverted" ? `nothing to confirm: generation ${this.last.generation} was reverted at ${this.last.at}` : "nothing to confirm: no provisional apply is pending" };
    this.clear();
    this.pending = undefined;
    this.last = { outcome: "confirmed", at: this.deps.now().toISOString(), generation: p.generation, detail: `confirmed generation ${p.generation}` };
    this.deps.logger.log("notice", `generation ${p.generation} confirmed; it stays in force`);
    await this.deps.confirmed();
    return { ok: true, generation: p.generation };
  }

  status(): ConfirmStatus {
    const p = this.pending;
    const now = this.deps.now().getTime();
    return {
      state: p ? "pending" : (this.last?.outcome ?? "none"),
      pending: p ? { generation: p.generation, baselineGeneration: p.baselineGeneration, since: p.since, deadline: p.deadline, windowMs: p.windowMs, remainingMs: Math.max(0, Date.parse(p.deadline) - now), reason: p.reason } : null,
      last: this.last ?? null,
      changesWindowMs: this.deps.changesWindowMs ?? null,
    };
  }

  /** The service stops: no revert after that (the ruleset in force stays, as on every stop). */
  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(id: number, ms: number): void {
    this.clear();
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.expire(id, 0), ms);
  }

  private async expire(id: number, tries: number): Promise<void> {
    this.timer = undefined;
    const p = this.pending;
    if (!p || p.id !== id || this.stopped) return;
    const why = `generation ${p.generation} was not confirmed within ${p.windowMs / 1000} s (${p.reason})`;
    this.deps.logger.log("warning", `${why}: restoring generation ${p.baselineGeneration}'s ruleset`);
    const result = await this.deps.revert(p.baseline, why, () => this.pending?.id === id && !this.stopped);
    if (result === "not-due") return;
    const at = this.deps.now().toISOString();
    if (result) {
      this.pending = undefined;
      this.last = { outcome: "reverted", at, generation: p.generation, detail: `${why}; generation ${p.baselineGeneration}'s ruleset restored` };
      return;
    }
    this.last = { outcome: "revert-failed", at, generation: p.generation, detail: `${why}; the revert failed (try ${tries + 1} of ${RETRIES + 1})` };
    if (tries < RETRIES && !this.stopped) this.timer = setTimeout(() => void this.expire(id, tries + 1), RETRY_MS);
    else this.deps.logger.log("error", `giving up reverting generation ${p.generation}: it stays in force; fix the config or run hostwall confirm`);
  }
}

/** What was in force before a provisional apply: a confirm window's way back (confirm.ts). */
export interface InForce {
  generation: number;
  applied: Applied;
  irInForce?: NftRuleset;
  plan?: Plan;
  model?: Model;
  expected?: ExpectedTable[];
  snap?: Snapshot;
  boundByAddress: boolean;
  appliedAddresses: string;
}

/** Two reload requests coalesced into one attempt: the longer window, lockouts allowed only if both allow them. */
export function mergeRequests(a: ApplyRequest | undefined, b: ApplyRequest | undefined): ApplyRequest | undefined {
  if (!a || !b) return a ?? b;
  const confirmMs = a.confirmMs === undefined ? b.confirmMs : b.confirmMs === undefined ? a.confirmMs : Math.max(a.confirmMs, b.confirmMs);
  return { ...(confirmMs !== undefined ? { confirmMs } : {}), allowLockout: Boolean(a.allowLockout && b.allowLockout), sessions: [...(a.sessions ?? []), ...(b.sessions ?? [])].slice(0, 16), explicit: Boolean(a.explicit || b.explicit) };
}
