import { z } from 'zod';

/** The cluster-wide IPAM settings: one object, named `default`. */
export const ipamConfigName = 'default';

export const ipamConfigSpecSchema = z
  .object({
    strictAffinity: z
      .boolean()
      .default(false)
      .describe('Never assign from a block affine to another node, even when this node cannot claim more.'),
    maxBlocksPerHost: z
      .number()
      .int()
      .min(0)
      .max(65536)
      .default(0)
      .describe(
        'Most blocks one node may hold of one IP family, counted across the pools that may serve it (as ' +
          'Calico counts); 0 means no limit.',
      ),
    autoAllocateBlocks: z
      .boolean()
      .default(true)
      .describe('Let the CNI plugin claim a further block when the node has no free address.'),
    minFreeAddressesPerNode: z
      .number()
      .int()
      .min(0)
      .max(65536)
      .default(16)
      .describe(
        'The operator claims blocks ahead of time so each node keeps at least this many free addresses per pool.',
      ),
    releaseCooldownSeconds: z
      .number()
      .int()
      .min(0)
      .max(86400)
      .default(30)
      .describe(
        'A released address is not handed out again for this long (at most a day), so a new pod does not inherit ' +
          'stale connection state.',
      ),
    leakGracePeriodSeconds: z
      .number()
      .int()
      .min(0)
      .max(86400)
      .default(900)
      .describe(
        'How long the operator waits, after it first finds an address whose pod is gone, before it frees it ' +
          '(the pod is read again just before); 0 turns leak collection off.',
      ),
  })
  .strict();
export type IPAMConfigSpec = z.infer<typeof ipamConfigSpecSchema>;
