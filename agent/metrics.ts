import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestCounts } from '../kube/index.js';
import type { BatchObserver } from './block-writer.js';

/** The agent's Prometheus metrics, on a registry of its own (tests run several agents in one process). */
export interface AgentMetrics extends BatchObserver {
  readonly registry: Registry;
  readonly requestDuration: Histogram<'command' | 'result'>;
}

/** A counter per sync the agent runs; each failure is retried at the next change or resync. */
const syncErrorMetrics = {
  routes: {
    name: 'topology_ipam_agent_route_sync_errors_total',
    help: 'Route syncs (agent/routes/) that failed; each is retried at the next change or resync, and its error and advice are logged.',
  },
  natOutgoing: {
    name: 'topology_ipam_agent_nat_sync_errors_total',
    help: 'natOutgoing table syncs (agent/nat/) that failed; each is retried at the next change or resync, and its error and advice are logged.',
  },
} as const;

export function createAgentMetrics(options: {
  readonly defaultMetrics?: boolean;
  readonly requestCounts: () => RequestCounts;
  /** Seconds since the caches last heard from the API server. */
  readonly cacheAgeSeconds: () => number;
  readonly inFlight: () => number;
  /** Syncs that failed so far, of what the agent keeps in step in the kernel (only what it runs). */
  readonly syncFailures?: { readonly [Sync in keyof typeof syncErrorMetrics]?: () => number };
}): AgentMetrics {
  const registry = new Registry();
  if (options.defaultMetrics === true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  new Counter({
    name: 'topology_ipam_api_requests_total',
    help: 'Requests this agent sent to the Kubernetes API server, by method.',
    labelNames: ['method'],
    registers,
    collect() {
      this.reset();
      for (const [method, count] of Object.entries(options.requestCounts())) this.inc({ method }, count);
    },
  });
  new Gauge({
    name: 'topology_ipam_agent_cache_age_seconds',
    help: 'Seconds since any of the agent’s watches last delivered an object (quiet clusters grow this; resyncs reset it).',
    registers,
    collect() {
      this.set(options.cacheAgeSeconds());
    },
  });
  new Gauge({
    name: 'topology_ipam_agent_requests_in_flight',
    help: 'CNI requests the agent is serving now.',
    registers,
    collect() {
      this.set(options.inFlight());
    },
  });
  for (const [sync, failures] of Object.entries(options.syncFailures ?? {}))
    new Counter({
      ...syncErrorMetrics[sync as keyof typeof syncErrorMetrics],
      registers,
      collect() {
        this.reset();
        this.inc(failures());
      },
    });
  const batchSize = new Histogram({
    name: 'topology_ipam_agent_batch_size',
    help: 'Changes (address assignments and releases) carried by one block write attempt.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers,
  });
  const writes = new Counter({
    name: 'topology_ipam_agent_block_writes_total',
    help: 'Block write attempts, by outcome: written, conflict (re-read and retried), failed.',
    labelNames: ['outcome'],
    registers,
  });
  return {
    registry,
    requestDuration: new Histogram({
      name: 'topology_ipam_agent_request_duration_seconds',
      help: 'Time the agent took to answer a CNI request, by command and result (ok, or the CNI error code).',
      labelNames: ['command', 'result'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    attempted(size, outcome) {
      batchSize.observe(size);
      writes.inc({ outcome });
    },
  };
}
