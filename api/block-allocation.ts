/**
 * Address assignment inside one IPAMBlock, as pure functions over its spec: every function returns a new
 * spec and never mutates its argument. The I/O around them (read the block, apply one of these, write it
 * back with its resourceVersion) lives in the CNI plugin and the operator.
 *
 * An ordinal of a block is in exactly one of four states:
 * - allocated: in `allocations` (held by one handle);
 * - cooling: in `cooling` and released less than `cooldownSeconds` ago;
 * - reserved: never assigned (see `reservedOrdinals`: the block's network and broadcast addresses, and
 *   whatever an IPReservation covers);
 * - free: everything else, including ordinals whose cooling entry has expired.
 *
 * Choice of ordinal: the lowest ordinal that was never released (or whose cooling entry was pruned) comes
 * first; only when there is none, the expired cooling entry released longest ago. So an address goes back
 * into use as late as possible, and a block fills from the bottom, which keeps assignment predictable.
 */
import { type Address, type Cidr, addressAtOrdinal, cidrSize, parseCidr } from '../ipam/index.js';
import type { Allocation, CoolingAddress, IPAMBlockSpec } from './block.js';
import { type ReservationSet, noReservations, reservedOrdinalsIn } from './reservation.js';

/** Who an address is assigned to: recorded on the allocation. */
export interface AllocationOwner {
  readonly handle: string;
  readonly node: string;
  readonly namespace?: string;
  readonly pod?: string;
  readonly podUID?: string;
}

export interface AssignOptions {
  /** The current time: recorded as `assignedAt` and compared with `releasedAt`. */
  readonly now: Date;
  /** How long a released address cools down before it can be assigned again; `Infinity` never reuses one. */
  readonly cooldownSeconds: number;
  /** Ordinals never to assign (see `reservedOrdinals`). */
  readonly reserved?: readonly number[];
}

export type AssignOutcome =
  /** The handle already held an address in this block: the spec is unchanged (ADD is idempotent). */
  | { readonly kind: 'existing'; readonly spec: IPAMBlockSpec; readonly allocation: Allocation }
  | { readonly kind: 'assigned'; readonly spec: IPAMBlockSpec; readonly allocation: Allocation }
  /** No free ordinal: every one is allocated, cooling or reserved. */
  | { readonly kind: 'full' };

export interface AddressReleaseOutcome {
  readonly spec: IPAMBlockSpec;
  /** The allocations released (moved to cooling); empty if nothing matched, and then `spec` is the input. */
  readonly released: readonly Allocation[];
}

export interface BlockUsage {
  /** Addresses in the block. */
  readonly size: number;
  readonly allocated: number;
  /** Released addresses still within their cool-down. */
  readonly cooling: number;
  readonly reserved: number;
  /** Addresses that can be assigned now. */
  readonly free: number;
}

