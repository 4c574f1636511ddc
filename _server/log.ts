// Log lines to stderr: one per connection, join, leave and error, never message text.

/** How much a server logs: each level includes the ones after it. `silent` logs nothing. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** The levels, from most to least talkative. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

/** Writes a log line at a level, if the logger's level lets it through. */
export type Logger = (level: Exclude<LogLevel, "silent">, message: string) => void;

/** A logger that writes `<ISO time> <LEVEL> <message>` lines to stderr from `level` up. */
export function makeLogger(level: LogLevel): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  return (lineLevel, message) => {
    if (LOG_LEVELS.indexOf(lineLevel) < threshold) return;
    console.error(`${new Date().toISOString()} ${lineLevel.toUpperCase()} ${message}`);
  };
}
