import { z } from 'zod';

/**
 * One assigned address. Everything needed to release it (the handle), to garbage-collect it (pod and
 * node) and to answer CHECK lives here, so assigning an address is a single write of its block.
 */
export const allocationSchema = z
  .object({
    ordinal: z.number().int().min(0).describe('Offset of the address within the block.'),
    handle: z
      .string()
      .min(1)
      .describe('Owner of the address: `<network>.<containerID>.<ifname>` for pods, or another stable id.'),
    namespace: z.string().optional().describe('Namespace of the pod holding the address.'),
    pod: z.string().optional().describe('Name of the pod holding the address.'),
    podUID: z
      .string()
      .optional()
      .describe(
        'UID of the pod holding the address (K8S_POD_UID from the runtime): a pod re-created under the same ' +
          'name has another UID, so the address of the old one is collected. Absent on older allocations.',
      ),
    node: z.string().min(1).describe('Node whose plugin assigned the address.'),
    assignedAt: z.string().describe('RFC 3339 time of assignment.'),
  })
  .strict();
export type Allocation = z.infer<typeof allocationSchema>;

/** An address released recently; it is not handed out again until its cool-down ends. */
export const coolingAddressSchema = z
  .object({
    ordinal: z.number().int().min(0).describe('Offset of the address within the block.'),
    releasedAt: z.string().describe('RFC 3339 time of release.'),
  })
  .strict();
export type CoolingAddress = z.infer<typeof coolingAddressSchema>;

export const ipamBlockSpecSchema = z
  .object({
    cidr: z.string().describe('The block, e.g. 192.168.0.64/26. Immutable.'),
    pool: z.string().describe('Name of the IPPool the block was carved from.'),
    node: z
      .string()
      .describe('Node the block is affine to; empty while the block has no affinity (being released).'),
    allocations: z
      .array(allocationSchema)
      .describe('Assigned addresses, sorted by ordinal. Free addresses are all the others not cooling down.'),
    cooling: z.array(coolingAddressSchema).describe('Released addresses still inside their cool-down.'),
    draining: z
      .boolean()
      .optional()
      .describe(
        "Set by the operator when the block's pool no longer serves its node (the node was relabelled, the pool " +
          'disabled, in conflict or being deleted): no new address is assigned from it; existing ones stay.',
      ),
  })
  .strict();
export type IPAMBlockSpec = z.infer<typeof ipamBlockSpecSchema>;
