/**
 * The plugin's decisions, as pure functions over what it read: which of the node's blocks an address comes
 * from, which pools may give the node a new block. The node agent (agent/addresses.ts) gathers the objects
 * and writes the result.
 */
import {
  type Cidr,
  type IpFamily,
  addressToString,
  cidrContains,
  cidrToString,
  safeParseCidr,
} from '../ipam/index.js';
import type { PoolRef } from './config.js';
import { CniError } from './errors.js';
import { type PoolSource, annotationError } from './pool-annotations.js';
import { type AssignedIp, linkLocalGateways } from './result.js';
import {
  type Allocation,
  type AllocationOwner,
  type AssignOutcome,
  type IPAMBlock,
  type IPPool,
  type ReservationSet,
  allocationAddress,
  assignAddress,
  assignOrdinal,
  findAllocation,
  formatPassOver,
  ipamBlockSpecSchema,
  parsePool,
  poolsForNode,
  reservedOrdinals,
  unclearedReason,
  unknownRequestedPools,
} from '../api/index.js';

/**
 * The blocks whose spec parses. One that does not (stored before the CRD checked it: a CIDR larger than a
 * block, ordinals outside it or held twice) gives and releases no address here: an address from it could
 * be another block's. The operator reports it; its name stays taken when claiming.
 */
export function wellFormedBlocks(blocks: readonly IPAMBlock[]): IPAMBlock[] {
  return blocks.filter((block) => ipamBlockSpecSchema.safeParse(block.spec).success);
}

/** The CIDR of a block, or undefined for a block whose spec is not a CIDR (never written by us). */
export function blockCidr(block: IPAMBlock): Cidr | undefined {
  const parsed = safeParseCidr(block.spec.cidr);
  return parsed.ok ? parsed.value : undefined;
}

/** Whether a block may serve a request restricted to `refs` (no refs: any block). */
export function blockMatchesRefs(block: IPAMBlock, cidr: Cidr, refs: readonly PoolRef[]): boolean {
  if (refs.length === 0) return true;
  return refs.some((ref) =>
    ref.kind === 'name'
      ? ref.name === block.spec.pool && (ref.family === undefined || ref.family === cidr.family)
      : cidrContains(ref.cidr, cidr),
  );
}

/** The address the block gives an allocation, with the block's prefix length. */
export function assignedIp(block: IPAMBlock, ordinal: number): AssignedIp {
  const address = allocationAddress(block.spec, ordinal);
  const cidr = blockCidr(block);
  return { family: address.family, address: `${addressToString(address)}/${cidr?.prefixLength ?? ''}` };
}

/**
 * The address as `link_local_gateway` reports it: with the link-local gateway of its family, and the
 * prefix length of its pool (the block's if the pool is gone). A routed main plugin (`ptp`) routes the
 * address's prefix via the gateway in the pod, so the pod reaches every address of its pool, on any node,
 * through its own node; with the block's prefix it would reach only its block.
 */
export function assignedIpViaGateway(block: IPAMBlock, ordinal: number, pool: Cidr | undefined): AssignedIp {
  const { family, address } = assignedIp(block, ordinal);
  const bare = address.replace(/\/\d*$/, '');
  return {
    family,
    address: pool === undefined ? address : `${bare}/${pool.prefixLength}`,
    gateway: linkLocalGateways[family],
  };
}

/** Blocks in address order, so a node fills its lowest block first and its last ones can be released. */
export function sortBlocks(blocks: readonly IPAMBlock[]): IPAMBlock[] {
  return [...blocks].sort((a, b) => {
    const ca = blockCidr(a);
    const cb = blockCidr(b);
    if (!ca || !cb) return a.metadata.name.localeCompare(b.metadata.name);
    return ca.family - cb.family || (ca.network < cb.network ? -1 : ca.network > cb.network ? 1 : 0);
  });
}

export interface Placement {
  readonly block: IPAMBlock;
  readonly outcome: Exclude<AssignOutcome, { kind: 'full' }>;
}

