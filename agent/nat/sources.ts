/**
 * What the natOutgoing table is computed from: every IPPool (the agent's pool cache) and every Node's
 * addresses, kept by an informer that trims each Node to its InternalIPs and ExternalIPs as it arrives.
 * Only changes of what the table reads trigger a sync: a Node's heartbeat or a pool's status does not.
 */
import { errorMessage } from '../../common/index.js';
import type { IpamResources } from '../../allocator/index.js';
import { type IPPool, ipPoolSpecSchema } from '../../api/index.js';
import {
  Informer,
  type InformerEvent,
  type InformerHandler,
  type InformerHealth,
  type Node,
  ResourceClient,
  coreResources,
} from '../../kube/index.js';
import type { Triggers } from '../level-triggered.js';
import type { NatPool, NodeAddresses } from './plan.js';

/** The Node addresses traffic to is never masqueraded (Felix's all-hosts-net). */
const nodeAddressTypes: ReadonlySet<string> = new Set(['InternalIP', 'ExternalIP']);
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

const trimNode = (node: Node): Node => ({
  metadata: {
    name: node.metadata.name,
    ...(node.metadata.resourceVersion === undefined
      ? {}
      : { resourceVersion: node.metadata.resourceVersion }),
  },
  status: {
    addresses: (node.status?.addresses ?? []).filter((address) => nodeAddressTypes.has(address.type)),
  },
});

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

/** A Node added or deleted, or its addresses changed; not a heartbeat. */
export const nodeChangeMatters = (event: InformerEvent, node: Node, previous: Node | undefined): boolean =>
  event !== 'modified' || changed(trimNode(node).status, previous && trimNode(previous).status);

export class NatSources implements NatInputs {
  private readonly nodes: Informer<Node>;

  constructor(
    private readonly poolCache: PoolCache,
    resources: IpamResources,
    onError?: (what: string, error: unknown) => void,
  ) {
    this.nodes = new Informer(new ResourceClient<Node>(resources.client, coreResources.nodes), {
      maxBackoffMs: 5_000,
      transform: trimNode,
      onError: (error: unknown) => onError?.('nodes', error),
    });
  }

  onChange(handler: () => void): void {
    this.poolCache.onPoolChange((event, pool, previous) => {
      if (poolChangeMatters(event, pool, previous)) handler();
    });
    this.nodes.onChange((event, node, previous) => {
      if (nodeChangeMatters(event, node, previous)) handler();
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return this.nodes.run(signal);
  }

  get synced(): Promise<void> {
    return Promise.all([this.poolCache.synced, this.nodes.synced]).then(() => undefined);
  }

  /** Why the table may not be current, one line; empty when it is current (the pools are the cache's). */
  problems(): string[] {
    const health: InformerHealth = this.nodes.health();
    switch (health.state) {
      case 'healthy':
        return [];
      case 'unsynced':
        return ['Nodes (natOutgoing): not listed yet'];
      case 'failing':
        return [
          `Nodes (natOutgoing): failing since ${health.since.toISOString()}: ${errorMessage(health.error)}`,
        ];
    }
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
