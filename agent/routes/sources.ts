/**
 * What the routes need from the API server, kept by informers: every BlockAffinity (which node holds
 * which block), every Node's InternalIPs (the agent's Node address informer, agent/all-nodes.ts) and
 * every IPAMBlock's borrowed addresses (allocations for a node other than the block's). All are
 * cluster-wide by nature (any node may hold a block or borrow an address this node routes to), so none
 * can be narrowed by a selector; each block is trimmed as it arrives to what the routes read, so the
 * cache holds no allocation a block's own node holds.
 */
import type { IpamResources } from '../../allocator/index.js';
import {
  type BlockAffinity,
  type IPAMBlock,
  allocationAddress,
  blockAffinitySpecSchema,
} from '../../api/index.js';
import { addressToString } from '../../ipam/index.js';
import { Informer, healthProblems, trimMetadata } from '../../kube/index.js';
import { wellFormedBlocks } from '../../cni/plan.js';
import { type NodeAddressCache, nodeChangeMatters } from '../all-nodes.js';
import type { BorrowedAddress, HeldBlock, NodeInternalIps } from './plan.js';

/** The affinity states whose block may hold addresses: pending ones have none yet. */
const routedStates: ReadonlySet<string> = new Set(['confirmed', 'pendingDeletion']);

/**
 * A block with its borrowed allocations only: the only ones routed other than by the block's route. A
 * block whose spec does not parse (stored before the CRD checked it) keeps none: its addresses could be
 * another block's.
 */
const trimBlock = (block: IPAMBlock): IPAMBlock => {
  const wellFormed = wellFormedBlocks([block]).length === 1;
  return {
    metadata: trimMetadata(block, { annotations: [], labels: false }).metadata,
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
  private readonly blocks: Informer<IPAMBlock>;

  constructor(
    resources: IpamResources,
    private readonly nodes: NodeAddressCache,
    onError?: (what: string, error: unknown) => void,
  ) {
    const options = (what: string) => ({
      maxBackoffMs: 5_000,
      onError: (error: unknown) => onError?.(what, error),
    });
    this.affinities = new Informer(resources.affinities, options('block affinities'));
    this.blocks = new Informer(resources.blocks, { ...options('blocks'), transform: trimBlock });
  }

  onChange(handler: () => void): void {
    this.affinities.onChange(handler);
    this.nodes.onChange((event, node, previous) => {
      if (nodeChangeMatters(event, node, previous)) handler();
    });
    // Every address assigned anywhere changes a block; only a borrowed one changes the routes.
    this.blocks.onChange((event, block, previous) => {
      const before = event === 'deleted' ? block : previous;
      const after = event === 'deleted' ? undefined : block;
      if (borrowedKey(before) !== borrowedKey(after)) handler();
    });
  }

  /** Runs the informers of its own (the Nodes' is the agent's). */
  run(signal: AbortSignal): Promise<void> {
    return Promise.all([this.affinities.run(signal), this.blocks.run(signal)]).then(() => undefined);
  }

  get synced(): Promise<void> {
    return Promise.all([this.affinities.synced, this.nodes.synced, this.blocks.synced]).then(() => undefined);
  }

  /** Why the routes cannot be trusted to be current, one line per cache of its own; empty when they can. */
  problems(): string[] {
    return [
      ...healthProblems('BlockAffinities (routes)', this.affinities.health()),
      ...healthProblems('IPAMBlocks (routes)', this.blocks.health()),
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
