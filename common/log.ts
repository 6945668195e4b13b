/** The logger port every program logs through; the JSON lines adapter is `runtime/log.ts`. */
export const logLevels = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof logLevels)[number];
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (a line's own fields win). */
  with(fields: LogFields): Logger;
}

/** Where a callback logger sends each line, with `with`'s fields merged in. */
export type LogSink = (level: LogLevel, message: string, fields: LogFields) => void;

/** A Logger calling `sink` for every line: the base of adapters, and a recorder in tests. */
export function callbackLogger(sink: LogSink, base: LogFields = {}): Logger {
  const emit =
    (level: LogLevel) =>
    (message: string, fields: LogFields = {}) => {
      sink(level, message, { ...base, ...fields });
    };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    with: (fields) => callbackLogger(sink, { ...base, ...fields }),
  };
}

/** Drops every line: the default of a component whose caller passes no logger. */
export const silentLogger: Logger = callbackLogger(() => undefined);