/** The block of `family` already holding the handle, if any. */
export function findHandle(
  blocks: readonly IPAMBlock[],
  handle: string,
  family: IpFamily,
): Placement | undefined {
  for (const block of blocks) {
    if (blockCidr(block)?.family !== family) continue;
    const allocation = block.spec.allocations.find((a) => a.handle === handle);
    if (allocation) return { block, outcome: { kind: 'existing', spec: block.spec, allocation } };
  }
  return undefined;
}

export interface NodeBlockFilter {
  readonly node: string;
  readonly family: IpFamily;
  /** The network's pool references; none: any pool but `excludedPools`. */
  readonly refs: readonly PoolRef[];
  /** Pools whose blocks serve only networks naming them (Manual pools). */
  readonly excludedPools: ReadonlySet<string>;
}

/**
 * The node's blocks that may give `filter`'s network a new address, in the order to try them: address
 * order, so a node fills its lowest block first and its last ones can be released. A draining block's
 * pool no longer serves the node: it keeps its addresses but gives no new one.
 */
export function blocksToAssignFrom(blocks: readonly IPAMBlock[], filter: NodeBlockFilter): IPAMBlock[] {
  return sortBlocks(blocks).filter((block) => {
    const cidr = blockCidr(block);
    return (
      cidr?.family === filter.family &&
      block.spec.node === filter.node &&
      block.spec.draining !== true &&
      !filter.excludedPools.has(block.spec.pool) &&
      blockMatchesRefs(block, cidr, filter.refs)
    );
  });
}

export interface AssignInBlockOptions {
  readonly now: Date;
  readonly cooldownSeconds: number;
  /** The IPReservations: their addresses are never handed out (none: nothing beyond the block's own). */
  readonly reservations?: ReservationSet;
}

/**
 * Assigns `owner` an address in one block (of CIDR `cidr`): the one it already holds there (even one
 * reserved since), else the first free ordinal outside the block's reserved ones and IPReservations,
 * and out of cool-down. A draining block gives no new address: `full` unless the owner already holds
 * one there.
 */
export function assignInBlock(
  block: IPAMBlock,
  cidr: Cidr,
  owner: AllocationOwner,
  options: AssignInBlockOptions,
): AssignOutcome {
  if (block.spec.draining === true) {
    const existing = findAllocation(block.spec, owner.handle);
    return existing ? { kind: 'existing', spec: block.spec, allocation: existing } : { kind: 'full' };
  }
  const { now, cooldownSeconds, reservations } = options;
  return assignAddress(block.spec, owner, {
    now,
    cooldownSeconds,
    reserved: reservedOrdinals(cidr, reservations),
  });
}

/** Why a requested address cannot be assigned in its block, as data. */
export type RequestedAddressOutcome =
  | AssignOutcome
  | { readonly kind: 'reserved' }
  | { readonly kind: 'taken'; readonly by: Allocation }
  | { readonly kind: 'holds-another'; readonly allocation: Allocation };

/**
 * Assigns `owner` exactly the address at `ordinal` of a block (a pod's requested address): `existing` when
 * it holds it already; refused when the ordinal is one the block never hands out, when another handle
 * holds it, or when the owner holds another address of the block. An address still cooling down after
 * a release is given (the pod asked for it by name); so is one of a draining block, since a requested
 * address comes from the pool that contains it whatever the pool's nodeSelector.
 */
export function assignRequestedInBlock(
  block: IPAMBlock,
  cidr: Cidr,
  owner: AllocationOwner,
  ordinal: number,
  now: Date,
): RequestedAddressOutcome {
  const held = findAllocation(block.spec, owner.handle);
  if (held !== undefined) {
    return held.ordinal === ordinal
      ? { kind: 'existing', spec: block.spec, allocation: held }
      : { kind: 'holds-another', allocation: held };
  }
  if (reservedOrdinals(cidr).includes(ordinal)) return { kind: 'reserved' };
  const by = block.spec.allocations.find((allocation) => allocation.ordinal === ordinal);
  if (by !== undefined) return { kind: 'taken', by };
  return { kind: 'assigned', ...assignOrdinal(block.spec, owner, ordinal, now) };
}

