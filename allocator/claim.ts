import { labels } from '../api/index.js';
import { type Cidr, cidrToResourceName, cidrToString } from '../ipam/index.js';
import { isAlreadyExists, isConflict, isNotFound } from '../kube/index.js';
import { candidateBlocks } from './candidates.js';
import type { BlockAffinity, IPAMBlock, IpamResources } from './resources.js';

export interface ClaimRequest {
  readonly node: string;
  readonly poolName: string;
  readonly poolCidr: Cidr;
  readonly blockSize: number;
  /** Blocks of this pool the node holds already (to stay contiguous). */
  readonly held: readonly Cidr[];
  /** Names of blocks of this pool known to be taken (a hint: the API server has the final word). */
  readonly taken: ReadonlySet<string>;
  /** How many candidates to try before giving up (other claimers may race us for each). */
  readonly maxAttempts?: number;
}

const blockLabels = (node: string, pool: string) => ({ [labels.node]: node, [labels.pool]: pool });

/**
 * Claims one free block of a pool for a node and returns it, or `undefined` if the pool has none.
 *
 * The claim is create-if-absent on names derived from the block's CIDR: first the BlockAffinity
 * (pending), then the IPAMBlock, then the affinity is confirmed. Two claimers (operator replicas, CNI
 * plugins on different nodes) racing for one block cannot both win: the API server lets exactly one
 * create each name. A claimer that crashes midway leaves a pending affinity that its node completes on
 * its next claim, or that garbage collection removes.
 */
export async function claimBlock(
  resources: IpamResources,
  request: ClaimRequest,
): Promise<IPAMBlock | undefined> {
  const { node, poolName, poolCidr, blockSize } = request;
  let attempts = request.maxAttempts ?? 64;
  for (const cidr of candidateBlocks(poolCidr, blockSize, request.held, request.taken)) {
    if (attempts-- <= 0) return undefined;
    const block = await tryClaim(resources, node, poolName, cidr);
    if (block) return block;
  }
  return undefined;
}

async function tryClaim(
  resources: IpamResources,
  node: string,
  pool: string,
  cidr: Cidr,
): Promise<IPAMBlock | undefined> {
  const name = cidrToResourceName(cidr);
  const cidrText = cidrToString(cidr);
  let affinity: BlockAffinity;
  try {
    affinity = await resources.affinities.create({
      metadata: { name, labels: blockLabels(node, pool) },
      spec: { node, cidr: cidrText, pool, state: 'pending' },
    });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    affinity = await resources.affinities.get(name);
    // Another node's claim, or one of ours being released: not ours to take.
    if (affinity.spec.node !== node || affinity.spec.state === 'pendingDeletion') return undefined;
  }
  let block: IPAMBlock;
  try {
    block = await resources.blocks.create({
      metadata: { name, labels: blockLabels(node, pool) },
      spec: { cidr: cidrText, pool, node, allocations: [], cooling: [] },
    });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    block = await resources.blocks.get(name);
    if (block.spec.node !== node) {
      // A block without a matching affinity (left by a crash or written by hand): leave it to GC.
      await deleteQuietly(resources, name, affinity.metadata.resourceVersion);
      return undefined;
    }
  }
  if (affinity.spec.state !== 'confirmed') {
    await resources.affinities.replace({ ...affinity, spec: { ...affinity.spec, state: 'confirmed' } });
  }
  return block;
}

async function deleteQuietly(
  resources: IpamResources,
  name: string,
  resourceVersion?: string,
): Promise<void> {
  try {
    await resources.affinities.delete(name, resourceVersion === undefined ? {} : { resourceVersion });
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
  if (affinity) await deleteQuietly(resources, blockName, affinity.metadata.resourceVersion);
  return block || affinity ? 'released' : 'gone';
}
