import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Address, addressToString, familyBits, parseAddress } from './address.js';
import {
  addressAtOrdinal,
  addressOrdinal,
  blockAt,
  blockContaining,
  blockCount,
  blockIndexOf,
  blockRegion,
  iterateBlocks,
} from './blocks.js';
import {
  type Cidr,
  cidrContainsAddress,
  cidrEnd,
  cidrOf,
  cidrOverlaps,
  cidrSize,
  cidrToString,
  parseCidr,
} from './cidr.js';

/** A pool, a block size that fits it, and an address inside it. */
const poolWithBlockSize = fc
  .constantFrom(4 as const, 6 as const)
  .chain((family) => {
    const bits = familyBits(family);
    return fc
      .tuple(fc.bigInt({ min: 0n, max: 2n ** BigInt(bits) - 1n }), fc.integer({ min: 0, max: bits }))
      .chain(([value, prefix]) =>
        fc.tuple(
          fc.constant(cidrOf({ family, value }, prefix)),
          fc.integer({ min: prefix, max: bits }),
          fc.bigInt({ min: 0n, max: 2n ** BigInt(bits - prefix) - 1n }),
        ),
      );
  })
  .map(([pool, blockSize, offset]) => ({
    pool,
    blockSize,
    address: { family: pool.family, value: pool.network + offset } satisfies Address,
  }));

const text = (cidr: Cidr | undefined): string | undefined =>
  cidr === undefined ? undefined : cidrToString(cidr);

describe('block arithmetic', () => {
  it.each([
    ['10.0.0.0/16', 26, 1024n],
    ['10.0.0.0/26', 26, 1n],
    ['10.0.0.0/24', 32, 256n],
    ['0.0.0.0/0', 20, 2n ** 20n],
    ['fd00::/64', 122, 2n ** 58n],
    ['fd00::/48', 122, 2n ** 74n],
  ])('%s with /%d blocks has %d blocks', (pool, blockSize, count) => {
    expect(blockCount(parseCidr(pool), blockSize)).toBe(count);
  });

  it.each([
    ['10.0.0.0/16', 26, 0n, '10.0.0.0/26'],
    ['10.0.0.0/16', 26, 1n, '10.0.0.64/26'],
    ['10.0.0.0/16', 26, 1023n, '10.0.255.192/26'],
    ['fd00::/64', 122, 0n, 'fd00::/122'],
    ['fd00::/64', 122, 2n ** 58n - 1n, 'fd00::ffff:ffff:ffff:ffc0/122'],
  ])('%s /%d block %d is %s', (pool, blockSize, index, block) => {
    const cidr = parseCidr(pool);
    expect(cidrToString(blockAt(cidr, blockSize, index))).toBe(block);
    expect(blockIndexOf(cidr, blockSize, parseCidr(block))).toBe(index);
  });

  it.each([
    ['10.0.0.0/16', 26, '10.0.1.70', '10.0.1.64/26'],
    ['10.0.0.0/16', 26, '10.1.0.0', undefined],
    ['10.0.0.0/16', 26, '::a00:0', undefined],
    ['fd00::/64', 122, 'fd00::1:2:3:4', 'fd00::1:2:3:0/122'],
  ])('in %s with /%d blocks, %s is in block %s', (pool, blockSize, address, block) => {
    expect(text(blockContaining(parseCidr(pool), blockSize, parseAddress(address)))).toBe(block);
  });

  it.each([
    ['10.0.0.0/16', 26, '10.0.0.0/24', 'wrong size'],
    ['10.0.0.0/16', 26, '10.1.0.0/26', 'outside the pool'],
    ['10.0.0.0/16', 26, 'fd00::/122', 'other family'],
  ])('in %s with /%d blocks, %s is not a block (%s)', (pool, blockSize, block) => {
    expect(blockIndexOf(parseCidr(pool), blockSize, parseCidr(block))).toBeUndefined();
  });

  it('rejects block sizes and indices that do not fit', () => {
    const pool = parseCidr('10.0.0.0/24');
    expect(() => blockCount(pool, 23)).toThrow(RangeError);
    expect(() => blockCount(pool, 33)).toThrow(RangeError);
    expect(() => blockCount(pool, 26.5)).toThrow(RangeError);
    expect(() => blockAt(pool, 26, 4n)).toThrow(RangeError);
    expect(() => blockAt(pool, 26, -1n)).toThrow(RangeError);
    expect(() => iterateBlocks(pool, 26, -1n)).toThrow(RangeError);
    expect(() => iterateBlocks(pool, 23)).toThrow(RangeError);
  });

  it('iterates lazily, from a start index', () => {
    const pool = parseCidr('fd00::/64');
    const firstThree: string[] = [];
    for (const block of iterateBlocks(pool, 122, 5n)) {
      firstThree.push(cidrToString(block));
      if (firstThree.length === 3) break;
    }
    expect(firstThree).toEqual(['fd00::140/122', 'fd00::180/122', 'fd00::1c0/122']);
    expect([...iterateBlocks(parseCidr('10.0.0.0/24'), 26)].map(cidrToString)).toEqual([
      '10.0.0.0/26',
      '10.0.0.64/26',
      '10.0.0.128/26',
      '10.0.0.192/26',
    ]);
    expect([...iterateBlocks(parseCidr('10.0.0.0/24'), 26, 3n)].map(cidrToString)).toEqual(['10.0.0.192/26']);
    expect([...iterateBlocks(parseCidr('10.0.0.0/24'), 26, 4n)]).toEqual([]);
  });

  it.each([
    ['10.0.0.64/26', '10.0.0.64', 0],
    ['10.0.0.64/26', '10.0.0.127', 63],
    ['fd00::40/122', 'fd00::7f', 63],
  ])('in %s, %s has ordinal %d', (block, address, ordinal) => {
    const cidr = parseCidr(block);
    expect(addressOrdinal(cidr, parseAddress(address))).toBe(ordinal);
    expect(addressToString(addressAtOrdinal(cidr, ordinal))).toBe(address);
  });

  it('rejects ordinals outside the block', () => {
    const block = parseCidr('10.0.0.64/26');
    expect(addressOrdinal(block, parseAddress('10.0.0.128'))).toBeUndefined();
    expect(() => addressAtOrdinal(block, 64)).toThrow(RangeError);
    expect(() => addressAtOrdinal(block, -1)).toThrow(RangeError);
    expect(() => addressAtOrdinal(block, 0.5)).toThrow(RangeError);
    expect(() => addressOrdinal(parseCidr('fd00::/64'), parseAddress('fd00::1'))).toThrow(RangeError);
  });
});

