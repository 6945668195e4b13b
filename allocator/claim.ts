import {
  type BlockAffinity,
  type IPAMBlock,
  type ReservationSet,
  isPendingBlock,
  isWhollyReserved,
  labels,
} from '../api/index.js';
import {
  type Cidr,
  blockRegion,
  cidrOverlaps,
  cidrToResourceName,
  cidrToString,
  safeParseCidr,
} from '../ipam/index.js';
import { isAlreadyExists, isConflict, isNotFound } from '../kube/index.js';
import { candidateBlocks } from './candidates.js';
import type { IpamResources } from './resources.js';

export interface ClaimRequest {
  readonly node: string;
  readonly poolName: string;
  readonly poolCidr: Cidr;
  readonly blockSize: number;
  /** Blocks of this pool the node holds already (to stay contiguous). */
  readonly held: readonly Cidr[];
  /** Names of blocks of this pool known to be taken (a hint: the API server has the final word). */
  readonly taken: ReadonlySet<string>;
  /** The IPReservations: a block they cover wholly could give no address, so it is never claimed. */
  readonly reservations?: ReservationSet;
  /** How many candidates to try before giving up (other claimers may race us for each). */
  readonly maxAttempts?: number;
}

export interface ClaimResult {
  /** The block now affine to the node, or undefined if no candidate could be claimed. */
  readonly block: IPAMBlock | undefined;
  /** Candidates given up because an existing block overlaps them (pools that overlap), as `new overlaps old`. */
  readonly overlaps: readonly string[];
}

/** The label selector of every block that could overlap `cidr` (see `blockRegion`). */
export function regionSelector(cidr: Cidr): string {
  return `${labels.region}=${cidrToResourceName(blockRegion(cidr))}`;
}

const blockLabels = (node: string, pool: string, cidr: Cidr) => ({
  [labels.node]: node,
  [labels.pool]: pool,
  [labels.region]: cidrToResourceName(blockRegion(cidr)),
});

/**
 * Claims one free block of a pool for a node and returns it, or no block if the pool has none.
 *
 * Names derived from the block's CIDR make two claimers of the same block collide on create: first the
 * BlockAffinity (pending), then the IPAMBlock. Names cannot stop two blocks of different sizes over one
 * range (pools that overlap, admitted while the webhook was down or racing each other), so the block is
 * created pending (`isPendingBlock`) and confirmed only if a list of its region, read after its creation,
 * shows no other block overlapping it; otherwise it is deleted. Of two overlapping blocks the one created
 * later always sees the earlier one, pending or confirmed, and gives up: two overlapping blocks are never
 * both confirmed (both may give up when they race; the next candidate is tried). A claimer that crashes
 * midway leaves a pending affinity and block that its node resumes on its next claim, or that garbage
 * collection removes. See docs/adr/0005-no-overlapping-blocks.md.
 */
export async function claimBlock(resources: IpamResources, request: ClaimRequest): Promise<ClaimResult> {
  const { node, poolName, poolCidr, blockSize } = request;
  const overlaps: string[] = [];
  let attempts = request.maxAttempts ?? 64;
  const { reservations } = request;
  const unusable = reservations && ((cidr: Cidr) => isWhollyReserved(reservations, cidr));
  for (const cidr of candidateBlocks(poolCidr, blockSize, request.held, request.taken, unusable)) {
    if (attempts-- <= 0) break;
    const outcome = await tryClaim(resources, node, poolName, cidr);
    if (outcome.kind === 'claimed') return { block: outcome.block, overlaps };
    if (outcome.kind === 'overlaps') {
      overlaps.push(overlapText(cidr, outcome.blocks));
    }
  }
  return { block: undefined, overlaps };
}

/**
 * Claims the one block `cidr` of a pool for a node (the block holding a pod's requested address), by the
 * same steps as `claimBlock`; no block when another node holds it, or it overlaps another pool's block.
 */
export async function claimThisBlock(
  resources: IpamResources,
  request: { readonly node: string; readonly poolName: string; readonly cidr: Cidr },
): Promise<ClaimResult> {
  const outcome = await tryClaim(resources, request.node, request.poolName, request.cidr);
  switch (outcome.kind) {
    case 'claimed':
      return { block: outcome.block, overlaps: [] };
    case 'taken':
      return { block: undefined, overlaps: [] };
    case 'overlaps':
      return { block: undefined, overlaps: [overlapText(request.cidr, outcome.blocks)] };
  }
}

const overlapText = (cidr: Cidr, blocks: readonly string[]): string =>
  `${cidrToString(cidr)} overlaps ${blocks.join(', ')}`;

type TryOutcome =
  | { readonly kind: 'claimed'; readonly block: IPAMBlock }
  | { readonly kind: 'taken' }
  | { readonly kind: 'overlaps'; readonly blocks: readonly string[] };

