import { labels } from '../api/index.js';
import type { IpamResources } from '../allocator/index.js';
import { eventually } from './eventually.js';

/**
 * Removes a test's pool with every block and affinity carved from it, whether or not an operator is
 * running to release them (none is, after a test that ran one has stopped it): blocks and affinities
 * first, then the pool without its finalizer. Missing objects are fine; a list the API server refuses
 * for now (429 while a resource's storage initialises after a restart) is tried again.
 */
export async function removePoolAndBlocks(resources: IpamResources, poolName: string): Promise<void> {
  const selector = `${labels.pool}=${poolName}`;
  await eventually(async () => {
    for (const block of (await resources.blocks.list({ labelSelector: selector })).items) {
      await resources.blocks.delete(block.metadata.name).catch(() => undefined);
    }
    for (const affinity of (await resources.affinities.list({ labelSelector: selector })).items) {
      await resources.affinities.delete(affinity.metadata.name).catch(() => undefined);
    }
    return true;
  });
  await resources.pools.mergePatch(poolName, { metadata: { finalizers: null } }).catch(() => undefined);
  await resources.pools.delete(poolName).catch(() => undefined);
}
