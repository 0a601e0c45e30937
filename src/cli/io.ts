/** What a command may touch of the process: its output streams and environment (tests pass their own). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}
