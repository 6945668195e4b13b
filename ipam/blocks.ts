/**
 * Block arithmetic: a pool CIDR is cut into aligned blocks of `blockSize` prefix length, numbered from 0 in
 * address order. Counts and indices are `bigint` because they can be astronomically large (a /64 pool with
 * /122 blocks has 2^58 of them): nothing here enumerates eagerly. Ordinals of addresses within one block are
 * `number`s, since a block is small (at most 2^12 addresses with the block sizes pools allow).
 *
 * Preconditions (a block size that does not fit the pool, an index out of range) are programming errors and
 * throw `RangeError`; user input is checked earlier by `validatePoolSpec`.
 */
import { type Address, type IpFamily, familyBits } from './address.js';
import { type Cidr, cidrContains, cidrContainsAddress, cidrOf, cidrSize } from './cidr.js';

/** Allowed block sizes (prefix lengths) and the default, per family. */
export const BLOCK_SIZE_LIMITS = {
  4: { min: 20, max: 32, default: 26 },
  6: { min: 116, max: 128, default: 122 },
} as const satisfies Record<IpFamily, { min: number; max: number; default: number }>;

/** The most addresses one block holds (4096: an IPv4 /20 or an IPv6 /116), so the most ordinals it lists. */
export const MAX_BLOCK_ADDRESSES =
  2 ** Math.max(32 - BLOCK_SIZE_LIMITS[4].min, 128 - BLOCK_SIZE_LIMITS[6].min);

function checkBlockSize(pool: Cidr, blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < pool.prefixLength || blockSize > familyBits(pool.family)) {
    throw new RangeError(
      `block size ${blockSize} does not fit a /${pool.prefixLength} IPv${pool.family} pool ` +
        `(must be an integer from ${pool.prefixLength} to ${familyBits(pool.family)})`,
    );
  }
}

/** log2 of the number of addresses in one block. */
function blockShift(pool: Cidr, blockSize: number): bigint {
  return BigInt(familyBits(pool.family) - blockSize);
}

/** Number of blocks of `blockSize` in `pool`. */
export function blockCount(pool: Cidr, blockSize: number): bigint {
  checkBlockSize(pool, blockSize);
  return 1n << BigInt(blockSize - pool.prefixLength);
}

/** The block at `index` (0-based, in address order). Throws `RangeError` if the index is out of range. */
export function blockAt(pool: Cidr, blockSize: number, index: bigint): Cidr {
  const count = blockCount(pool, blockSize);
  if (index < 0n || index >= count) {
    throw new RangeError(`block index ${index} is out of range for ${count} blocks`);
  }
  return {
    family: pool.family,
    network: pool.network + (index << blockShift(pool, blockSize)),
    prefixLength: blockSize,
  };
}

/** The index of `block` in `pool`, or `undefined` if it is not one of the pool's blocks of `blockSize`. */
export function blockIndexOf(pool: Cidr, blockSize: number, block: Cidr): bigint | undefined {
  checkBlockSize(pool, blockSize);
  if (block.prefixLength !== blockSize || !cidrContains(pool, block)) return undefined;
  return (block.network - pool.network) >> blockShift(pool, blockSize);
}

/** The block of `pool` that holds `address`, or `undefined` if the address is not in the pool. */
export function blockContaining(pool: Cidr, blockSize: number, address: Address): Cidr | undefined {
  checkBlockSize(pool, blockSize);
  if (!cidrContainsAddress(pool, address)) return undefined;
  return cidrOf(address, blockSize);
}

/**
 * The claim region of a block: the aligned CIDR as large as the largest block any pool may have (/20 for
 * IPv4, /116 for IPv6) that holds it. Of two blocks that overlap, one contains the other, so both lie in
 * the same region whatever their sizes: a claimer checking a new block against the blocks of its region
 * sees every block it could overlap. A block larger than a region (never made by a valid pool) is its own.
 */
export function blockRegion(block: Cidr): Cidr {
  const prefixLength = Math.min(block.prefixLength, BLOCK_SIZE_LIMITS[block.family].min);
  return cidrOf({ family: block.family, value: block.network }, prefixLength);
}

/**
 * The pool's blocks in address order, lazily, starting at block `startIndex` (default 0). A caller
 * looking for a block next to ones a node already holds starts just after them, and if it needs to wrap
 * around, iterates again from 0. Arguments are checked when called, not on the first `next()`.
 */
export function iterateBlocks(
  pool: Cidr,
  blockSize: number,
  startIndex = 0n,
): Generator<Cidr, void, undefined> {
  const count = blockCount(pool, blockSize);
  if (startIndex < 0n) throw new RangeError(`block start index ${startIndex} is negative`);
  return generateBlocks(pool, blockSize, startIndex, count);
}

function* generateBlocks(
  pool: Cidr,
  blockSize: number,
  startIndex: bigint,
  count: bigint,
): Generator<Cidr, void, undefined> {
  const step = 1n << blockShift(pool, blockSize);
  let network = pool.network + startIndex * step;
  for (let index = startIndex; index < count; index++, network += step) {
    yield { family: pool.family, network, prefixLength: blockSize };
  }
}

function checkOrdinalBlock(block: Cidr): void {
  if (cidrSize(block) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`/${block.prefixLength} is too large a block for numeric ordinals`);
  }
}

/** The position of `address` within `block` (0 for the network address), or `undefined` if outside it. */
export function addressOrdinal(block: Cidr, address: Address): number | undefined {
  checkOrdinalBlock(block);
  if (!cidrContainsAddress(block, address)) return undefined;
  return Number(address.value - block.network);
}

/** The address at position `ordinal` within `block`. Throws `RangeError` if the ordinal is out of range. */
export function addressAtOrdinal(block: Cidr, ordinal: number): Address {
  checkOrdinalBlock(block);
  const size = cidrSize(block);
  if (!Number.isInteger(ordinal) || ordinal < 0 || BigInt(ordinal) >= size) {
    throw new RangeError(`ordinal ${ordinal} is out of range for a block of ${size} addresses`);
  }
  return { family: block.family, value: block.network + BigInt(ordinal) };
}
