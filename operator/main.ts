/**
 * The operator process: settings from the environment, then informers, the leader-elected controllers,
 * health and metrics, until SIGTERM or SIGINT. Exits non-zero at once if leadership is lost, whatever
 * still runs, so that its Deployment restarts it with a clean slate and it campaigns again (as
 * controller-runtime managers do).
 */
import { errorMessage } from '../common/index.js';
import { KubeClient, loadConnection } from '../kube/index.js';
import { jsonLogger, startHealthServer } from '../runtime/index.js';
import { type HealthBounds, liveness, readiness } from './health.js';
import { createMetrics } from './metrics.js';
import { Operator } from './operator.js';
import { operatorSettings } from './settings.js';
import { startAdmissionWebhook } from './webhook/index.js';

export async function main(): Promise<number> {
  const settings = operatorSettings();
  const log = jsonLogger({
    level: settings.LOG_LEVEL,
    base: { component: 'operator', replica: settings.POD_NAME },
  });
  const client = new KubeClient(loadConnection(settings.KUBECONFIG), {
    userAgent: 'topology-ipam-operator',
    requestTimeoutMs: settings.API_TIMEOUT_SECONDS * 1000,
  });
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
  });
  const bounds: HealthBounds = {
    notReadyAfterApiSilenceMs: settings.API_UNREACHABLE_NOT_READY_SECONDS * 1000,
    unhealthyAfterApiSilenceMs: settings.API_UNREACHABLE_UNHEALTHY_SECONDS * 1000,
    controllerStuckMs: settings.CONTROLLER_STUCK_SECONDS * 1000,
  };
  const health = await startHealthServer({
    port: settings.HEALTH_PORT,
    metrics,
    check: () => {
      const observed = operator.observeHealth();
      const now = Date.now();
      return { live: liveness(observed, now, bounds), ready: readiness(observed, now, bounds) };
    },
  });
  const shutdown = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info('shutting down', { signal });
      shutdown.abort();
    });
  }
  log.info('starting', { namespace: settings.POD_NAMESPACE, server: client.server });
  const running = operator.run(shutdown.signal);
  void running.then((outcome) => {
    if (outcome !== 'lost') return;
    // No graceful shutdown, whatever still runs (a webhook starting, a reconcile in flight): nothing
    // may write once another replica may lead. The restarted process campaigns again.
    log.error('exiting after losing leadership');
    process.exit(1);
  });
  // Every replica answers admission reviews, from its own pool cache, once that cache is complete.
  const synced = await Promise.race([operator.ready().then(() => true), running.then(() => false)]);
  const webhook =
    synced && settings.WEBHOOK_ENABLED
      ? await startAdmissionWebhook({
          client,
          namespace: settings.POD_NAMESPACE,
          serviceName: settings.WEBHOOK_SERVICE,
          webhookConfigurationName: settings.WEBHOOK_CONFIGURATION,
          host: '0.0.0.0',
          port: settings.WEBHOOK_PORT,
          pools: () => operator.state.pools.list(),
          blocks: () => operator.state.blocks.list(),
          registry: metrics.registry,
          log: log.with({ component: 'webhook' }),
        })
      : undefined;
  await running;
  await webhook?.close();
  health.close();
  client.close();
  return 0;
}

process.exitCode = await main().catch((error: unknown) => {
  // One readable line for the user (a bad setting, an unreadable kubeconfig), not a stack trace.
  jsonLogger().error('operator failed', { error: errorMessage(error) });
  return 1;
});
