import {
  type BlockAffinity,
  type IPAMBlock,
  type IPAMConfig,
  type IPAMConfigSpec,
  type IPPool,
  isPendingBlock,
  resolveBlockSize,
  ipamConfigSpecSchema,
  labels,
} from '../api/index.js';
import { type Cidr, safeParseCidr } from '../ipam/index.js';
import type { Node, Pod } from '../kube/index.js';

/**
 * Which cluster a reading came from: the UID of its kube-system namespace (what tools use as a cluster
 * id: it survives a change of address) and, as a fallback where that cannot be read, the server URL.
 */
export interface ClusterIdentity {
  readonly server: string;
  readonly uid?: string | undefined;
}

/** What `show` and `release --ip` read: the pools, their blocks and the IPAMConfig. */
export interface AddressView {
  readonly pools: readonly IPPool[];
  readonly blocks: readonly IPAMBlock[];
  readonly config: IPAMConfig | undefined;
}

/** Everything `check` reads from the cluster, read once; every report is a pure function of it. */
export interface Snapshot extends AddressView {
  readonly cluster: ClusterIdentity;
  readonly affinities: readonly BlockAffinity[];
  readonly nodes: readonly Node[];
  readonly pods: readonly Pod[];
}

export function sameCluster(a: ClusterIdentity, b: ClusterIdentity): boolean {
  return a.uid !== undefined && b.uid !== undefined ? a.uid === b.uid : a.server === b.server;
}

/** The settings in force: the object's, with defaults; the defaults alone when it is absent or malformed (as the operator does). */
export function configInForce(config: IPAMConfig | undefined): {
  readonly spec: IPAMConfigSpec;
  readonly source: 'object' | 'defaults' | 'malformed';
} {
  if (config === undefined) return { spec: ipamConfigSpecSchema.parse({}), source: 'defaults' };
  const parsed = ipamConfigSpecSchema.safeParse(config.spec);
  return parsed.success
    ? { spec: parsed.data, source: 'object' }
    : { spec: ipamConfigSpecSchema.parse({}), source: 'malformed' };
}

/** A pool's CIDR and block size, or undefined when its CIDR does not parse. */
export function poolRange(pool: IPPool): { readonly cidr: Cidr; readonly blockSize: number } | undefined {
  const parsed = safeParseCidr(pool.spec.cidr);
  if (!parsed.ok) return undefined;
  return { cidr: parsed.value, blockSize: resolveBlockSize(pool.spec.blockSize, parsed.value.family) };
}

/** The node a block is affine to; a pending block (no spec.node yet) names its claimer in its label. */
export function blockNode(block: IPAMBlock): string {
  return isPendingBlock(block) ? (block.metadata.labels?.[labels.node] ?? '') : block.spec.node;
}
