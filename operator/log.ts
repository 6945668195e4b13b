/** Structured JSON logs, one object per line on stderr, as log collectors expect. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  with(fields: LogFields): Logger;
}

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function jsonLogger(
  options: { level?: LogLevel; write?: (line: string) => void; base?: LogFields } = {},
): Logger {
  const minimum = rank[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const base = options.base ?? {};
  const emit =
    (level: LogLevel) =>
    (message: string, fields: LogFields = {}) => {
      if (rank[level] < minimum) return;
      write(
        `${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...base, ...fields })}\n`,
      );
    };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    with: (fields) => jsonLogger({ ...options, base: { ...base, ...fields } }),
  };
}
