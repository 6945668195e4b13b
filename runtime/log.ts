import { type LogFields, type LogLevel, type Logger, callbackLogger } from '../common/index.js';

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * Structured JSON logs, one object per line, as log collectors expect: on stderr unless `write` says
 * otherwise (the installer writes to stdout).
 */
export function jsonLogger(
  options: { level?: LogLevel; write?: (line: string) => void; base?: LogFields } = {},
): Logger {
  const minimum = rank[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  return callbackLogger((level, message, fields) => {
    if (rank[level] < minimum) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields })}\n`);
  }, options.base);
}
