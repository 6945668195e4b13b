/** What `kubectl ipam show` reports, as pure functions of a snapshot. */
import {
  type IPAMBlock,
  type IPPool,
  type IPReservation,
  allocationAddress,
  blockUsage,
  poolConditionTypes,
  reservationsCovering,
  reservedOrdinals,
} from '../api/index.js';
import {
  type Address,
  addressOrdinal,
  addressToString,
  cidrContainsAddress,
  cidrSize,
  parseCidr,
  safeParseCidr,
} from '../ipam/index.js';
import { type AddressView, blockNode, configInForce, poolRange } from './snapshot.js';

export interface PoolRow {
  readonly name: string;
  readonly cidr: string;
  readonly selector: string;
  readonly blocks: number;
  readonly used: number;
  /** A decimal string: an IPv6 pool holds more than 2^53 addresses. */
  readonly capacity: string;
  readonly status: string;
}

/** Allocatable, or why not: the pool's own condition, as the operator last wrote it. */
export function poolStatus(pool: IPPool): string {
  if (pool.metadata.deletionTimestamp !== undefined) return 'Terminating';
  if (pool.spec.disabled === true) return 'Disabled';
  const condition = pool.status?.conditions?.find((c) => c.type === poolConditionTypes.allocatable);
  if (condition === undefined) return 'Unknown';
  return condition.status === 'True' ? 'Allocatable' : condition.reason;
}

export function poolRows(snapshot: AddressView): PoolRow[] {
  return [...snapshot.pools]
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((pool) => {
      const blocks = snapshot.blocks.filter((block) => block.spec.pool === pool.metadata.name);
      const range = poolRange(pool);
      return {
        name: pool.metadata.name,
        cidr: pool.spec.cidr,
        selector: pool.spec.nodeSelector ?? 'all()',
        blocks: blocks.length,
        used: blocks.reduce((sum, block) => sum + block.spec.allocations.length, 0),
        capacity: range === undefined ? '0' : cidrSize(range.cidr).toString(),
        status: poolStatus(pool),
      };
    });
}

export interface BlockRow {
  readonly node: string;
  readonly block: string;
  readonly pool: string;
  readonly used: number;
  readonly cooling: number;
  readonly size: number;
  /** pending: claimed, not confirmed yet; draining: no new address from it; affine: in use. */
  readonly state: 'pending' | 'draining' | 'affine';
}

/** Every block by node, then address. */
export function blockRows(snapshot: AddressView, now: Date): BlockRow[] {
  const { releaseCooldownSeconds } = configInForce(snapshot.config).spec;
  return snapshot.blocks
    .flatMap((block) => {
      const cidr = safeParseCidr(block.spec.cidr);
      if (!cidr.ok) return [];
      const usage = blockUsage(block.spec, {
        now,
        cooldownSeconds: releaseCooldownSeconds,
        reserved: reservedOrdinals(cidr.value),
      });
      const state: BlockRow['state'] =
        block.spec.node === '' ? 'pending' : block.spec.draining === true ? 'draining' : 'affine';
      return [
        {
          node: blockNode(block),
          block: block.spec.cidr,
          pool: block.spec.pool,
          used: usage.allocated,
          cooling: usage.cooling,
          size: usage.size - usage.reserved,
          state,
        },
      ];
    })
    .sort((a, b) => a.node.localeCompare(b.node) || a.block.localeCompare(b.block, 'en', { numeric: true }));
}

export interface BorrowedRow {
  readonly address: string;
  readonly namespace: string;
  readonly pod: string;
  /** The node the pod runs on, which borrowed the address. */
  readonly node: string;
  readonly block: string;
  /** The node the block is affine to. */
  readonly blockNode: string;
}

/** Addresses assigned by a node from a block affine to another node. */
export function borrowedRows(snapshot: AddressView): BorrowedRow[] {
  return snapshot.blocks.flatMap((block) => {
    const owner = blockNode(block);
    return block.spec.allocations
      .filter((allocation) => allocation.node !== owner)
      .map((allocation) => ({
        address: addressToString(allocationAddress(block.spec, allocation.ordinal)),
        namespace: allocation.namespace ?? '',
        pod: allocation.pod ?? '',
        node: allocation.node,
        block: block.spec.cidr,
        blockNode: owner,
      }));
  });
}

