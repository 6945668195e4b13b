/**
 * The node agent put together: the node's caches, the block writer, the addresses, the socket. Used by
 * `main.ts` (the process the chart runs) and in-process by tests and benchmarks.
 */
import { errorMessage } from '../common/index.js';
import { ipamResources } from '../allocator/index.js';
import { CniError } from '../cni/errors.js';
import { type CommandBackend, type Outcome, run } from '../cni/run.js';
import { type Informer, type KubeClient, type Node, healthProblems } from '../kube/index.js';
import { eventRecorder } from '../runtime/index.js';
import { parseSelector } from '../selector/index.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IpamResources } from '../allocator/index.js';
import { labels, normalizePoolSpec } from '../api/index.js';
import type { Logger } from '../common/index.js';
import { NodeAddresses } from './addresses.js';
import { nodeAddressInformer } from './all-nodes.js';
import { BlockWriter } from './block-writer.js';
import { BorrowIndex, borrowedAddresses } from './borrowed.js';
import { type AgentMetrics, createAgentMetrics } from './metrics.js';
import { type RunningNat, startNat } from './nat/index.js';
import { type CacheHealth, NodeCache } from './node-cache.js';
import { type RunningRoutes, startRoutes } from './routes/index.js';
import { listen } from './server.js';
import { WorkloadCache } from './workloads.js';

export interface AgentOptions {
  readonly node: string;
  readonly client: KubeClient;
  readonly socketPath: string;
  readonly log?: Logger;
  /** How long a request that arrives before the caches are synced waits for them. */
  readonly syncWaitMs?: number;
  readonly defaultMetrics?: boolean;
  /** Installs the pod network's routes (agent/routes/), in the named network namespace or the agent's own. */
  readonly routes?: { readonly netns?: string; readonly resyncMs?: number };
  /** Masquerades natOutgoing pools' traffic (agent/nat/), in the named network namespace or the agent's own. */
  readonly natOutgoing?: { readonly netns?: string; readonly resyncMs?: number };
}

export interface RunningAgent {
  readonly node: string;
  readonly socketPath: string;
  readonly client: KubeClient;
  readonly cache: NodeCache;
  /** The node's pods and the namespaces (annotations, labels). */
  readonly workloads: WorkloadCache;
  readonly metrics: AgentMetrics;
  /** The route sync, when `routes` was asked for. */
  readonly routes: RunningRoutes | undefined;
  /** The natOutgoing table's sync, when `natOutgoing` was asked for. */
  readonly natOutgoing: RunningNat | undefined;
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
      error: errorMessage(error),
    });
  });
  const workloads = new WorkloadCache(client, node, (what, error) => {
    log.warn('watch failed; listing again after a pause (ADDs read their pod and namespace meanwhile)', {
      cache: what,
      error: errorMessage(error),
    });
  });
  const watching = new AbortController();
  const informers = Promise.all([cache.run(watching.signal), workloads.run(watching.signal)]);
  // One watch of every Node's addresses, shared by the routes and natOutgoing.
  let allNodes: Informer<Node> | undefined;
  const nodeAddresses = () =>
    (allNodes ??= nodeAddressInformer(client, (error) => {
      log.warn('watch failed; listing again after a pause', { cache: 'nodes', error: errorMessage(error) });
    }));
  // Events on the Node about the routes' and natOutgoing's syncs.
  const events = eventRecorder(client, { component: 'topology-ipam-agent', instance: node, log });
  const routes =
    options.routes === undefined
      ? undefined
      : startRoutes(node, resources, nodeAddresses(), options.routes, log, events, watching.signal);
  const natOutgoing =
    options.natOutgoing === undefined
      ? undefined
      : startNat(node, cache, nodeAddresses(), options.natOutgoing, log, events, watching.signal);
  const nodeInformer = allNodes?.run(watching.signal);
  let inFlight = 0;
  const metrics = createAgentMetrics({
    defaultMetrics: options.defaultMetrics ?? false,
    requestCounts: () => client.counts,
    cacheAgeSeconds: () => (cache.lastEventAt === 0 ? 0 : (Date.now() - cache.lastEventAt) / 1000),
    inFlight: () => inFlight,
    syncFailures: {
      ...(routes === undefined ? {} : { routes: () => routes.sync.failures }),
      ...(natOutgoing === undefined ? {} : { natOutgoing: () => natOutgoing.sync.failures }),
    },
  });
  const writer = new BlockWriter(cache, { observer: metrics });
  const borrowed = new BorrowIndex();
  const addresses = new NodeAddresses({
    node,
    resources,
    cache,
    writer,
    borrowed,
    workloads,
  });
  // Short, so that the wait and the request's own timeout stay within what the forwarder waits.
  const syncWaitMs = options.syncWaitMs ?? 3_000;
  let synced = false;
  const ready = cache.synced
    .then(() => findBorrowed(resources, cache, borrowed, log, watching.signal))
    .then(() => {
      synced = true;
      log.info('caches synced', {
        blocks: cache.blocks().length,
        pools: cache.pools().length,
        borrowed: borrowed.handles().length,
      });
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
    const outcome = await Promise.race([ready.then(() => 'synced' as const), timedOut]);
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
    workloads,
    metrics,
    routes,
    natOutgoing,
    health: () => {
      const health = cache.health();
      const reasons = [
        ...health.reasons,
        ...(allNodes === undefined
          ? []
          : healthProblems("Nodes (every node's addresses)", allNodes.health())),
        ...(routes?.problems() ?? []),
      ];
      return { ready: reasons.length === 0, reasons };
    },
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
      await nodeInformer;
      await routes?.stopped;
      await natOutgoing?.stopped;
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

/**
 * Rebuilds the index of addresses this node borrowed from other nodes' blocks: one list per pool that
 * selects the node (the pools it may borrow from), retried until it succeeds; requests wait for it.
 */
async function findBorrowed(
  resources: IpamResources,
  cache: NodeCache,
  borrowed: BorrowIndex,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const nodeLabels = cache.nodeLabels() ?? {};
  const pools = cache.pools().filter((pool) => {
    try {
      return parseSelector(normalizePoolSpec(pool.spec).nodeSelector).matches(nodeLabels);
    } catch {
      return false;
    }
  });
  for (let failures = 0; !signal.aborted; failures++) {
    try {
      for (const pool of pools) {
        const blocks = await resources.blocks.list({ labelSelector: `${labels.pool}=${pool.metadata.name}` });
        for (const [handle, block] of borrowedAddresses(blocks.items, cache.node))
          borrowed.add(handle, block);
      }
      return;
    } catch (error) {
      log.warn('cannot list the blocks this node may have borrowed from; trying again', {
        error: errorMessage(error),
      });
      await sleep(Math.min(5_000, 250 * 2 ** failures), undefined, { signal }).catch(() => undefined);
    }
  }
}
