/**
 * The node agent put together: the node's caches, the block writer, the addresses, the socket. Used by
 * `main.ts` (the process the chart runs) and in-process by tests and benchmarks.
 */
import { ipamResources } from '../allocator/index.js';
import { CniError } from '../cni/errors.js';
import { type CommandBackend, type Outcome, run } from '../cni/run.js';
import type { KubeClient } from '../kube/index.js';
import type { Logger } from '../operator/log.js';
import { NodeAddresses } from './addresses.js';
import { BlockWriter } from './block-writer.js';
import { BorrowRecords } from './borrowed.js';
import { type AgentMetrics, createAgentMetrics } from './metrics.js';
import { type CacheHealth, NodeCache } from './node-cache.js';
import { listen } from './server.js';

export interface AgentOptions {
  readonly node: string;
  readonly client: KubeClient;
  readonly socketPath: string;
  readonly stateDir: string;
  readonly log?: Logger;
  /** How long a request that arrives before the caches are synced waits for them. */
  readonly syncWaitMs?: number;
  readonly defaultMetrics?: boolean;
}

export interface RunningAgent {
  readonly node: string;
  readonly socketPath: string;
  readonly client: KubeClient;
  readonly cache: NodeCache;
  readonly metrics: AgentMetrics;
  /** Ready: caches synced and current. */
  health(): CacheHealth;
  /** Stops accepting, answers what was taken (or gives up after `graceMs`), stops watching. */
  stop(graceMs?: number): Promise<void>;
}

const silent: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  with: () => silent,
};

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const log = options.log ?? silent;
  const { node, client } = options;
  const resources = ipamResources(client);
  const cache = new NodeCache(resources, node, (what, error) => {
    log.warn('watch failed; listing again after a pause', {
      cache: what,
      error: error instanceof Error ? error.message : String(error),
    });
  });
  const watching = new AbortController();
  const informers = cache.run(watching.signal);
  let inFlight = 0;
  const metrics = createAgentMetrics({
    defaultMetrics: options.defaultMetrics ?? false,
    requestCounts: () => client.counts,
    cacheAgeSeconds: () => (cache.lastEventAt === 0 ? 0 : (Date.now() - cache.lastEventAt) / 1000),
    inFlight: () => inFlight,
  });
  const writer = new BlockWriter(cache, { observer: metrics });
  const addresses = new NodeAddresses({
    node,
    resources,
    cache,
    writer,
    borrowed: new BorrowRecords(options.stateDir),
  });
  const syncWaitMs = options.syncWaitMs ?? 10_000;
  let synced = false;
  void cache.synced.then(() => {
    synced = true;
    log.info('caches synced', { blocks: cache.blocks().length, pools: cache.pools().length });
  });
  const notSynced = async (): Promise<string | undefined> => {
    if (synced) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>(
      (resolve) =>
        (timer = setTimeout(() => {
          resolve('timeout');
        }, syncWaitMs)),
    );
    const outcome = await Promise.race([cache.synced.then(() => 'synced' as const), timedOut]);
    clearTimeout(timer);
    return outcome === 'synced' ? undefined : cache.health().reasons.join('; ');
  };

  const handle = async (env: Readonly<Record<string, string>>, stdin: string): Promise<Outcome> => {
    const started = performance.now();
    const command = env.CNI_COMMAND ?? '';
    inFlight++;
    try {
      const unsynced = command === 'VERSION' ? undefined : await notSynced();
      const backend: CommandBackend = unsynced === undefined ? addresses : unavailable(node, unsynced);
      return await run(env, stdin, backend, (served) => {
        const seconds = (performance.now() - started) / 1000;
        metrics.requestDuration.observe(
          { command, result: served.code === null ? 'ok' : String(served.code) },
          seconds,
        );
        const fields = { command, handle: served.handle, code: served.code, ms: Math.round(seconds * 1000) };
        if (served.code === null) log.debug('served', fields);
        else log.info('refused', fields);
      });
    } finally {
      inFlight--;
    }
  };
  const server = await listen(options.socketPath, handle);
  log.info('listening', { socket: options.socketPath, node });

  return {
    node,
    socketPath: options.socketPath,
    client,
    cache,
    metrics,
    health: () => cache.health(),
    stop: async (graceMs = 25_000) => {
      let timer: NodeJS.Timeout | undefined;
      const giveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([
        (async () => {
          await server.close();
          await addresses.settled();
        })(),
        giveUp,
      ]);
      clearTimeout(timer);
      watching.abort();
      await informers.catch(() => undefined);
      client.close();
    },
  };
}

/** While the caches have not synced: code 11 (the runtime retries), and STATUS says not available (50). */
function unavailable(node: string, reasons: string): CommandBackend {
  const reason = `the topology-ipam agent of node ${node} has not synced its caches with the API server yet (${reasons})`;
  const refuse = () => Promise.reject(new CniError({ kind: 'try-again', reason }));
  return {
    add: refuse,
    del: refuse,
    check: refuse,
    gc: refuse,
    status: () => Promise.reject(new CniError({ kind: 'not-available', reason })),
  };
}
