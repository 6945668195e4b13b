import { z } from 'zod';
import { blockCidrSchema } from './block.js';
import { kubeName } from './fields.js';

export const affinityStates = ['pending', 'confirmed', 'pendingDeletion'] as const;
export type AffinityState = (typeof affinityStates)[number];

/**
 * A node's claim on one block. Named after the block's CIDR, not the node: creating it is the claim,
 * and the API server's create-if-absent makes sure no two nodes ever hold one block.
 */
export const blockAffinitySpecSchema = z
  .object({
    node: kubeName.describe('Node that holds the block.'),
    cidr: blockCidrSchema.describe('The block claimed. Immutable.'),
    pool: kubeName.describe('Name of the IPPool the block comes from.'),
    state: z
      .enum(affinityStates)
      .describe(
        'pending: claimed, block not yet created; confirmed: in use; pendingDeletion: being released.',
      ),
  })
  .strict();
export type BlockAffinitySpec = z.infer<typeof blockAffinitySpecSchema>;
