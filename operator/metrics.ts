import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestCounts } from '../kube/index.js';

/** The operator's Prometheus metrics, on a registry of its own (tests run several operators in one process). */
export interface OperatorMetrics {
  readonly registry: Registry;
  readonly reconcileDuration: Histogram<'controller' | 'outcome'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly poolCapacity: Gauge<'pool'>;
  readonly poolUsed: Gauge<'pool'>;
  readonly poolBlocks: Gauge<'pool'>;
  readonly nodeBlocks: Gauge<'node'>;
  readonly unselectedNodes: Gauge;
  readonly leader: Gauge;
  readonly blocksClaimed: Counter<'pool'>;
  readonly blocksReleased: Counter<'pool'>;
  readonly addressesCollected: Counter<'reason'>;
  readonly leakCollectionPaused: Gauge;
  readonly leaksSpared: Counter<'reason'>;
  readonly malformedObjects: Gauge<'kind'>;
}

export function createMetrics(
  options: { defaultMetrics?: boolean; requestCounts?: () => RequestCounts } = {},
): OperatorMetrics {
  const registry = new Registry();
  if (options.defaultMetrics === true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const { requestCounts } = options;
  if (requestCounts) {
    new Counter({
      name: 'topology_ipam_api_requests_total',
      help: 'Requests this replica sent to the Kubernetes API server, by method.',
      labelNames: ['method'],
      registers,
      collect() {
        // The client keeps the counts; a scrape copies them.
        this.reset();
        for (const [method, count] of Object.entries(requestCounts())) this.inc({ method }, count);
      },
    });
  }
  return {
    registry,
    reconcileDuration: new Histogram({
      name: 'topology_ipam_reconcile_duration_seconds',
      help: 'Time one reconcile pass took, by controller and outcome.',
      labelNames: ['controller', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    }),
    reconcileErrors: new Counter({
      name: 'topology_ipam_reconcile_errors_total',
      help: 'Reconcile passes that failed, by controller.',
      labelNames: ['controller'],
      registers,
    }),
    poolCapacity: new Gauge({
      name: 'topology_ipam_pool_capacity_addresses',
      help: 'Addresses in each IPPool (IPv6 pools are capped at 2^53 by the float).',
      labelNames: ['pool'],
      registers,
    }),
    poolUsed: new Gauge({
      name: 'topology_ipam_pool_used_addresses',
      help: 'Addresses of each IPPool assigned to workloads.',
      labelNames: ['pool'],
      registers,
    }),
    poolBlocks: new Gauge({
      name: 'topology_ipam_pool_blocks',
      help: 'Blocks of each IPPool affine to a node.',
      labelNames: ['pool'],
      registers,
    }),
    nodeBlocks: new Gauge({
      name: 'topology_ipam_node_blocks',
      help: 'Blocks each node holds.',
      labelNames: ['node'],
      registers,
    }),
    unselectedNodes: new Gauge({
      name: 'topology_ipam_unselected_nodes',
      help: 'Nodes that no allocatable IPPool selects: pods there cannot get an address.',
      registers,
    }),
    leader: new Gauge({
      name: 'topology_ipam_leader',
      help: '1 while this replica holds the leader lease.',
      registers,
    }),
    blocksClaimed: new Counter({
      name: 'topology_ipam_blocks_claimed_total',
      help: 'Blocks claimed for nodes, by pool.',
      labelNames: ['pool'],
      registers,
    }),
    blocksReleased: new Counter({
      name: 'topology_ipam_blocks_released_total',
      help: 'Blocks released from nodes, by pool.',
      labelNames: ['pool'],
      registers,
    }),
    addressesCollected: new Counter({
      name: 'topology_ipam_addresses_collected_total',
      help: 'Leaked addresses garbage-collected, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    leakCollectionPaused: new Gauge({
      name: 'topology_ipam_leak_collection_paused',
      help:
        "1 while no leaked address is collected because the operator's pods cache is not current " +
        '(listing or watching pods fails): see its log and the LeakCollectionPaused Events on nodes.',
      registers,
    }),
    leaksSpared: new Counter({
      name: 'topology_ipam_leaks_spared_total',
      help:
        'Addresses the pods cache showed as leaked but a direct read of the pod kept, by why: ' +
        'pod-holds-address (the cache was wrong), pod-unreadable (retried later).',
      labelNames: ['reason'],
      registers,
    }),
    malformedObjects: new Gauge({
      name: 'topology_ipam_malformed_objects',
      help: 'Objects the controllers skip because their spec does not parse, or IPReservations with entries they skip (each has a Warning Event), by kind.',
      labelNames: ['kind'],
      registers,
    }),
  };
}
