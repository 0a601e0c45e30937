/**
 * The agent's own log: one event per line on stderr. Under systemd (stderr not a terminal)
 * each line starts with a syslog priority `<N>` that journald turns into PRIORITY; on a
 * terminal the prefix is left out. Never colour codes: control characters in a message (from
 * a file name, or nft's error text) are escaped, so a line cannot move the cursor, recolour
 * the terminal or forge a second log line.
 */
export type Level = "error" | "warning" | "notice" | "info" | "debug";
const PRIORITY: Record<Level, number> = { error: 3, warning: 4, notice: 5, info: 6, debug: 7 };

export interface Logger {
  log(level: Level, message: string): void;
}

/** Escapes control characters except tab; newlines split a message into lines before this. */
export function sanitizeLine(line: string): string {
  return line.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** Formats one message as the lines written: `<N>` prefixed, or `level: ` on a terminal. */
export function formatLog(level: Level, message: string, syslogPrefix: boolean): string {
  return message
    .split(/\r?\n/)
    .map((line) => (syslogPrefix ? `<${PRIORITY[level]}>${sanitizeLine(line)}\n` : `${level === "info" ? "" : `${level}: `}${sanitizeLine(line)}\n`))
    .join("");
}

export function stderrLogger(opts: { syslogPrefix?: boolean; debug?: boolean } = {}): Logger {
  const prefix = opts.syslogPrefix ?? !process.stderr.isTTY;
  return {
    log(level, message) {
      if (level === "debug" && !opts.debug) return;
      process.stderr.write(formatLog(level, message, prefix));
    },
  };
}

/** A logger that keeps lines in memory, for tests. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (level, message) => lines.push(`${level}: ${message}`) };
}
