import { z } from 'zod';

export const poolConditionTypes = { allocatable: 'Allocatable' } as const;

/** Why a pool is or is not allocatable; the `reason` of its Allocatable condition. */
export const allocatableReasons = [
  'OK',
  'CIDROverlap',
  'InvalidSpec',
  'PoolDisabled',
  'Terminating',
] as const;
export type AllocatableReason = (typeof allocatableReasons)[number];

/** The standard Kubernetes condition shape (metav1.Condition). */
export const conditionSchema = z
  .object({
    type: z.string().describe('Type of condition, e.g. Allocatable.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('Status of the condition.'),
    reason: z.string().describe('Machine-readable reason for the last transition, in CamelCase.'),
    message: z.string().describe('Human-readable details.'),
    observedGeneration: z
      .number()
      .int()
      .optional()
      .describe('The .metadata.generation the condition was set for.'),
    lastTransitionTime: z.string().describe('When the condition last changed status (RFC 3339).'),
  })
  .strict();
export type Condition = z.infer<typeof conditionSchema>;

export const ipPoolStatusSchema = z
  .object({
    observedGeneration: z.number().int().optional().describe('The .metadata.generation last reconciled.'),
    conditions: z.array(conditionSchema).optional().describe('Current state of the pool.'),
    blockSize: z.number().int().optional().describe('Block size in effect, with the family default applied.'),
    selectedNodes: z.number().int().optional().describe('Nodes whose labels match the nodeSelector.'),
    allocatedBlocks: z.number().int().optional().describe('Blocks of this pool affine to a node.'),
    allocatedAddresses: z.number().int().optional().describe('Addresses of this pool assigned to workloads.'),
    capacity: z
      .string()
      .optional()
      .describe('Addresses in the pool (a decimal string: IPv6 pools exceed 2^53).'),
    usage: z.string().optional().describe('Assigned / capacity, for display.'),
  })
  .strict();
export type IPPoolStatus = z.infer<typeof ipPoolStatusSchema>;
