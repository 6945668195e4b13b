import type { IpamResources } from '../allocator/index.js';
import { type IPPool, poolConditionTypes } from '../api/index.js';

/**
 * Creates a pool and marks it Allocatable for its generation, as the operator does once it has checked
 * the pool: for tests that run the CNI plugin without an operator (the plugin claims blocks only from
 * pools so marked).
 */
export async function createAllocatablePool(resources: IpamResources, pool: IPPool): Promise<IPPool> {
  const created = await resources.pools.create(pool);
  return resources.pools.replaceStatus({
    ...created,
    status: {
      observedGeneration: created.metadata.generation,
      conditions: [
        {
          type: poolConditionTypes.allocatable,
          status: 'True',
          reason: 'OK',
          message: 'marked by the test, as the operator would',
          observedGeneration: created.metadata.generation,
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        },
      ],
    },
  });
}