export type AddressState =
  | {
      readonly state: 'allocated';
      readonly address: string;
      readonly block: string;
      readonly handle: string;
      readonly namespace?: string;
      readonly pod?: string;
      readonly node: string;
      readonly since: string;
    }
  | {
      readonly state: 'cooling';
      readonly address: string;
      readonly block: string;
      readonly releasedAt: string;
      readonly reusableAt: string;
    }
  /** Never assigned: the network or broadcast address of `block`, or covered by IPReservations. */
  | {
      readonly state: 'reserved';
      readonly address: string;
      readonly block?: string;
      /** The IPReservations covering the address; none for a block's own network or broadcast address. */
      readonly reservations?: readonly string[];
    }
  /** In a pool; `block` is absent when no node has claimed the block that holds it. */
  | { readonly state: 'free'; readonly address: string; readonly pool: string; readonly block?: string }
  | { readonly state: 'outside'; readonly address: string };

/** Who holds `address`, or what else it is (`reservations`: every IPReservation). */
export function addressState(
  snapshot: AddressView,
  address: Address,
  now: Date,
  reservations: readonly IPReservation[] = [],
): AddressState {
  const text = addressToString(address);
  const block = blockHolding(snapshot.blocks, address);
  const state = block === undefined ? undefined : stateInBlock(snapshot, block, address, now);
  // Reservations stop new assignments only: a holder stays the answer.
  if (state?.state === 'allocated') return state;
  const covering = reservationsCovering(reservations, address);
  if (covering.length > 0) {
    const where = block === undefined ? {} : { block: block.spec.cidr };
    return { state: 'reserved', address: text, ...where, reservations: covering };
  }
  if (state !== undefined) return state;
  const pool = snapshot.pools.find((candidate) => {
    const range = poolRange(candidate);
    return range !== undefined && cidrContainsAddress(range.cidr, address);
  });
  if (pool === undefined) return { state: 'outside', address: text };
  return { state: 'free', address: text, pool: pool.metadata.name };
}

/** The block that records `address`; where overlapping blocks both do, the one holding it. */
export function blockHolding(blocks: readonly IPAMBlock[], address: Address): IPAMBlock | undefined {
  const containing = blocks.filter((block) => {
    const cidr = safeParseCidr(block.spec.cidr);
    return cidr.ok && cidrContainsAddress(cidr.value, address);
  });
  return (
    containing.find((block) => {
      const ordinal = addressOrdinal(parseCidr(block.spec.cidr), address);
      return block.spec.allocations.some((allocation) => allocation.ordinal === ordinal);
    }) ?? containing[0]
  );
}

function stateInBlock(snapshot: AddressView, block: IPAMBlock, address: Address, now: Date): AddressState {
  const cidr = parseCidr(block.spec.cidr);
  const text = addressToString(address);
  const ordinal = addressOrdinal(cidr, address);
  const allocation = block.spec.allocations.find((entry) => entry.ordinal === ordinal);
  if (allocation !== undefined) {
    return {
      state: 'allocated',
      address: text,
      block: block.spec.cidr,
      handle: allocation.handle,
      ...(allocation.namespace === undefined ? {} : { namespace: allocation.namespace }),
      ...(allocation.pod === undefined ? {} : { pod: allocation.pod }),
      node: allocation.node,
      since: allocation.assignedAt,
    };
  }
  if (ordinal !== undefined && reservedOrdinals(cidr).includes(ordinal))
    return { state: 'reserved', address: text, block: block.spec.cidr };
  const cooling = block.spec.cooling.find((entry) => entry.ordinal === ordinal);
  if (cooling !== undefined) {
    const releasedAt = Date.parse(cooling.releasedAt);
    // An unreadable time counts as just released, as the allocator reads it.
    const from = Number.isNaN(releasedAt) ? now.getTime() : releasedAt;
    const reusableAt = from + configInForce(snapshot.config).spec.releaseCooldownSeconds * 1000;
    if (reusableAt > now.getTime()) {
      return {
        state: 'cooling',
        address: text,
        block: block.spec.cidr,
        releasedAt: cooling.releasedAt,
        reusableAt: new Date(reusableAt).toISOString(),
      };
    }
  }
  return { state: 'free', address: text, pool: block.spec.pool, block: block.spec.cidr };
}
