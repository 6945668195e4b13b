/**
 * The node agent process the chart's DaemonSet runs on every node: settings from the environment, the
 * agent on its socket, /healthz, /readyz and /metrics, until SIGTERM or SIGINT; then it stops accepting,
 * finishes what it took and exits 0. It keeps no state of its own that correctness needs: a new agent
 * starts from the API server's.
 */
import { errorMessage } from '../common/index.js';
import { KubeClient, loadConnection } from '../kube/index.js';
import { jsonLogger, startHealthServer } from '../runtime/index.js';
import { startAgent } from './agent.js';
import { agentSettings } from './settings.js';

export async function main(): Promise<number> {
  const settings = agentSettings();
  const log = jsonLogger({
    level: settings.LOG_LEVEL,
    base: { component: 'agent', node: settings.NODE_NAME },
  });
  const client = new KubeClient(loadConnection(settings.KUBECONFIG), {
    userAgent: 'topology-ipam-agent',
    requestTimeoutMs: settings.API_TIMEOUT_SECONDS * 1000,
  });
  const agent = await startAgent({
    node: settings.NODE_NAME,
    client,
    socketPath: settings.AGENT_SOCKET,
    log,
    defaultMetrics: true,
    ...(settings.ROUTES ? { routes: {} } : {}),
    ...(settings.NAT_OUTGOING ? { natOutgoing: {} } : {}),
  });
  const health = await startHealthServer({
    port: settings.HEALTH_PORT,
    host: settings.HEALTH_ADDRESS,
    metrics: agent.metrics,
    check: () => {
      const verdict = agent.health();
      // Alive while the process answers: a watch that fails is retried, and restarting would not help it.
      return { live: { ok: true, reasons: [] }, ready: { ok: verdict.ready, reasons: [...verdict.reasons] } };
    },
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    for (const name of ['SIGTERM', 'SIGINT'] as const)
      process.once(name, () => {
        resolve(name);
      });
  });
  log.info('stopping: answering what was taken, accepting nothing new', { signal });
  await agent.stop(settings.SHUTDOWN_GRACE_SECONDS * 1000);
  await new Promise<void>((resolve) =>
    health.close(() => {
      resolve();
    }),
  );
  log.info('stopped');
  return 0;
}

const exitCode = await main().catch((error: unknown) => {
  jsonLogger({ base: { component: 'agent' } }).error('agent failed', { error: errorMessage(error) });
  return 1;
});
// Exit now: a keep-alive socket or a timer left by a request in flight must not hold a stopped agent up.
process.exit(exitCode);