/** Number of addresses in a block. Throws `RangeError` for a block too large for numeric ordinals. */
export function blockAddressCount(spec: IPAMBlockSpec): number {
  const size = cidrSize(parseCidr(spec.cidr));
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${spec.cidr} is too large a block`);
  return Number(size);
}

/**
 * The ordinals a block never hands out. First those reserved by its shape, because its address is
 * reported with the block's prefix length (so that a bridge plugin can put the pods of one block on one
 * L2 segment): the network address (for IPv6, the subnet-router anycast address) and, for IPv4, the
 * broadcast address; blocks of 4 addresses or fewer (IPv4 /30 and longer, IPv6 /126 and longer) reserve
 * none of these: they are point-to-point sized. Then every ordinal `reservations` cover. Ascending.
 */
export function reservedOrdinals(block: Cidr, reservations: ReservationSet = noReservations): number[] {
  const size = cidrSize(block);
  const byShape = size <= 4n ? [] : block.family === 4 ? [0, Number(size - 1n)] : [0];
  const reserved = reservedOrdinalsIn(reservations, block);
  if (reserved.length === 0) return byShape;
  return [...new Set([...byShape, ...reserved])].sort((a, b) => a - b);
}

/** The allocation held by `handle` in this block, if any. */
export function findAllocation(spec: IPAMBlockSpec, handle: string): Allocation | undefined {
  return spec.allocations.find((allocation) => allocation.handle === handle);
}

/** The address of an allocation (or any ordinal) of this block. */
export function allocationAddress(spec: IPAMBlockSpec, ordinal: number): Address {
  return addressAtOrdinal(parseCidr(spec.cidr), ordinal);
}

function isCoolingExpired(entry: CoolingAddress, options: AssignOptions): boolean {
  if (options.cooldownSeconds === Number.POSITIVE_INFINITY) return false;
  const releasedAt = Date.parse(entry.releasedAt);
  // An unreadable timestamp (written by hand) counts as just released: never reuse early.
  if (Number.isNaN(releasedAt)) return false;
  return options.now.getTime() - releasedAt >= options.cooldownSeconds * 1000;
}

/**
 * Assigns an address of the block to `owner.handle`, or returns the one it already holds. See the module
 * comment for which ordinal is chosen. The new allocation keeps `allocations` sorted by ordinal; a reused
 * cooling entry leaves `cooling`.
 */
export function assignAddress(
  spec: IPAMBlockSpec,
  owner: AllocationOwner,
  options: AssignOptions,
): AssignOutcome {
  const existing = findAllocation(spec, owner.handle);
  if (existing) return { kind: 'existing', spec, allocation: existing };
  const ordinal = chooseOrdinal(spec, options);
  if (ordinal === undefined) return { kind: 'full' };
  return { kind: 'assigned', ...assignOrdinal(spec, owner, ordinal, options.now) };
}

/**
 * Records `ordinal` as the owner's, whatever its state (the caller has checked it is not allocated or
 * reserved): the allocation keeps `allocations` sorted by ordinal; a cooling entry of it leaves `cooling`.
 */
export function assignOrdinal(
  spec: IPAMBlockSpec,
  owner: AllocationOwner,
  ordinal: number,
  now: Date,
): { readonly spec: IPAMBlockSpec; readonly allocation: Allocation } {
  const allocation: Allocation = {
    ordinal,
    handle: owner.handle,
    ...(owner.namespace === undefined ? {} : { namespace: owner.namespace }),
    ...(owner.pod === undefined ? {} : { pod: owner.pod }),
    ...(owner.podUID === undefined ? {} : { podUID: owner.podUID }),
    node: owner.node,
    assignedAt: now.toISOString(),
  };
  const allocations = [...spec.allocations, allocation].sort((a, b) => a.ordinal - b.ordinal);
  const cooling = spec.cooling.filter((entry) => entry.ordinal !== ordinal);
  return { spec: { ...spec, allocations, cooling }, allocation };
}

function chooseOrdinal(spec: IPAMBlockSpec, options: AssignOptions): number | undefined {
  const size = blockAddressCount(spec);
  const unavailable = new Set<number>(options.reserved ?? []);
  for (const allocation of spec.allocations) unavailable.add(allocation.ordinal);
  const cooling = new Set(spec.cooling.map((entry) => entry.ordinal));
  for (let ordinal = 0; ordinal < size; ordinal++) {
    if (!unavailable.has(ordinal) && !cooling.has(ordinal)) return ordinal;
  }
  let best: { ordinal: number; releasedAt: number } | undefined;
  for (const entry of spec.cooling) {
    if (unavailable.has(entry.ordinal) || entry.ordinal >= size || !isCoolingExpired(entry, options))
      continue;
    const releasedAt = Date.parse(entry.releasedAt);
    if (
      !best ||
      releasedAt < best.releasedAt ||
      (releasedAt === best.releasedAt && entry.ordinal < best.ordinal)
    ) {
      best = { ordinal: entry.ordinal, releasedAt };
    }
  }
  return best?.ordinal;
}

/** Releases every allocation matching `predicate` into cooling (released at `now`). */
export function releaseWhere(
  spec: IPAMBlockSpec,
  predicate: (allocation: Allocation) => boolean,
  now: Date,
): AddressReleaseOutcome {
  const released = spec.allocations.filter(predicate);
  if (released.length === 0) return { spec, released };
  const releasedAt = now.toISOString();
  const releasedOrdinals = new Set(released.map((allocation) => allocation.ordinal));
  const cooling = [
    ...spec.cooling.filter((entry) => !releasedOrdinals.has(entry.ordinal)),
    ...released.map((allocation) => ({ ordinal: allocation.ordinal, releasedAt })),
  ].sort((a, b) => a.ordinal - b.ordinal);
  const allocations = spec.allocations.filter((allocation) => !releasedOrdinals.has(allocation.ordinal));
  return { spec: { ...spec, allocations, cooling }, released };
}

/** Releases the address(es) held by `handle`; releasing a handle that holds nothing changes nothing (DEL is idempotent). */
export function releaseHandle(spec: IPAMBlockSpec, handle: string, now: Date): AddressReleaseOutcome {
  return releaseWhere(spec, (allocation) => allocation.handle === handle, now);
}

/**
 * Garbage collection: releases every allocation that `inScope` says this collector is responsible for
 * (e.g. this network's handles assigned by this node) whose handle is not in `valid`.
 */
export function releaseInvalidHandles(
  spec: IPAMBlockSpec,
  valid: ReadonlySet<string>,
  inScope: (allocation: Allocation) => boolean,
  now: Date,
): AddressReleaseOutcome {
  return releaseWhere(spec, (allocation) => inScope(allocation) && !valid.has(allocation.handle), now);
}

/** How many addresses of the block are in each state at `options.now`. */
export function blockUsage(spec: IPAMBlockSpec, options: AssignOptions): BlockUsage {
  const size = blockAddressCount(spec);
  const reserved = new Set((options.reserved ?? []).filter((ordinal) => ordinal >= 0 && ordinal < size));
  const allocated = new Set(spec.allocations.map((allocation) => allocation.ordinal));
  for (const ordinal of allocated) reserved.delete(ordinal);
  let cooling = 0;
  for (const entry of spec.cooling) {
    if (!allocated.has(entry.ordinal) && !reserved.has(entry.ordinal) && !isCoolingExpired(entry, options))
      cooling++;
  }
  return {
    size,
    allocated: allocated.size,
    cooling,
    reserved: reserved.size,
    free: size - allocated.size - cooling - reserved.size,
  };
}
