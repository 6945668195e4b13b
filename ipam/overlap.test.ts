import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cidrContains, cidrEquals, cidrOf, cidrOverlaps, parseCidr } from './cidr.js';
import { type Overlap, type PoolRef, findOverlaps, findOverlapsWith, formatOverlap } from './overlap.js';

function pool(name: string, cidr: string, createdAt?: string): PoolRef {
  return createdAt === undefined
    ? { name, cidr: parseCidr(cidr) }
    : { name, cidr: parseCidr(cidr), createdAt: new Date(createdAt) };
}

/** `a>b:relation`, for compact expectations. */
function summary(overlaps: readonly Overlap[]): string[] {
  return overlaps.map((o) => `${o.a.name}>${o.b.name}:${o.relation}`);
}

describe('findOverlaps', () => {
  it.each<{ name: string; pools: PoolRef[]; expected: string[] }>([
    { name: 'no pools', pools: [], expected: [] },
    {
      name: 'disjoint pools',
      pools: [pool('a', '10.0.0.0/24'), pool('b', '10.0.1.0/24'), pool('c', 'fd00::/64')],
      expected: [],
    },
    {
      name: 'a /16 holding several /24s, each reported',
      pools: [
        pool('default', '192.168.0.0/16'),
        pool('rack-2', '192.168.2.0/24'),
        pool('rack-1', '192.168.1.0/24'),
        pool('other', '10.0.0.0/8'),
      ],
      expected: ['default>rack-1:a-contains-b', 'default>rack-2:a-contains-b'],
    },
    {
      name: 'three levels of nesting: all three pairs',
      pools: [pool('c', '10.0.0.0/24'), pool('a', '10.0.0.0/8'), pool('b', '10.0.0.0/16')],
      expected: ['a>b:a-contains-b', 'a>c:a-contains-b', 'b>c:a-contains-b'],
    },
    {
      name: 'identical CIDRs',
      pools: [pool('y', '10.0.0.0/8'), pool('x', '10.0.0.0/8')],
      expected: ['x>y:equal'],
    },
    {
      name: 'the older pool is a, whichever contains which',
      pools: [
        pool('big', '10.0.0.0/8', '2024-02-01T00:00:00Z'),
        pool('small', '10.1.0.0/16', '2024-01-01T00:00:00Z'),
      ],
      expected: ['small>big:b-contains-a'],
    },
    {
      name: 'a pool without a creation time counts as newest',
      pools: [pool('a-new', '10.0.0.0/8'), pool('z-old', '10.1.0.0/16', '2024-01-01T00:00:00Z')],
      expected: ['z-old>a-new:b-contains-a'],
    },
    {
      name: 'IPv4 and IPv6 never overlap, even ::/0 and 0.0.0.0/0',
      pools: [pool('v4', '0.0.0.0/0'), pool('v6', '::/0'), pool('mapped', '::ffff:0.0.0.0/96')],
      expected: ['mapped>v6:b-contains-a'],
    },
    {
      name: 'a sibling after a nested run is not reported against the run',
      pools: [
        pool('a', '10.0.0.0/23'),
        pool('b', '10.0.0.0/24'),
        pool('c', '10.0.0.128/25'),
        pool('d', '10.0.1.0/24'),
        pool('e', '10.0.2.0/24'),
      ],
      expected: ['a>b:a-contains-b', 'a>c:a-contains-b', 'b>c:a-contains-b', 'a>d:a-contains-b'],
    },
  ])('$name', ({ pools, expected }) => {
    expect(summary(findOverlaps(pools))).toEqual(expected);
  });

  /** Small address spaces, so that overlaps are common. */
  const arbitraryPools = fc
    .array(
      fc.oneof(
        fc
          .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 16, max: 24 }))
          .map(([low, prefix]) => cidrOf({ family: 4, value: 0x0a000000n + BigInt(low << 8) }, prefix)),
        fc
          .tuple(fc.integer({ min: 0, max: 0xff }), fc.integer({ min: 120, max: 128 }))
          .map(([low, prefix]) => cidrOf({ family: 6, value: (0xfd00n << 112n) | BigInt(low) }, prefix)),
      ),
      { maxLength: 60 },
    )
    .chain((cidrs) =>
      fc.tuple(
        fc.constant(cidrs),
        fc.array(fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }), {
          minLength: cidrs.length,
          maxLength: cidrs.length,
        }),
      ),
    )
    .map(([cidrs, days]) =>
      cidrs.map((cidr, i): PoolRef => {
        const day = days[i];
        return day === undefined
          ? { name: `p${i}`, cidr }
          : { name: `p${i}`, cidr, createdAt: new Date(day * 864e5) };
      }),
    );

  it('finds exactly the pairs an O(n^2) comparison finds, each oriented and related correctly', () => {
    fc.assert(
      fc.property(arbitraryPools, (pools) => {
        const key = (x: string, y: string): string => (x < y ? `${x}|${y}` : `${y}|${x}`);
        const expected = new Set<string>();
        for (let i = 0; i < pools.length; i++) {
          for (let j = i + 1; j < pools.length; j++) {
            const [x, y] = [pools[i], pools[j]];
            if (x !== undefined && y !== undefined && cidrOverlaps(x.cidr, y.cidr))
              expected.add(key(x.name, y.name));
          }
        }
        const found = findOverlaps(pools);
        expect(new Set(found.map((o) => key(o.a.name, o.b.name)))).toEqual(expected);
        expect(found).toHaveLength(expected.size);
        for (const { a, b, relation } of found) {
          switch (relation) {
            case 'equal':
              expect(cidrEquals(a.cidr, b.cidr)).toBe(true);
              break;
            case 'a-contains-b':
              expect(cidrContains(a.cidr, b.cidr) && !cidrEquals(a.cidr, b.cidr)).toBe(true);
              break;
            case 'b-contains-a':
              expect(cidrContains(b.cidr, a.cidr) && !cidrEquals(a.cidr, b.cidr)).toBe(true);
              break;
          }
          // `a` came first: older, or as old (or both without a time) and first by name.
          const ta = a.createdAt?.getTime() ?? Infinity;
          const tb = b.createdAt?.getTime() ?? Infinity;
          expect(ta < tb || (ta === tb && a.name < b.name)).toBe(true);
        }
      }),
    );
  });
});