async function tryClaim(
  resources: IpamResources,
  node: string,
  pool: string,
  cidr: Cidr,
): Promise<TryOutcome> {
  const name = cidrToResourceName(cidr);
  const cidrText = cidrToString(cidr);
  const metadata = { name, labels: blockLabels(node, pool, cidr) };
  let affinity: BlockAffinity;
  try {
    affinity = await resources.affinities.create({
      metadata,
      spec: { node, cidr: cidrText, pool, state: 'pending' },
    });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    affinity = await resources.affinities.get(name);
    // Another node's claim, or one of ours being released: not ours to take.
    if (affinity.spec.node !== node || affinity.spec.state === 'pendingDeletion') return { kind: 'taken' };
  }
  let block: IPAMBlock;
  try {
    block = await resources.blocks.create({
      metadata,
      spec: { cidr: cidrText, pool, node: '', allocations: [], cooling: [] },
    });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    block = await resources.blocks.get(name);
    const ours = isPendingBlock(block)
      ? block.metadata.labels?.[labels.node] === node
      : block.spec.node === node;
    if (!ours) {
      // A block without a matching affinity (left by a crash or written by hand): leave it to GC.
      await deleteQuietly(resources.affinities, name, affinity.metadata.resourceVersion);
      return { kind: 'taken' };
    }
  }
  if (isPendingBlock(block)) {
    const overlapping = await overlappingBlocks(resources, cidr, name);
    if (overlapping.length > 0) {
      await deleteQuietly(resources.blocks, name, block.metadata.resourceVersion);
      await deleteQuietly(resources.affinities, name, affinity.metadata.resourceVersion);
      return { kind: 'overlaps', blocks: overlapping };
    }
    try {
      block = await resources.blocks.replace({ ...block, spec: { ...block.spec, node } });
    } catch (error) {
      // Collected as a stale claim meanwhile: whatever overlaps it now, it is not ours any more.
      if (isNotFound(error) || isConflict(error)) return { kind: 'taken' };
      throw error;
    }
  }
  if (affinity.spec.state !== 'confirmed') {
    await resources.affinities.replace({ ...affinity, spec: { ...affinity.spec, state: 'confirmed' } });
  }
  return { kind: 'claimed', block };
}

/**
 * Blocks other than `self` overlapping `cidr`, from a list of its region made after `self` was created
 * (a list without resourceVersion is a consistent read). A block whose range cannot be read might
 * overlap: it stops the claim until it is repaired or removed.
 */
async function overlappingBlocks(resources: IpamResources, cidr: Cidr, self: string): Promise<string[]> {
  const region = await resources.blocks.list({ labelSelector: regionSelector(cidr) });
  return region.items.flatMap((other) => {
    if (other.metadata.name === self) return [];
    const parsed = safeParseCidr(other.spec.cidr);
    if (parsed.ok && !cidrOverlaps(parsed.value, cidr)) return [];
    return [`${other.spec.cidr} (pool ${other.spec.pool})`];
  });
}

async function deleteQuietly(
  client: IpamResources['blocks'] | IpamResources['affinities'],
  name: string,
  resourceVersion?: string,
): Promise<void> {
  try {
    await client.delete(name, resourceVersion === undefined ? {} : { resourceVersion });
  } catch (error) {
    if (!isNotFound(error) && !isConflict(error)) throw error;
  }
}

export type ReleaseOutcome = 'released' | 'in-use' | 'gone';

/**
 * Releases a node's block if it holds no address: affinity to pendingDeletion, then the block is
 * deleted only at the resourceVersion at which it was seen empty (a concurrent assignment makes the
 * delete fail and the block is kept), then the affinity goes. Safe to repeat and to resume after a crash.
 */
export async function releaseBlockIfEmpty(
  resources: IpamResources,
  blockName: string,
): Promise<ReleaseOutcome> {
  let affinity: BlockAffinity | undefined;
  try {
    affinity = await resources.affinities.get(blockName);
    if (affinity.spec.state !== 'pendingDeletion') {
      affinity = await resources.affinities.replace({
        ...affinity,
        spec: { ...affinity.spec, state: 'pendingDeletion' },
      });
    }
  } catch (error) {
    if (!isNotFound(error)) throw error;
    affinity = undefined;
  }
  let block: IPAMBlock | undefined;
  try {
    block = await resources.blocks.get(blockName);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  if (block && block.spec.allocations.length > 0) {
    if (affinity)
      await resources.affinities.replace({ ...affinity, spec: { ...affinity.spec, state: 'confirmed' } });
    return 'in-use';
  }
  if (block) {
    try {
      await resources.blocks.delete(
        blockName,
        block.metadata.resourceVersion === undefined
          ? {}
          : { resourceVersion: block.metadata.resourceVersion },
      );
    } catch (error) {
      if (isConflict(error)) return releaseBlockIfEmpty(resources, blockName);
      if (!isNotFound(error)) throw error;
    }
  }
  if (affinity) await deleteQuietly(resources.affinities, blockName, affinity.metadata.resourceVersion);
  return block || affinity ? 'released' : 'gone';
}
