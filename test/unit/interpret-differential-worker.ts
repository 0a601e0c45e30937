/**
 * A worker of test/unit/interpreter-differential.test.ts: runs one batch of seeds per message
 * (interpret-differential.ts runSeeds) and posts the result back, so the run uses every core.
 */
import { runSeeds } from "./interpret-differential.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ id: number; seeds: number[]; allProbes: boolean; pipelineEvery: number; extrasEvery: number }>) => {
  const { id, seeds, allProbes, pipelineEvery, extrasEvery } = event.data;
  try {
    self.postMessage({ id, result: runSeeds(seeds, { allProbes, pipelineEvery, extrasEvery }) });
  } catch (e) {
    self.postMessage({ id, error: `${(e as Error).stack ?? e}` });
  }
};
