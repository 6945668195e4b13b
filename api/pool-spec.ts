/**
 * The IPPool spec, defined once as a zod schema with Calico's field names and defaults. The TypeScript types
 * derive from it here, and the CRD's OpenAPI schema derives from it via `z.toJSONSchema`, so the schema is
 * kept convertible: plain objects, enums, defaults and a `.describe()` on every field, with no transforms or
 * refinements. Rules that span fields live in `validatePoolSpec`; defaults that depend on another field
 * (the block size depends on the CIDR's family) are filled in by `normalizePoolSpec`.
 */
import { z } from 'zod';
import { type IpFamily, BLOCK_SIZE_LIMITS } from '../ipam/index.js';

export const ENCAPSULATION_MODES = ['Never', 'Always', 'CrossSubnet'] as const;
export type EncapsulationMode = (typeof ENCAPSULATION_MODES)[number];

export const ALLOWED_USES = ['Workload', 'Tunnel', 'LoadBalancer'] as const;
export type AllowedUse = (typeof ALLOWED_USES)[number];

export const ASSIGNMENT_MODES = ['Automatic', 'Manual'] as const;
export type AssignmentMode = (typeof ASSIGNMENT_MODES)[number];

/** The selector that matches every node; the default `nodeSelector`. */
export const ALL_NODES_SELECTOR = 'all()';

/** The selector that matches every namespace; the default `namespaceSelector`. */
export const ALL_NAMESPACES_SELECTOR = 'all()';

export const DEFAULT_ALLOWED_USES: readonly AllowedUse[] = Object.freeze(['Workload', 'Tunnel']);

export const ipPoolSpecSchema = z.object({
  cidr: z
    .string()
    .describe(
      'The range of addresses in this pool, in CIDR notation (e.g. 192.168.0.0/16 or fd00:10:244::/64). ' +
        'Must not overlap another pool or a reserved range (loopback, link-local, multicast, ...). Cannot be changed ' +
        'after creation.',
    ),
  blockSize: z
    .int()
    .min(0)
    .max(128)
    .optional()
    .describe(
      'Prefix length of the blocks the pool is divided into; nodes claim whole blocks, and routes are ' +
        'aggregated per block. IPv4: 20-32, default 26 (64 addresses); IPv6: 116-128, default 122. ' +
        'Unset or 0 means the default. Cannot be changed after creation.',
    ),
  nodeSelector: z
    .string()
    .default(ALL_NODES_SELECTOR)
    .describe(
      'Calico selector over node labels choosing the nodes that may be assigned addresses from this pool, ' +
        'e.g. `topology.kubernetes.io/zone == "rack-1"`. Empty means all(). global() is not allowed.',
    ),
  namespaceSelector: z
    .string()
    .default(ALL_NAMESPACES_SELECTOR)
    .describe(
      'Calico selector over namespace labels choosing the namespaces whose pods may be assigned addresses ' +
        'from this pool, e.g. `tenant == "a"`; a pod gets an address from the pool only when both this and ' +
        'nodeSelector match. Also applies to pods that name the pool in an annotation. Empty means all(). ' +
        'global() is not allowed.',
    ),
  disabled: z
    .boolean()
    .default(false)
    .describe('When true, no new addresses are assigned from this pool; existing ones stay in use.'),
  natOutgoing: z
    .boolean()
    .default(false)
    .describe(
      "When true, traffic from this pool to destinations outside every pool and outside every node's " +
        "InternalIP and ExternalIP addresses is masqueraded: it leaves with its node's address as source. " +
        'Done by the node agent (its NAT_OUTGOING setting), in an nftables table of its own.',
    ),
  ipipMode: z
    .enum(ENCAPSULATION_MODES)
    .default('Never')
    .describe(
      "Calico's IP-in-IP mode (Never, Always, CrossSubnet), accepted for compatibility. topology-ipam " +
        'encapsulates nothing: pod traffic between nodes is routed directly, so Always and CrossSubnet have ' +
        'no effect (the webhook warns). IPv4 pools only; exclusive with vxlanMode.',
    ),
  vxlanMode: z
    .enum(ENCAPSULATION_MODES)
    .default('Never')
    .describe(
      "Calico's VXLAN mode (Never, Always, CrossSubnet), accepted for compatibility. topology-ipam " +
        'encapsulates nothing: pod traffic between nodes is routed directly, so Always and CrossSubnet have ' +
        'no effect (the webhook warns). Exclusive with ipipMode.',
    ),
  allowedUses: z
    .array(z.enum(ALLOWED_USES))
    .max(10)
    .default(() => [...DEFAULT_ALLOWED_USES])
    .describe(
      'What addresses from this pool may be used for: Workload (pod addresses), Tunnel (node tunnel ' +
        'addresses), LoadBalancer (Service load-balancer addresses; must be the only use). ' +
        'Empty means [Workload, Tunnel].',
    ),
  assignmentMode: z
    .enum(ASSIGNMENT_MODES)
    .default('Automatic')
    .describe(
      'Automatic: addresses may be assigned from this pool to any workload on a selected node. Manual: ' +
        'only to workloads that request this pool explicitly.',
    ),
  disableBGPExport: z
    .boolean()
    .default(false)
    .describe(
      "Calico's switch to keep this pool's routes from BGP peers, accepted for compatibility. topology-ipam " +
        'runs no BGP and advertises no routes, so true has no effect (the webhook warns).',
    ),
});

