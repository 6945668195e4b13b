import { z } from 'zod';
import {
  type Cidr,
  BLOCK_SIZE_LIMITS,
  MAX_BLOCK_ADDRESSES,
  cidrSize,
  cidrToString,
  safeParseCidr,
} from '../ipam/index.js';
import { kubeName, timestamp } from './fields.js';

/**
 * One assigned address. Everything needed to release it (the handle), to garbage-collect it (pod and
 * node) and to answer CHECK lives here, so assigning an address is a single write of its block.
 */
export const allocationSchema = z
  .object({
    ordinal: z
      .int()
      .min(0)
      .max(MAX_BLOCK_ADDRESSES - 1)
      .describe('Offset of the address within the block.'),
    handle: z
      .string()
      .min(1)
      .describe('Owner of the address: `<network>.<containerID>.<ifname>` for pods, or another stable id.'),
    namespace: z.string().max(63).optional().describe('Namespace of the pod holding the address.'),
    pod: z.string().max(253).optional().describe('Name of the pod holding the address.'),
    podUID: z
      .string()
      .max(128)
      .optional()
      .describe(
        'UID of the pod holding the address (K8S_POD_UID from the runtime): a pod re-created under the same ' +
          'name has another UID, so the address of the old one is collected. Absent on older allocations.',
      ),
    node: kubeName.describe('Node whose plugin assigned the address.'),
    assignedAt: timestamp.describe('RFC 3339 time of assignment.'),
  })
  .strict();
export type Allocation = z.infer<typeof allocationSchema>;

/** An address released recently; it is not handed out again until its cool-down ends. */
export const coolingAddressSchema = z
  .object({
    ordinal: z
      .int()
      .min(0)
      .max(MAX_BLOCK_ADDRESSES - 1)
      .describe('Offset of the address within the block.'),
    releasedAt: timestamp.describe('RFC 3339 time of release.'),
  })
  .strict();
export type CoolingAddress = z.infer<typeof coolingAddressSchema>;

/**
 * Why `text` cannot be a block's CIDR, or undefined: it must be a CIDR written as this project writes it
 * (network address, canonical text: block names derive from it) with a block-sized prefix. The CRDs'
 * CEL rules (api/resources.ts) say the same to the API server.
 */
export function blockCidrProblem(text: string): string | undefined {
  const parsed = safeParseCidr(text);
  if (!parsed.ok) return parsed.error.message;
  return blockSizeProblem(parsed.value) ?? canonicalProblem(parsed.value, text);
}

function blockSizeProblem(cidr: Cidr): string | undefined {
  const { min, max } = BLOCK_SIZE_LIMITS[cidr.family];
  if (cidr.prefixLength >= min && cidr.prefixLength <= max) return undefined;
  return `a block's prefix length must be ${min}-${max} for IPv${cidr.family}, not ${cidr.prefixLength}`;
}

function canonicalProblem(cidr: Cidr, text: string): string | undefined {
  const canonical = cidrToString(cidr);
  return canonical === text ? undefined : `must be written canonically, as ${canonical}`;
}

export const blockCidrSchema = z
  .string()
  .max(64)
  .superRefine((text, context) => {
    const problem = blockCidrProblem(text);
    if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
  });

export const ipamBlockSpecSchema = z
  .object({
    cidr: blockCidrSchema.describe('The block, e.g. 192.168.0.64/26. Immutable.'),
    pool: kubeName.describe(
      'Name of the IPPool the block belongs to: the one it was carved from, or the pool split out of that ' +
        'one around it (kubectl ipam split).',
    ),
    node: z
      .string()
      .max(253)
      .describe('Node the block is affine to; empty while the block has no affinity (being released).'),
    allocations: z
      .array(allocationSchema)
      .max(MAX_BLOCK_ADDRESSES)
      .describe(
        'Assigned addresses, sorted by ordinal, one per ordinal. Free addresses are all the others not cooling down.',
      ),
    cooling: z
      .array(coolingAddressSchema)
      .max(MAX_BLOCK_ADDRESSES)
      .describe('Released addresses still inside their cool-down, one per ordinal.'),
    draining: z
      .boolean()
      .optional()
      .describe(
        "Set by the operator when the block's pool no longer serves its node (the node was relabelled, the pool " +
          'disabled, in conflict or being deleted): no new address is assigned from it; existing ones stay.',
      ),
  })
  .strict()
  .superRefine((spec, context) => {
    const parsed = safeParseCidr(spec.cidr);
    // An unusable CIDR is reported on its own field; ordinals cannot be checked without a size.
    if (!parsed.ok || blockSizeProblem(parsed.value) !== undefined) return;
    const size = Number(cidrSize(parsed.value));
    for (const list of ['allocations', 'cooling'] as const) {
      const seen = new Set<number>();
      spec[list].forEach(({ ordinal }, index) => {
        const path = [list, index, 'ordinal'];
        if (ordinal >= size) {
          context.addIssue({
            code: 'custom',
            path,
            message: `ordinal ${ordinal} is outside the block ${spec.cidr} (${size} addresses)`,
          });
        } else if (seen.has(ordinal)) {
          context.addIssue({ code: 'custom', path, message: `ordinal ${ordinal} is listed twice` });
        }
        seen.add(ordinal);
      });
    }
  });
export type IPAMBlockSpec = z.infer<typeof ipamBlockSpecSchema>;
