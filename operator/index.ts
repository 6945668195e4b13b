/**
 * The operator, for whoever runs or embeds it rather than being part of it (`npm start`, the chart
 * tests): the Operator, its metrics and its settings. Its process is `operator/main.ts`.
 */
export { type OperatorMetrics, createMetrics } from './metrics.js';
export { type OperatorOptions, Operator } from './operator.js';
export { type OperatorSettings, operatorSettings, operatorSettingsSchema } from './settings.js';
