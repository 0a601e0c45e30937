/**
 * The agent's own log: one event per line on stderr. Under systemd (stderr not a terminal)
 * each line starts with a syslog priority `<N>` that journald turns into PRIORITY; on a
 * terminal the prefix is left out. Never colour codes: control characters in a message (from
 * a file name, a config value or nft's error text), line breaks included, are escaped, so a
 * line cannot move the cursor, recolour the terminal or forge a second log line.
 */
import { escapeControl } from "../diagnostics/diagnostic.ts";
import { writeErr } from "../output.ts";

export type Level = "error" | "warning" | "notice" | "info" | "debug";
const PRIORITY: Record<Level, number> = { error: 3, warning: 4, notice: 5, info: 6, debug: 7 };

export interface Logger {
  log(level: Level, message: string): void;
}

/** Escapes control characters except tab, line breaks included. */
const sanitizeLine = escapeControl;

/**
 * Formats one message as the line written: `<N>` prefixed, or `level: ` on a terminal. One
 * call is one line, whatever the message holds: a line break in a config value (a name echoed
 * by a diagnostic) is escaped, so it can never start a journal entry of the writer's choosing.
 */
export function formatLog(level: Level, message: string, syslogPrefix: boolean): string {
  const line = sanitizeLine(message);
  return syslogPrefix ? `<${PRIORITY[level]}>${line}\n` : `${level === "info" ? "" : `${level}: `}${line}\n`;
}

export function stderrLogger(opts: { syslogPrefix?: boolean; debug?: boolean } = {}): Logger {
  const prefix = opts.syslogPrefix ?? !process.stderr.isTTY;
  return {
    log(level, message) {
      if (level === "debug" && !opts.debug) return;
      writeErr(formatLog(level, message, prefix));
    },
  };
}

/** A logger that keeps lines in memory, for tests. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (level, message) => lines.push(`${level}: ${message}`) };
}
