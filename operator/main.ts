/**
 * The operator process: settings from the environment, then informers, the leader-elected controllers,
 * health and metrics, until SIGTERM or SIGINT. Exits non-zero if leadership is lost, so that its
 * Deployment restarts it with a clean slate (as controller-runtime managers do).
 */
import { KubeClient, loadConnection } from '../kube/index.js';
import { jsonLogger } from './log.js';
import { createMetrics } from './metrics.js';
import { Operator, startHealthServer } from './operator.js';
import { operatorSettings } from './settings.js';
import { startAdmissionWebhook } from './webhook/index.js';

export async function main(): Promise<number> {
  const settings = operatorSettings();
  const log = jsonLogger({
    level: settings.LOG_LEVEL,
    base: { component: 'operator', replica: settings.POD_NAME },
  });
  const client = new KubeClient(loadConnection(settings.KUBECONFIG), { userAgent: 'topology-ipam-operator' });
  const metrics = createMetrics({ defaultMetrics: true, requestCounts: () => client.counts });
  const operator = new Operator({
    client,
    namespace: settings.POD_NAMESPACE,
    identity: settings.POD_NAME,
    log,
    metrics,
    leaseName: settings.LEASE_NAME,
    leaseDurationMs: settings.LEASE_DURATION_SECONDS * 1000,
    renewDeadlineMs: settings.RENEW_DEADLINE_SECONDS * 1000,
    retryPeriodMs: settings.RETRY_PERIOD_SECONDS * 1000,
    resyncMs: settings.RESYNC_SECONDS * 1000,
    leakGraceMs: settings.LEAK_GRACE_SECONDS * 1000,
  });
  let synced = false;
  void operator.ready().then(() => (synced = true));
  const health = await startHealthServer({ port: settings.HEALTH_PORT, metrics, ready: () => synced });
  const shutdown = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info('shutting down', { signal });
      shutdown.abort();
    });
  }
  log.info('starting', { namespace: settings.POD_NAMESPACE, server: client.server });
  const running = operator.run(shutdown.signal);
  // Every replica answers admission reviews, from its own pool cache, once that cache is complete.
  await operator.ready();
  const webhook = settings.WEBHOOK_ENABLED
    ? await startAdmissionWebhook({
        client,
        namespace: settings.POD_NAMESPACE,
        serviceName: settings.WEBHOOK_SERVICE,
        webhookConfigurationName: settings.WEBHOOK_CONFIGURATION,
        host: '0.0.0.0',
        port: settings.WEBHOOK_PORT,
        pools: () => operator.state.pools.list(),
        registry: metrics.registry,
        log: (level, message, fields) => {
          log[level](message, { ...fields, component: 'webhook' });
        },
      })
    : undefined;
  const outcome = await running;
  await webhook?.close();
  health.close();
  client.close();
  return outcome === 'lost' ? 1 : 0;
}

process.exitCode = await main().catch((error: unknown) => {
  // One readable line for the user (a bad setting, an unreadable kubeconfig), not a stack trace.
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'operator failed', error: error instanceof Error ? error.message : String(error) })}\n`,
  );
  return 1;
});