export interface CandidatePool {
  readonly name: string;
  readonly cidr: Cidr;
  readonly blockSize: number;
}

const refText = (ref: PoolRef): string => (ref.kind === 'name' ? ref.name : cidrToString(ref.cidr));

const sourceText = (source: PoolSource): string =>
  source.kind === 'config' ? 'ipam.pools' : `the ${source.on}'s annotation ${source.annotation}`;

/**
 * The pools that may give `node` a new block of `family`, in the order to try them (the pool policy:
 * `poolsForNode`): the requested pools in the order named, or every automatic pool serving the node,
 * by name. A requested pool that does not exist is an error of where it was named (the configuration: 7;
 * an annotation: 7, naming it, the pod and a pool of the wrong family too). Pools an annotation names
 * serve whatever their nodeSelector, as in Calico. No pool at all is `no-pool-for-node` (101), with the
 * reason each pool was passed over.
 */
export function candidatePools(
  pools: readonly IPPool[],
  refs: readonly PoolRef[],
  node: string,
  nodeLabels: Readonly<Record<string, string>>,
  family: IpFamily,
  workload: {
    readonly source?: PoolSource;
    /** The labels of the pod's namespace (pools' namespaceSelector); undefined: no pod named. */
    readonly namespaceLabels?: Readonly<Record<string, string>> | undefined;
  } = {},
): CandidatePool[] {
  const { source = { kind: 'config' }, namespaceLabels } = workload;
  const parsed = pools.map((object) => ({ ...parsePool(object), object }));
  const [unknown] = unknownRequestedPools(parsed, refs);
  if (unknown) {
    const names = parsed.map((pool) => `${pool.name} (${pool.cidrText})`);
    const reason =
      `${source.kind === 'config' ? 'the configuration' : sourceText(source)} names pool "${refText(unknown.ref)}", but no IPPool has that ${unknown.ref.kind === 'name' ? 'name' : 'CIDR'}; ` +
      `existing pools: ${names.length === 0 ? 'none' : names.join(', ')}`;
    throw source.kind === 'config'
      ? new CniError({ kind: 'invalid-config', path: `ipam.pools[${unknown.index}]`, reason })
      : annotationError(source, reason);
  }
  if (source.kind === 'annotation') {
    const misfamily = parsed.find(
      (pool) =>
        pool.cidr !== undefined &&
        pool.cidr.family !== family &&
        refs.some((ref) => ref.kind === 'name' && ref.name === pool.name),
    );
    if (misfamily) {
      throw annotationError(
        source,
        `${source.annotation} names pool "${misfamily.name}", an IPv${misfamily.cidr?.family ?? ''} pool (${misfamily.cidrText}), for IPv${family} addresses`,
      );
    }
  }
  const { serving, passedOver } = poolsForNode(
    parsed,
    {
      labels: nodeLabels,
      family,
      requested: refs,
      selectorWaived: source.kind === 'annotation',
      namespaceLabels,
    },
    (pool) => unclearedReason(pool.object),
  );
  const candidates = serving.flatMap(({ name, valid }) =>
    valid ? [{ name, cidr: valid.cidr, blockSize: valid.spec.blockSize }] : [],
  );
  if (candidates.length === 0) {
    const skipped = passedOver.map(({ pool, why }) => `${pool.name}: ${formatPassOver(why)}`);
    throw new CniError({
      kind: 'no-pool-for-node',
      node,
      family,
      reason:
        skipped.length === 0
          ? `there is no IPv${family} IPPool${refs.length > 0 ? ` among those named in ${sourceText(source)}` : ''}`
          : `IPv${family} pools passed over: ${skipped.join('; ')}`,
    });
  }
  return candidates;
}
