/**
 * What the routes need from the API server, kept by informers: every BlockAffinity (which node holds
 * which block), every Node's InternalIPs and every IPAMBlock's borrowed addresses (allocations for a
 * node other than the block's). All are cluster-wide by nature (any node may hold a block or borrow an
 * address this node routes to), so none can be narrowed by a selector; each object is trimmed to what
 * the routes read as it arrives, so the cache holds no images, conditions or labels of a thousand nodes,
 * and no allocation a block's own node holds.
 */
import { errorMessage } from '../../common/index.js';
import type { IpamResources } from '../../allocator/index.js';
import {
  type BlockAffinity,
  type IPAMBlock,
  allocationAddress,
  blockAffinitySpecSchema,
} from '../../api/index.js';
import { addressToString } from '../../ipam/index.js';
import {
  Informer,
  type InformerHealth,
  type KubeObject,
  type Node,
  ResourceClient,
  coreResources,
  trimmedSource,
} from '../../kube/index.js';
import { wellFormedBlocks } from '../../cni/plan.js';
import type { BorrowedAddress, HeldBlock, NodeInternalIps } from './plan.js';

/** The affinity states whose block may hold addresses: pending ones have none yet. */
const routedStates: ReadonlySet<string> = new Set(['confirmed', 'pendingDeletion']);

const trimmedMetadata = (metadata: KubeObject['metadata']) => ({
  name: metadata.name,
  ...(metadata.resourceVersion === undefined ? {} : { resourceVersion: metadata.resourceVersion }),
});

const trimNode = (node: Node): Node => ({
  metadata: trimmedMetadata(node.metadata),
  status: { addresses: node.status?.addresses ?? [] },
});

/**
 * A block with its borrowed allocations only: the only ones routed other than by the block's route. A
 * block whose spec does not parse (stored before the CRD checked it) keeps none: its addresses could be
 * another block's.
 */
const trimBlock = (block: IPAMBlock): IPAMBlock => {
  const wellFormed = wellFormedBlocks([block]).length === 1;
  return {
    metadata: trimmedMetadata(block.metadata),
    spec: {
      ...block.spec,
      allocations: wellFormed
        ? block.spec.allocations.filter((allocation) => allocation.node !== block.spec.node)
        : [],
      cooling: [],
    },
  };
};

/** What of a trimmed block the routes depend on. */
const borrowedKey = (block: IPAMBlock | undefined): string =>
  block === undefined
    ? ''
    : block.spec.allocations.map((allocation) => `${allocation.ordinal}@${allocation.node}`).join(',');

export class RouteSources {
  private readonly affinities: Informer<BlockAffinity>;
  private readonly nodes: Informer<Node>;
  private readonly blocks: Informer<IPAMBlock>;

  constructor(resources: IpamResources, onError?: (what: string, error: unknown) => void) {
    const options = (what: string) => ({
      maxBackoffMs: 5_000,
      onError: (error: unknown) => onError?.(what, error),
    });
    this.affinities = new Informer(resources.affinities, options('block affinities'));
    this.nodes = new Informer(
      trimmedSource(new ResourceClient<Node>(resources.client, coreResources.nodes), trimNode),
      options('nodes'),
    );
    this.blocks = new Informer(trimmedSource(resources.blocks, trimBlock), options('blocks'));
  }

  onChange(handler: () => void): void {
    this.affinities.onChange(handler);
    this.nodes.onChange(handler);
    // Every address assigned anywhere changes a block; only a borrowed one changes the routes.
    this.blocks.onChange((event, block, previous) => {
      const before = event === 'deleted' ? block : previous;
      const after = event === 'deleted' ? undefined : block;
      if (borrowedKey(before) !== borrowedKey(after)) handler();
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return Promise.all([this.affinities.run(signal), this.nodes.run(signal), this.blocks.run(signal)]).then(
      () => undefined,
    );
  }

  get synced(): Promise<void> {
    return Promise.all([this.affinities.synced, this.nodes.synced, this.blocks.synced]).then(() => undefined);
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
      ...describe('IPAMBlocks (routes)', this.blocks.health()),
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

  /** Addresses assigned to a pod of another node than the one their block belongs to. */
  borrowedAddresses(): BorrowedAddress[] {
    // Trimmed blocks are well-formed: every ordinal is inside the block's CIDR.
    return this.blocks.list().flatMap((block) =>
      block.spec.allocations.map((allocation) => ({
        address: addressToString(allocationAddress(block.spec, allocation.ordinal)),
        node: allocation.node,
      })),
    );
  }
}
