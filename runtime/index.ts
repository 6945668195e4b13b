/** Process adapters shared by the operator, the webhook, the installer and the agent. */
export { type Verdict, startHealthServer } from './health-server.js';
export { runCommand } from './command.js';
export { type EventRecorder, eventRecorder } from './events.js';
export { jsonLogger } from './log.js';
export { flag, logLevel, parseSettings, port, positiveSeconds } from './settings.js';
