/**
 * The agent's own log: one event per line on stderr. Under systemd (stderr not a terminal)
 * each line starts with a syslog priority `<N>` that journald turns into PRIORITY; on a
 * terminal the prefix is left out. Never colour codes.
 */
export type Level = "error" | "warning" | "info" | "debug";
const PRIORITY: Record<Level, number> = { error: 3, warning: 4, info: 6, debug: 7 };

export interface Logger {
  log(level: Level, message: string): void;
}

export function stderrLogger(opts: { syslogPrefix?: boolean; debug?: boolean } = {}): Logger {
  const prefix = opts.syslogPrefix ?? !process.stderr.isTTY;
  return {
    log(level, message) {
      if (level === "debug" && !opts.debug) return;
      for (const line of message.split("\n")) process.stderr.write(prefix ? `<${PRIORITY[level]}>${line}\n` : `${level === "info" ? "" : `${level}: `}${line}\n`);
    },
  };
}

/** A logger that keeps lines in memory, for tests. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (level, message) => lines.push(`${level}: ${message}`) };
}
