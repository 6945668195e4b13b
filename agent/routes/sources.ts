/**
 * What the routes need from the API server, kept by informers: every BlockAffinity (which node holds
 * which block) and every Node's InternalIPs. Both are cluster-wide by nature (any node may hold a block
 * this node routes to), so neither can be narrowed by a selector; a Node is trimmed to its name and
 * addresses as it arrives, so the cache holds no images, conditions or labels of a thousand nodes.
 */
import { errorMessage } from '../../common/index.js';
import type { IpamResources } from '../../allocator/index.js';
import { type BlockAffinity, blockAffinitySpecSchema } from '../../api/index.js';
import {
  Informer,
  type InformerHealth,
  type Node,
  type ResourceClient,
  ResourceClient as Client,
  coreResources,
} from '../../kube/index.js';
import type { HeldBlock, NodeInternalIps } from './plan.js';

/** The affinity states whose block may hold addresses: pending ones have none yet. */
const routedStates: ReadonlySet<string> = new Set(['confirmed', 'pendingDeletion']);

/** A list and watch of Nodes that keeps only what the routes read. */
function trimmedNodes(nodes: ResourceClient<Node>): Pick<ResourceClient<Node>, 'list' | 'watch'> {
  const trim = (node: Node): Node => ({
    metadata: {
      name: node.metadata.name,
      ...(node.metadata.resourceVersion === undefined
        ? {}
        : { resourceVersion: node.metadata.resourceVersion }),
    },
    status: { addresses: node.status?.addresses ?? [] },
  });
  return {
    list: async (options) => {
      const list = await nodes.list(options);
      return { ...list, items: list.items.map(trim) };
    },
    watch: (options, onEvent) =>
      nodes.watch(options, (event) => {
        onEvent({ ...event, object: trim(event.object) });
      }),
  };
}

export class RouteSources {
  private readonly affinities: Informer<BlockAffinity>;
  private readonly nodes: Informer<Node>;

  constructor(resources: IpamResources, onError?: (what: string, error: unknown) => void) {
    const options = (what: string) => ({
      maxBackoffMs: 5_000,
      onError: (error: unknown) => onError?.(what, error),
    });
    this.affinities = new Informer(resources.affinities, options('block affinities'));
    this.nodes = new Informer(
      trimmedNodes(new Client<Node>(resources.client, coreResources.nodes)),
      options('nodes'),
    );
  }

  onChange(handler: () => void): void {
    this.affinities.onChange(handler);
    this.nodes.onChange(handler);
  }

  run(signal: AbortSignal): Promise<void> {
    return Promise.all([this.affinities.run(signal), this.nodes.run(signal)]).then(() => undefined);
  }

  get synced(): Promise<void> {
    return Promise.all([this.affinities.synced, this.nodes.synced]).then(() => undefined);
  }

  /** Why the routes cannot be trusted to be current, one line per cache; empty when they can. */
  problems(): string[] {
    const describe = (what: string, health: InformerHealth): string[] => {
      switch (health.state) {
        case 'healthy':
          return [];
        case 'unsynced':
          return [`${what}: not listed yet`];
        case 'failing':
          return [`${what}: failing since ${health.since.toISOString()}: ${errorMessage(health.error)}`];
      }
    };
    return [
      ...describe('BlockAffinities (routes)', this.affinities.health()),
      ...describe('Nodes (routes)', this.nodes.health()),
    ];
  }

  /** The blocks held by some node (affinities that do not parse are skipped: they route nothing). */
  heldBlocks(): HeldBlock[] {
    return this.affinities.list().flatMap((affinity) => {
      const spec = blockAffinitySpecSchema.safeParse(affinity.spec);
      if (!spec.success || !routedStates.has(spec.data.state)) return [];
      return [{ cidr: spec.data.cidr, node: spec.data.node }];
    });
  }

  nodeInternalIps(): NodeInternalIps[] {
    return this.nodes.list().map((node) => ({
      name: node.metadata.name,
      internalIps: (node.status?.addresses ?? []).flatMap((address) =>
        address.type === 'InternalIP' ? [address.address] : [],
      ),
    }));
  }
}