describe('findOverlaps precedence', () => {
  it('puts a pool already in service first, whatever the creation times say', () => {
    const sameSecond = new Date('2024-01-01T00:00:00Z');
    const [overlap] = findOverlaps([
      { name: 'a-newcomer', cidr: parseCidr('10.0.0.0/16'), createdAt: sameSecond },
      { name: 'z-serving', cidr: parseCidr('10.0.0.0/24'), createdAt: sameSecond, incumbent: true },
    ]);
    expect(overlap?.a.name).toBe('z-serving');
    expect(overlap?.b.name).toBe('a-newcomer');
    const [older] = findOverlaps([
      { name: 'old', cidr: parseCidr('10.0.0.0/16'), createdAt: new Date(0) },
      { name: 'serving', cidr: parseCidr('10.0.0.0/24'), createdAt: new Date(1000), incumbent: true },
    ]);
    expect(older?.a.name).toBe('serving');
  });
});

describe('findOverlapsWith', () => {
  const existing = [
    pool('default', '192.168.0.0/16'),
    pool('rack-1', '192.168.1.0/24'),
    pool('v6', 'fd00::/48'),
    pool('elsewhere', '10.0.0.0/8'),
  ];

  it.each([
    ['192.168.1.0/26', ['default>new:a-contains-b', 'rack-1>new:a-contains-b']],
    ['192.168.0.0/15', ['default>new:b-contains-a', 'rack-1>new:b-contains-a']],
    ['10.0.0.0/8', ['elsewhere>new:equal']],
    ['172.16.0.0/12', []],
    ['fd00::/64', ['v6>new:a-contains-b']],
  ])('a new pool %s overlaps %j', (cidr, expected) => {
    expect(summary(findOverlapsWith(pool('new', cidr), existing))).toEqual(expected);
  });

  it('skips the previous version of the candidate itself', () => {
    expect(summary(findOverlapsWith(pool('rack-1', '192.168.1.0/25'), existing))).toEqual([
      'default>rack-1:a-contains-b',
    ]);
  });
});

describe('formatOverlap', () => {
  const inner = pool('rack-1', '192.168.1.0/24');
  const outer = pool('default', '192.168.0.0/16');

  it.each<[string, Overlap, 'a' | 'b', string]>([
    [
      'new pool inside an existing one',
      { a: outer, b: inner, relation: 'a-contains-b' },
      'b',
      'IPPool "rack-1" 192.168.1.0/24 overlaps IPPool "default" 192.168.0.0/16 (contains it)',
    ],
    [
      'new pool around an existing one',
      { a: inner, b: outer, relation: 'b-contains-a' },
      'b',
      'IPPool "default" 192.168.0.0/16 overlaps IPPool "rack-1" 192.168.1.0/24 (inside it)',
    ],
    [
      'subject a',
      { a: outer, b: inner, relation: 'a-contains-b' },
      'a',
      'IPPool "default" 192.168.0.0/16 overlaps IPPool "rack-1" 192.168.1.0/24 (inside it)',
    ],
    [
      'same CIDR',
      { a: pool('orig', '10.0.0.0/8'), b: pool('copy', '10.0.0.0/8'), relation: 'equal' },
      'b',
      'IPPool "copy" 10.0.0.0/8 overlaps IPPool "orig" 10.0.0.0/8 (same CIDR)',
    ],
  ])('%s', (_, overlap, subject, message) => {
    expect(formatOverlap(overlap, subject)).toBe(message);
  });
});
