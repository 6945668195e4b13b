/**
 * What the natOutgoing table is computed from: every IPPool (the agent's pool cache) and every Node's
 * InternalIPs and ExternalIPs (the agent's Node address informer, agent/all-nodes.ts), never masqueraded
 * to (Felix's all-hosts-net). Only changes of what the table reads trigger a sync: a Node's heartbeat or
 * a pool's status does not.
 */
import { type IPPool, ipPoolSpecSchema } from '../../api/index.js';
import type { InformerEvent, InformerHandler } from '../../kube/index.js';
import { type NodeAddressCache, nodeChangeMatters } from '../all-nodes.js';
import type { Triggers } from '../level-triggered.js';
import type { NatPool, NodeAddresses } from './plan.js';

const natSpecSchema = ipPoolSpecSchema.pick({ cidr: true, natOutgoing: true });

/** The pools as the agent already caches them (NodeCache). */
export interface PoolCache {
  readonly synced: Promise<void>;
  pools(): IPPool[];
  onPoolChange(handler: InformerHandler<IPPool>): void;
}

export interface NatInputs extends Triggers {
  pools(): NatPool[];
  nodeAddresses(): NodeAddresses[];
}

const natPool = (pool: IPPool): NatPool | undefined => {
  const spec = natSpecSchema.safeParse(pool.spec);
  return spec.success ? { name: pool.metadata.name, ...spec.data } : undefined;
};

const changed = (before: unknown, after: unknown) => JSON.stringify(before) !== JSON.stringify(after);

/** A pool added or deleted, or its CIDR or natOutgoing changed; not its status, labels or other fields. */
export const poolChangeMatters = (
  event: InformerEvent,
  pool: IPPool,
  previous: IPPool | undefined,
): boolean => event !== 'modified' || changed(natPool(pool), previous && natPool(previous));

export class NatSources implements NatInputs {
  constructor(
    private readonly poolCache: PoolCache,
    private readonly nodes: NodeAddressCache,
  ) {}

  onChange(handler: () => void): void {
    this.poolCache.onPoolChange((event, pool, previous) => {
      if (poolChangeMatters(event, pool, previous)) handler();
    });
    this.nodes.onChange((event, node, previous) => {
      if (nodeChangeMatters(event, node, previous)) handler();
    });
  }

  get synced(): Promise<void> {
    return Promise.all([this.poolCache.synced, this.nodes.synced]).then(() => undefined);
  }

  pools(): NatPool[] {
    return this.poolCache.pools().flatMap((pool) => natPool(pool) ?? []);
  }

  nodeAddresses(): NodeAddresses[] {
    return this.nodes.list().map((node) => ({
      name: node.metadata.name,
      addresses: (node.status?.addresses ?? []).map((address) => address.address),
    }));
  }
}
