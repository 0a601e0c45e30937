/**
 * `UPDATE_GOLDEN=1` rewrites golden expectations, which makes every golden test pass whatever
 * the compiler does. A CI run must compare, never rewrite: under CI (CI set, and not "false"
 * or "0") the golden test files call this first and fail the run.
 */
export function refuseUpdateGoldenInCi(env: Record<string, string | undefined> = process.env): void {
  const ci = env.CI !== undefined && env.CI !== "" && env.CI !== "false" && env.CI !== "0";
  if (ci && env.UPDATE_GOLDEN) {
    throw new Error(`UPDATE_GOLDEN=${env.UPDATE_GOLDEN} is refused under CI=${env.CI}: golden expectations are compared in CI, never rewritten`);
  }
}
