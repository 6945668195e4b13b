/** Cross-cutting vocabulary: pure, no I/O, imports nothing outside this folder. */
export { type CodedError, type ParseError, type TextSpan, errorMessage, errorStack } from './errors.js';
export {
  type LogFields,
  type LogLevel,
  type LogSink,
  type Logger,
  callbackLogger,
  logLevels,
  silentLogger,
} from './log.js';
export { pluginName, routesPluginName } from './plugin-name.js';
