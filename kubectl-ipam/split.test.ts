import { describe, expect, it } from 'vitest';
import type { IPAMBlock, IPPool } from '../api/index.js';
import { cidrToString, parseCidr } from '../ipam/index.js';
import { renderSplit } from './render.js';
import { type SplitChild, childPool, newPoolOf, planSplit, splitChildren } from './split.js';

const splitFrom = 'ipam.topology-ipam.dev/split-from';

function pool(name: string, spec: IPPool['spec'], annotations?: Record<string, string>): IPPool {
  return { metadata: { name, ...(annotations === undefined ? {} : { annotations }) }, spec };
}

const rack = pool('rack', { cidr: '10.0.0.0/22', blockSize: 24, natOutgoing: true });

const cidrsOf = (result: ReturnType<typeof planSplit>) =>
  result.ok
    ? result.value.children.map((child) => `${child.name} ${cidrToString(child.cidr)}`)
    : result.error;

describe('planSplit', () => {
  it.each([
    { parts: 2, expected: ['rack-0 10.0.0.0/23', 'rack-1 10.0.2.0/23'] },
    {
      parts: 4,
      expected: ['rack-0 10.0.0.0/24', 'rack-1 10.0.1.0/24', 'rack-2 10.0.2.0/24', 'rack-3 10.0.3.0/24'],
    },
    {
      parts: 8,
      expected:
        '10.0.0.0/22 cannot be split into 8: each part would be smaller than one /24 block (at most 4)',
    },
    { parts: 3, expected: 'N must be a power of two of at least 2, not 3' },
    { parts: 1, expected: 'N must be a power of two of at least 2, not 1' },
    { parts: 0, expected: 'N must be a power of two of at least 2, not 0' },
  ])('a /22 of /24 blocks into $parts', ({ parts, expected }) => {
    expect(cidrsOf(planSplit(rack, parts, [rack]))).toEqual(expected);
  });

  it('splits an IPv6 pool with its default block size', () => {
    const v6 = pool('v6', { cidr: 'fd00::/120' });
    expect(cidrsOf(planSplit(v6, 4, [v6]))).toEqual([
      'v6-0 fd00::/122',
      'v6-1 fd00::40/122',
      'v6-2 fd00::80/122',
      'v6-3 fd00::c0/122',
    ]);
    expect(cidrsOf(planSplit(v6, 8, [v6]))).toMatch(/smaller than one \/122 block \(at most 4\)/);
  });

  it('refuses a pool whose CIDR does not parse', () => {
    expect(cidrsOf(planSplit(pool('bad', { cidr: 'nonsense' }), 2, []))).toBe(
      'IPPool "bad" has a CIDR that does not parse',
    );
  });

  it('knows the parts an earlier run made, so running it again goes on where it stopped', () => {
    const made = pool('rack-0', { cidr: '10.0.0.0/23' }, { [splitFrom]: 'rack' });
    const plan = planSplit(rack, 2, [rack, made]);
    expect(plan.ok && plan.value.children.map((child) => child.exists)).toEqual([true, false]);
  });

  it.each([
    [
      'another pool under a new pool’s name',
      pool('rack-1', { cidr: '192.168.0.0/24' }),
      '(192.168.0.0/24, not split from "rack")',
    ],
    [
      'a part of another split of the pool',
      pool('rack-1', { cidr: '10.0.1.0/24' }, { [splitFrom]: 'rack' }),
      '(10.0.1.0/24)',
    ],
  ])('refuses %s rather than take it over', (_, other, detail) => {
    expect(cidrsOf(planSplit(rack, 2, [rack, other]))).toBe(
      `IPPool "rack-1" exists and is not the part 10.0.2.0/23 of this split ${detail}`,
    );
  });
});

