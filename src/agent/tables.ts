/**
 * hostwall's tables as the agent applied them, and as the kernel lists them: the reference the
 * drift check compares with (shape.ts) and the map from kernel counters to policy rules
 * (metrics.ts).
 *
 * After each apply the agent lists its tables once (terse: no set elements) and keeps that
 * listing as the reference. If the listing does not match the rendered structure, the listing
 * still becomes the reference (nft may print a comment differently), and the log says so once
 * per apply. One listing runs at a time; concurrent callers (scrapes, drift checks) share it.
 */
import type { ListedTable, NftListing, NftRunner } from "../nft/runner.ts";
import type { Logger } from "./log.ts";
import { ruleSamples } from "./metrics.ts";
import { findDrift, observedTables, type ExpectedTable } from "./shape.ts";
import type { RuleCounters } from "./types.ts";

export class AppliedTables {
  /** The applied ruleset as rendered (undefined: nothing applied). */
  expected?: ExpectedTable[];
  /** The same as listed right after the apply (with handles). */
  private observed?: ExpectedTable[];
  private listing?: Promise<NftListing>;

  constructor(
    private readonly runner: NftRunner,
    private readonly logger: Logger,
  ) {}

  /** One listing at a time; concurrent callers share it. */
  list(): Promise<NftListing> {
    this.listing ??= this.runner
      .list!()
      .catch((e: Error): NftListing => ({ ok: false, error: e.message }))
      .finally(() => {
        this.listing = undefined;
      });
    return this.listing;
  }

  /** How the live tables differ from the reference (empty: no drift). */
  drift(live: readonly ListedTable[]): string[] {
    return findDrift(this.observed ?? this.expected!, live);
  }

  /** The tables as listed right after the apply (handles, rule digests), when that listing worked. */
  get reference(): readonly ExpectedTable[] | undefined {
    return this.observed;
  }

  /** Lists the tables just applied and keeps them as the drift reference. */
  async observe(): Promise<void> {
    this.observed = undefined;
    if (!this.runner.list || !this.expected) return;
    const live = await this.list();
    if (!live.ok) {
      this.logger.log("warning", `cannot list the applied tables (drift check falls back to their rendered structure): ${live.error}`);
      return;
    }
    const differences = findDrift(this.expected, live.tables);
    if (differences.length > 0) this.logger.log("warning", `the tables listed right after the apply differ from the rendered script: ${differences.join("; ")}`);
    this.observed = observedTables(this.expected, live.tables);
  }

  /** Per-rule packet and byte counters of the ruleset in force, labelled by origin. */
  async counters(): Promise<RuleCounters> {
    if (!this.expected) return { ok: true, samples: [] };
    if (!this.runner.list) return { ok: false, error: "the nft runner cannot list" };
    const live = await this.list();
    if (!live.ok) return live;
    return { ok: true, samples: ruleSamples(this.observed ?? this.expected, live.tables) };
  }
}
