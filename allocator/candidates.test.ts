import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Cidr,
  blockAt,
  blockCount,
  blockIndexOf,
  cidrContains,
  cidrToResourceName,
  cidrToString,
  parseCidr,
} from '../ipam/index.js';
import { candidateBlocks } from './candidates.js';

interface PoolCase {
  readonly pool: Cidr;
  readonly blockSize: number;
  /** Indices of the blocks the node holds. */
  readonly held: readonly number[];
  /** Indices of the blocks that exist already (the node's or another's). */
  readonly taken: readonly number[];
}

/** An IPv4 pool of at most 64 blocks, with blocks held by the node and blocks taken. */
const poolCase: fc.Arbitrary<PoolCase> = fc
  .record({
    prefixLength: fc.integer({ min: 8, max: 30 }),
    extraBits: fc.integer({ min: 0, max: 6 }),
    address: fc.nat({ max: 2 ** 32 - 1 }),
  })
  .chain(({ prefixLength, extraBits, address }) => {
    const blockSize = Math.min(32, prefixLength + extraBits);
    const hostBits = BigInt(32 - prefixLength);
    const pool: Cidr = { family: 4, network: (BigInt(address) >> hostBits) << hostBits, prefixLength };
    const index = fc.nat({ max: Number(blockCount(pool, blockSize)) - 1 });
    return fc.record({
      pool: fc.constant(pool),
      blockSize: fc.constant(blockSize),
      held: fc.uniqueArray(index, { maxLength: 4 }),
      taken: fc.uniqueArray(index, { maxLength: 64 }),
    });
  });

const names = (blocks: Iterable<Cidr>): string[] => [...blocks].map(cidrToString);
const blockOf = ({ pool, blockSize }: PoolCase, index: number) => blockAt(pool, blockSize, BigInt(index));
const takenNames = (of: PoolCase) => new Set(of.taken.map((index) => cidrToResourceName(blockOf(of, index))));
const candidatesOf = (of: PoolCase): Cidr[] => [
  ...candidateBlocks(
    of.pool,
    of.blockSize,
    of.held.map((index) => blockOf(of, index)),
    takenNames(of),
  ),
];

describe('candidateBlocks', () => {
  it('yields each block of the pool that is not taken, once: inside the pool, of the block size, aligned', () => {
    fc.assert(
      fc.property(poolCase, (of) => {
        const candidates = candidatesOf(of);
        const taken = takenNames(of);
        const hostMask = (1n << BigInt(32 - of.blockSize)) - 1n;
        for (const block of candidates) {
          expect(cidrContains(of.pool, block)).toBe(true);
          expect(block.prefixLength).toBe(of.blockSize);
          expect(block.network & hostMask).toBe(0n);
          expect(taken.has(cidrToResourceName(block))).toBe(false);
        }
        expect(new Set(names(candidates)).size).toBe(candidates.length);
        expect(candidates).toHaveLength(Number(blockCount(of.pool, of.blockSize)) - of.taken.length);
      }),
    );
  });

  it('starts just after the highest block the node holds, runs to the end of the pool, then wraps to its start', () => {
    fc.assert(
      fc.property(poolCase, (of) => {
        const count = Number(blockCount(of.pool, of.blockSize));
        const afterHighest = Math.max(-1, ...of.held) + 1;
        const start = afterHighest >= count ? 0 : afterHighest;
        const order = [...Array(count).keys()].map((step) => (start + step) % count);
        expect(candidatesOf(of).map((block) => Number(blockIndexOf(of.pool, of.blockSize, block)))).toEqual(
          order.filter((index) => !of.taken.includes(index)),
        );
      }),
    );
  });

  it.each([
    [
      'a node holding nothing starts at the pool’s start',
      '10.0.0.0/24',
      26,
      [],
      [],
      ['.0', '.64', '.128', '.192'],
    ],
    ['it goes on after its highest block', '10.0.0.0/24', 26, ['.0', '.64'], ['.0', '.64'], ['.128', '.192']],
    ['it wraps after the pool’s last block', '10.0.0.0/24', 26, ['.192'], ['.192'], ['.0', '.64', '.128']],
    ['it skips blocks taken by others', '10.0.0.0/24', 26, ['.0'], ['.0', '.64'], ['.128', '.192']],
    [
      'it ignores held blocks of another pool',
      '10.0.0.0/24',
      26,
      ['10.1.0.128/26'],
      [],
      ['.0', '.64', '.128', '.192'],
    ],
    [
      'it ignores held blocks of another size',
      '10.0.0.0/24',
      26,
      ['.128/25'],
      [],
      ['.0', '.64', '.128', '.192'],
    ],
    ['a full pool has none', '10.0.0.0/25', 26, ['.0'], ['.0', '.64'], []],
  ])('%s', (_what, poolText, blockSize, held, taken, expected) => {
    const cidr = (text: string) =>
      parseCidr(text.startsWith('.') ? `10.0.0${text}${text.includes('/') ? '' : `/${blockSize}`}` : text);
    const blocks = candidateBlocks(
      parseCidr(poolText),
      blockSize,
      held.map(cidr),
      new Set(taken.map((text) => cidrToResourceName(cidr(text)))),
    );
    expect(names(blocks)).toEqual(expected.map((text) => cidrToString(cidr(text))));
  });

  it('skips the blocks it is told could give no address (wholly reserved), keeping the order', () => {
    const unusable = new Set(['10.0.0.64/26', '10.0.0.192/26']);
    const blocks = candidateBlocks(
      parseCidr('10.0.0.0/24'),
      26,
      [parseCidr('10.0.0.0/26')],
      new Set(['10-0-0-0-26']),
      (block) => unusable.has(cidrToString(block)),
    );
    expect(names(blocks)).toEqual(['10.0.0.128/26']);
  });

  it('is lazy: the first candidates of an IPv6 pool of 2^74 blocks come at once', () => {
    const pool = parseCidr('fd00::/48');
    const blocks = candidateBlocks(
      pool,
      122,
      [parseCidr('fd00::40/122')],
      new Set(['fd00-0-0-0-0-0-0-80-122']),
    );
    const first = [blocks.next().value, blocks.next().value].map((block) => block && cidrToString(block));
    expect(first).toEqual(['fd00::c0/122', 'fd00::100/122']);
  });
});