describe('childPool', () => {
  it('keeps the settings and labels, takes its part’s CIDR, is enabled and names the old pool', () => {
    const old: IPPool = {
      metadata: { name: 'rack', labels: { team: 'net' }, annotations: { note: 'x' }, resourceVersion: '7' },
      spec: {
        cidr: '10.0.0.0/22',
        blockSize: 24,
        natOutgoing: true,
        disabled: true,
        nodeSelector: 'rack == "0"',
      },
    };
    const child: SplitChild = { name: 'rack-1', cidr: parseCidr('10.0.2.0/23'), exists: false };
    expect(childPool(old, child)).toEqual({
      metadata: { name: 'rack-1', labels: { team: 'net' }, annotations: { [splitFrom]: 'rack' } },
      spec: {
        cidr: '10.0.2.0/23',
        blockSize: 24,
        natOutgoing: true,
        disabled: false,
        nodeSelector: 'rack == "0"',
      },
    });
  });
});

describe('newPoolOf', () => {
  const children: SplitChild[] = [
    { name: 'rack-0', cidr: parseCidr('10.0.0.0/23'), exists: true },
    { name: 'rack-1', cidr: parseCidr('10.0.2.0/23'), exists: true },
  ];
  const block = (cidr: string, node: string): IPAMBlock => ({
    metadata: { name: cidr },
    spec: { cidr, pool: 'rack', node, allocations: [], cooling: [] },
  });
  it.each([
    ['10.0.1.0/24', 'a', 'rack-0'],
    ['10.0.2.0/24', 'a', 'rack-1'],
    ['10.0.3.0/24', 'b', 'rack-1'],
    ['10.0.3.0/24', '', undefined],
    ['10.9.0.0/24', 'a', undefined],
  ])('%s of node "%s" → %s', (cidr, node, expected) => {
    expect(newPoolOf(block(cidr, node), children)).toBe(expected);
  });
});

describe('splitChildren', () => {
  it('finds the pools split from a pool by their annotation', () => {
    const pools = [
      rack,
      pool('rack-0', { cidr: '10.0.0.0/23' }, { [splitFrom]: 'rack' }),
      pool('rack-9', { cidr: '10.9.0.0/23' }),
    ];
    expect(splitChildren('rack', pools).map((found) => found.metadata.name)).toEqual(['rack-0']);
  });
});

describe('renderSplit', () => {
  const outcome = {
    pool: 'rack',
    cidr: '10.0.0.0/22',
    disabled: true,
    pools: [
      { name: 'rack-0', cidr: '10.0.0.0/23', created: true },
      { name: 'rack-1', cidr: '10.0.2.0/23', created: false },
    ],
    blocksMoved: { 'rack-0': 2 },
    blocksLeft: [],
  };
  it('says what was done, pool by pool', () => {
    expect(renderSplit(outcome, { output: 'table', colour: false })).toBe(
      [
        'IPPool "rack" 10.0.0.0/22 disabled.',
        'POOL    CIDR         CREATED        BLOCKS MOVED',
        'rack-0  10.0.0.0/23  yes            2',
        'rack-1  10.0.2.0/23  already there  0',
        'IPPool "rack" deleted: it goes once no block is left in it.',
      ].join('\n'),
    );
  });

  it('names the blocks left to move', () => {
    const text = renderSplit(
      { ...outcome, disabled: false, blocksLeft: ['10.0.3.0/24'] },
      { output: 'table', colour: false },
    );
    expect(text).toContain('IPPool "rack" 10.0.0.0/22 was disabled already.');
    expect(text).toContain(
      '1 block(s) still being claimed in "rack" (10.0.3.0/24): run the same split again to move them.',
    );
  });

  it('says when an earlier run finished the split', () => {
    const done = { pool: 'rack', pools: outcome.pools, disabled: false, blocksMoved: {}, blocksLeft: [] };
    expect(renderSplit(done, { output: 'table', colour: false }).split('\n')).toEqual([
      'IPPool "rack" is gone: it was split already.',
      'POOL    CIDR         CREATED        BLOCKS MOVED',
      'rack-0  10.0.0.0/23  yes            0',
      'rack-1  10.0.2.0/23  already there  0',
    ]);
  });

  it('is JSON for tools', () => {
    expect(JSON.parse(renderSplit(outcome, { output: 'json', colour: false }))).toEqual(outcome);
  });
});
