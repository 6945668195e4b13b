import { z } from 'zod';

export const affinityStates = ['pending', 'confirmed', 'pendingDeletion'] as const;
export type AffinityState = (typeof affinityStates)[number];

/**
 * A node's claim on one block. Named after the block's CIDR, not the node: creating it is the claim,
 * and the API server's create-if-absent makes sure no two nodes ever hold one block.
 */
export const blockAffinitySpecSchema = z
  .object({
    node: z.string().min(1).describe('Node that holds the block.'),
    cidr: z.string().describe('The block claimed. Immutable.'),
    pool: z.string().describe('Name of the IPPool the block comes from.'),
    state: z
      .enum(affinityStates)
      .describe(
        'pending: claimed, block not yet created; confirmed: in use; pendingDeletion: being released.',
      ),
  })
  .strict();
export type BlockAffinitySpec = z.infer<typeof blockAffinitySpecSchema>;
