import type { KubeClient } from '../kube/index.js';
import { jsonLogger } from '../runtime/index.js';
import { createMetrics } from './metrics.js';
import { Operator, type OperatorOptions } from './operator.js';

/**
 * An operator run in the test's own process against the test cluster: its Lease in the test's
 * namespace, leases short enough that a test never waits long for leadership, leaks collected after 1 s
 * and crashed claims after 2 s unless the test says otherwise. Logs only warnings unless
 * TEST_LOG_LEVEL=debug.
 */
export function testOperator(
  options: { readonly client: KubeClient; readonly namespace: string } & Partial<OperatorOptions>,
): Operator {
  return new Operator({
    identity: `${options.namespace}-replica`,
    log: jsonLogger({ level: process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'warn' }),
    metrics: createMetrics(),
    leaseDurationMs: 4_000,
    renewDeadlineMs: 3_000,
    retryPeriodMs: 500,
    leakGraceMs: 1_000,
    staleClaimMs: 2_000,
    ...options,
  });
}