/** A spec as written by a user: every field but `cidr` optional. */
export type IPPoolSpecInput = z.input<typeof ipPoolSpecSchema>;

/** A spec after schema parsing: defaults filled in, except `blockSize`, whose default depends on the family. */
export type IPPoolSpec = z.output<typeof ipPoolSpecSchema>;

/** A spec with every default resolved, including `blockSize` for the CIDR's family. */
export type NormalizedIPPoolSpec = Omit<IPPoolSpec, 'blockSize'> & { blockSize: number };

/** The family a CIDR text is written in, without parsing it fully (Go's rule: IPv6 if it has a colon). */
export function cidrTextFamily(cidr: string): IpFamily {
  return cidr.includes(':') ? 6 : 4;
}

export function defaultBlockSize(family: IpFamily): number {
  return BLOCK_SIZE_LIMITS[family].default;
}

/** `blockSize` with the family default for unset or 0 (Calico cannot tell 0 from unset either). */
export function resolveBlockSize(blockSize: number | undefined, family: IpFamily): number {
  return blockSize === undefined || blockSize === 0 ? defaultBlockSize(family) : blockSize;
}

/** An empty or blank `nodeSelector` means every node, as in Calico. */
export function resolveNodeSelector(nodeSelector: string): string {
  return nodeSelector.trim() === '' ? ALL_NODES_SELECTOR : nodeSelector;
}

/** An empty or blank `namespaceSelector` means every namespace, as in Calico. */
export function resolveNamespaceSelector(namespaceSelector: string): string {
  return namespaceSelector.trim() === '' ? ALL_NAMESPACES_SELECTOR : namespaceSelector;
}

/** An empty `allowedUses` means the default, as in Calico. */
export function resolveAllowedUses<T extends string>(allowedUses: readonly T[]): T[] | AllowedUse[] {
  return allowedUses.length === 0 ? [...DEFAULT_ALLOWED_USES] : [...allowedUses];
}

/**
 * Fills in every default. The CIDR is not checked (use `validatePoolSpec` or `parsePoolSpec`); the block
 * size default follows the family the CIDR text is written in. Throws a `ZodError` only if `spec` does not
 * match its static type (e.g. an unchecked cast from JSON).
 */
export function normalizePoolSpec(spec: IPPoolSpecInput): NormalizedIPPoolSpec {
  const parsed = ipPoolSpecSchema.parse(spec);
  return {
    ...parsed,
    blockSize: resolveBlockSize(parsed.blockSize, cidrTextFamily(parsed.cidr)),
    nodeSelector: resolveNodeSelector(parsed.nodeSelector),
    namespaceSelector: resolveNamespaceSelector(parsed.namespaceSelector),
    allowedUses: resolveAllowedUses(parsed.allowedUses),
  };
}