describe('block properties', () => {
  it('every address of a pool lies in exactly one block, whose index round-trips', () => {
    fc.assert(
      fc.property(poolWithBlockSize, ({ pool, blockSize, address }) => {
        const block = blockContaining(pool, blockSize, address);
        expect(block).toBeDefined();
        if (block === undefined) return;
        expect(block.prefixLength).toBe(blockSize);
        expect(cidrContainsAddress(block, address)).toBe(true);
        const index = blockIndexOf(pool, blockSize, block);
        expect(index).toBeDefined();
        if (index === undefined) return;
        expect(index >= 0n && index < blockCount(pool, blockSize)).toBe(true);
        expect(blockAt(pool, blockSize, index)).toEqual(block);
        // Exactly one: the neighbouring blocks do not hold the address.
        if (index > 0n)
          expect(cidrContainsAddress(blockAt(pool, blockSize, index - 1n), address)).toBe(false);
        if (index + 1n < blockCount(pool, blockSize)) {
          expect(cidrContainsAddress(blockAt(pool, blockSize, index + 1n), address)).toBe(false);
        }
      }),
    );
  });

  it('block i and block i+1 are adjacent, and the blocks tile the pool', () => {
    fc.assert(
      fc.property(poolWithBlockSize, fc.bigInt({ min: 0n, max: 2n ** 128n }), ({ pool, blockSize }, seed) => {
        const count = blockCount(pool, blockSize);
        expect(blockAt(pool, blockSize, 0n).network).toBe(pool.network);
        expect(cidrEnd(blockAt(pool, blockSize, count - 1n))).toBe(cidrEnd(pool));
        if (count < 2n) return;
        const i = seed % (count - 1n);
        const here = blockAt(pool, blockSize, i);
        const next = blockAt(pool, blockSize, i + 1n);
        expect(next.network).toBe(cidrEnd(here) + 1n);
        const [first, second] = [...take(iterateBlocks(pool, blockSize, i), 2)];
        expect(first).toEqual(here);
        expect(second).toEqual(next);
      }),
    );
  });

  it('address and ordinal round-trip within a block', () => {
    fc.assert(
      fc.property(
        poolWithBlockSize.filter(({ pool, blockSize }) => familyBits(pool.family) - blockSize <= 32),
        ({ pool, blockSize, address }) => {
          const block = blockContaining(pool, blockSize, address);
          if (block === undefined) throw new Error('address outside its pool');
          const ordinal = addressOrdinal(block, address);
          expect(ordinal).toBeDefined();
          if (ordinal === undefined) return;
          expect(BigInt(ordinal) < cidrSize(block)).toBe(true);
          expect(addressAtOrdinal(block, ordinal)).toEqual(address);
        },
      ),
    );
  });
});

function* take<T>(iterable: Iterable<T>, n: number): Generator<T> {
  if (n <= 0) return;
  let taken = 0;
  for (const item of iterable) {
    yield item;
    if (++taken >= n) return;
  }
}

describe('blockRegion', () => {
  it.each([
    ['192.168.0.64/26', '192.168.0.0/20'],
    ['10.0.31.255/32', '10.0.16.0/20'],
    ['10.0.16.0/20', '10.0.16.0/20'],
    ['10.0.0.0/16', '10.0.0.0/16'],
    ['fd00::1:2c0/122', 'fd00::1:0/116'],
    ['fd00::fff/128', 'fd00::/116'],
  ])('puts %s in region %s', (block, region) => {
    expect(cidrToString(blockRegion(parseCidr(block)))).toBe(region);
  });

  /** A block of a size some pool may have (IPv4 /20-/32, IPv6 /116-/128) around a random address. */
  const validBlock = fc
    .constantFrom(4 as const, 6 as const)
    .chain((family) =>
      fc
        .tuple(
          fc.bigInt({ min: 0n, max: 2n ** BigInt(familyBits(family)) - 1n }),
          fc.integer({ min: familyBits(family) - 12, max: familyBits(family) }),
        )
        .map(([value, prefix]) => cidrOf({ family, value }, prefix)),
    );

  it('gives two overlapping blocks of any valid sizes the same region', () => {
    fc.assert(
      fc.property(
        validBlock,
        fc.integer({ min: 0, max: 12 }),
        fc.bigInt({ min: 0n, max: 2n ** 12n }),
        (block, extra, offset) => {
          // A second block overlapping the first: a block of another size around an address inside it.
          const bits = familyBits(block.family);
          const inside = { family: block.family, value: block.network + (offset % cidrSize(block)) };
          const other = cidrOf(inside, Math.min(bits, Math.max(bits - 12, block.prefixLength - 6 + extra)));
          expect(cidrOverlaps(block, other)).toBe(true);
          expect(blockRegion(other)).toEqual(blockRegion(block));
        },
      ),
    );
  });
});
