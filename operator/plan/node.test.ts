import { describe, expect, it } from 'vitest';
import type { CoolingAddress, IPAMBlock } from '../../api/index.js';
import { allocation, allocations, block, view } from './fixtures.js';
import { type NodePlanInput, freeAddresses, planNode } from './node.js';
import { type PoolView, poolStandings } from './pools.js';

const NOW = new Date('2025-01-01T00:00:00Z');
const secondsAgo = (seconds: number): string => new Date(NOW.getTime() - seconds * 1000).toISOString();
const cooling = (ordinal: number, releasedAt: string): CoolingAddress => ({ ordinal, releasedAt });

const config: NodePlanInput['config'] = {
  maxBlocksPerHost: 0,
  minFreeAddressesPerNode: 16,
  releaseCooldownSeconds: 30,
};

function plan(
  labels: Record<string, string> | undefined,
  pools: PoolView[],
  blocks: IPAMBlock[],
  overrides: Partial<NodePlanInput['config']> = {},
) {
  return planNode({
    labels,
    pools,
    standings: poolStandings(pools),
    blocks,
    config: { ...config, ...overrides },
    now: NOW,
  });
}

/** Pool names to claim, block CIDRs to release, for compact expectations. */
function summary(result: ReturnType<typeof planNode>) {
  return {
    claim: result.claim.map((pool) => pool.name),
    release: result.release.map((b) => b.spec.cidr),
    unselected: result.unselected,
  };
}

describe('freeAddresses', () => {
  it.each<{ name: string; block: IPAMBlock; cooldown: number; free: number }>([
    {
      name: 'an empty IPv4 /26 (network and broadcast reserved)',
      block: block('10.0.0.0/26', 'p', 'n'),
      cooldown: 30,
      free: 62,
    },
    {
      name: 'a /26 with three allocations',
      block: block('10.0.0.0/26', 'p', 'n', { allocations: allocations(3) }),
      cooldown: 30,
      free: 59,
    },
    {
      name: 'a full /26',
      block: block('10.0.0.0/26', 'p', 'n', { allocations: allocations(62) }),
      cooldown: 30,
      free: 0,
    },
    {
      name: 'an address still cooling down',
      block: block('10.0.0.0/26', 'p', 'n', { cooling: [cooling(5, secondsAgo(29))] }),
      cooldown: 30,
      free: 61,
    },
    {
      name: 'an address whose cool-down just ended',
      block: block('10.0.0.0/26', 'p', 'n', { cooling: [cooling(5, secondsAgo(30))] }),
      cooldown: 30,
      free: 62,
    },
    {
      name: 'an unreadable release time counts as cooling',
      block: block('10.0.0.0/26', 'p', 'n', { cooling: [cooling(5, 'yesterday')] }),
      cooldown: 30,
      free: 61,
    },
    {
      name: 'no cool-down',
      block: block('10.0.0.0/26', 'p', 'n', { cooling: [cooling(5, secondsAgo(0))] }),
      cooldown: 0,
      free: 62,
    },
    { name: 'a /30 reserves nothing', block: block('10.0.0.0/30', 'p', 'n'), cooldown: 30, free: 4 },
    { name: 'a /32', block: block('10.0.0.7/32', 'p', 'n'), cooldown: 30, free: 1 },
    {
      name: 'an IPv6 /122 reserves only its first address',
      block: block('fd00::/122', 'p', 'n'),
      cooldown: 30,
      free: 63,
    },
  ])('$name: $free', ({ block: b, cooldown, free }) => {
    expect(freeAddresses(b, cooldown, NOW)).toBe(free);
  });
});

describe('planNode: claiming', () => {
  const rack0 = view('rack-0', { cidr: '192.168.0.0/24', nodeSelector: 'rack == "0"' });
  const other = view('other', { cidr: '10.0.0.0/16', nodeSelector: 'rack == "0"' });
  const held = (count: number, contents: Parameters<typeof block>[3] = {}): IPAMBlock[] =>
    Array.from({ length: count }, (_, index) => block(`192.168.0.${index * 64}/26`, 'rack-0', 'n', contents));

  it.each<{
    name: string;
    blocks: IPAMBlock[];
    config?: Partial<NodePlanInput['config']>;
    claim: boolean;
  }>([
    { name: 'no block yet', blocks: [], claim: true },
    { name: 'an empty block: 62 free', blocks: held(1), claim: false },
    {
      name: '12 free, below the target of 16',
      blocks: held(1, { allocations: allocations(50) }),
      claim: true,
    },
    {
      name: 'exactly 16 free: at the target',
      blocks: held(1, { allocations: allocations(46) }),
      claim: false,
    },
    {
      name: 'cooling addresses are not free',
      blocks: held(1, {
        allocations: allocations(40),
        cooling: Array.from({ length: 10 }, (_, i) => cooling(50 + i, secondsAgo(1))),
      }),
      claim: true,
    },
    {
      name: 'cooled-down addresses are free again',
      blocks: held(1, {
        allocations: allocations(40),
        cooling: Array.from({ length: 10 }, (_, i) => cooling(50 + i, secondsAgo(60))),
      }),
      claim: false,
    },
    {
      name: 'free addresses add up over the pool’s blocks',
      blocks: [
        block('192.168.0.0/26', 'rack-0', 'n', { allocations: allocations(60) }),
        block('192.168.0.64/26', 'rack-0', 'n', { allocations: allocations(50) }),
      ],
      claim: true,
    },
    {
      name: 'a full block and an empty one',
      blocks: [
        block('192.168.0.0/26', 'rack-0', 'n', { allocations: allocations(62) }),
        block('192.168.0.64/26', 'rack-0', 'n'),
      ],
      claim: false,
    },
    {
      name: 'the target is 0: a full block is enough',
      blocks: held(1, { allocations: allocations(62) }),
      config: { minFreeAddressesPerNode: 0 },
      claim: false,
    },
    {
      name: 'a target above a block’s size: one more block per pass',
      blocks: held(1),
      config: { minFreeAddressesPerNode: 100 },
      claim: true,
    },
    {
      name: 'maxBlocksPerHost 0 means no limit',
      blocks: held(3, { allocations: allocations(62) }),
      claim: true,
    },
    {
      name: 'below maxBlocksPerHost',
      blocks: held(1, { allocations: allocations(62) }),
      config: { maxBlocksPerHost: 2 },
      claim: true,
    },
    {
      name: 'at maxBlocksPerHost, even when full',
      blocks: held(2, { allocations: allocations(62) }),
      config: { maxBlocksPerHost: 2 },
      claim: false,
    },
    {
      name: 'maxBlocksPerHost 1 still gives the first block',
      blocks: [],
      config: { maxBlocksPerHost: 1 },
      claim: true,
    },
    {
      name: 'blocks of another pool do not count',
      blocks: [block('10.0.0.0/26', 'other', 'n', { allocations: allocations(1) })],
      claim: true,
    },
  ])('$name: claim=$claim', ({ blocks, config: overrides, claim }) => {
    const result = plan({ rack: '0' }, [rack0], blocks, overrides);
    expect(summary(result)).toEqual({ claim: claim ? ['rack-0'] : [], release: [], unselected: false });
  });

  it('claims from every selecting pool that needs a block, each counted on its own, by pool name', () => {
    const blocks = [block('10.0.0.0/26', 'other', 'n', { allocations: allocations(62) })];
    expect(summary(plan({ rack: '0' }, [rack0, other], blocks)).claim).toEqual(['other', 'rack-0']);
    const both = [...blocks, block('192.168.0.0/26', 'rack-0', 'n')];
    expect(summary(plan({ rack: '0' }, [rack0, other], both)).claim).toEqual(['other']);
  });

  it.each<{ name: string; blocks: IPAMBlock[]; max: number; claim: string[] }>([
    {
      name: 'limit 1, no block yet: one IPv4 block, from the first pool',
      blocks: [],
      max: 1,
      claim: ['other', 'v6'],
    },
    {
      name: 'limit 2, no block yet: one IPv4 block from each',
      blocks: [],
      max: 2,
      claim: ['other', 'rack-0', 'v6'],
    },
    {
      name: 'a full block of one pool is the family’s only block: none from the other',
      blocks: [block('10.0.0.0/26', 'other', 'n', { allocations: allocations(62) })],
      max: 1,
      claim: ['v6'],
    },
    {
      name: 'an IPv6 block counts against the IPv6 limit only',
      blocks: [block('fd00::/122', 'v6', 'n', { allocations: allocations(62) })],
      max: 1,
      claim: ['other'],
    },
    {
      name: 'a block of a pool that no longer selects the node does not count',
      blocks: [block('10.9.0.0/26', 'gone', 'n', { allocations: allocations(1) })],
      max: 1,
      claim: ['other', 'v6'],
    },
  ])('maxBlocksPerHost counts per family across pools: $name', ({ blocks, max, claim }) => {
    const v6 = view('v6', { cidr: 'fd00::/64', blockSize: 122, nodeSelector: 'rack == "0"' });
    expect(summary(plan({ rack: '0' }, [rack0, other, v6], blocks, { maxBlocksPerHost: max })).claim).toEqual(
      claim,
    );
  });

  it.each<{ name: string; pool: PoolView; labels: Record<string, string> | undefined; unselected: boolean }>([
    { name: 'a selector that does not match', pool: rack0, labels: { rack: '1' }, unselected: true },
    {
      name: 'a disabled pool',
      pool: view('rack-0', { cidr: '192.168.0.0/24', disabled: true }),
      labels: { rack: '0' },
      unselected: true,
    },
    {
      name: 'a Manual pool',
      pool: view('rack-0', { cidr: '192.168.0.0/24', assignmentMode: 'Manual' }),
      labels: { rack: '0' },
      unselected: true,
    },
    {
      name: 'a pool being deleted',
      pool: view('rack-0', { cidr: '192.168.0.0/24' }, { deleting: true }),
      labels: { rack: '0' },
      unselected: true,
    },
    {
      name: 'an invalid pool',
      pool: view('rack-0', { cidr: 'nope' }),
      labels: { rack: '0' },
      unselected: true,
    },
    { name: 'a node that is gone is not "unselected"', pool: rack0, labels: undefined, unselected: false },
  ])('claims nothing from $name', ({ pool, labels, unselected }) => {
    expect(summary(plan(labels, [pool], []))).toEqual({ claim: [], release: [], unselected });
  });

  it('says why each pool gives the node no block', () => {
    const pools = [rack0, view('manual', { cidr: '10.1.0.0/16', assignmentMode: 'Manual' })];
    expect(plan({ rack: '1' }, pools, []).passedOver).toEqual([
      'manual: assignmentMode Manual and not named in ipam.pools (a Manual pool serves only the networks that name it)',
      'rack-0: nodeSelector rack == "0" does not match the node\'s labels',
    ]);
    expect(plan(undefined, pools, []).passedOver).toEqual([]);
  });

  it('claims nothing from the newer of two overlapping pools', () => {
    const pools = [
      view('old', { cidr: '10.0.0.0/8' }, { createdAt: '2024-01-01T00:00:00Z' }),
      view('new', { cidr: '10.1.0.0/16' }, { createdAt: '2024-02-01T00:00:00Z' }),
    ];
    expect(summary(plan({}, pools, [])).claim).toEqual(['old']);
  });
});

describe('planNode: releasing', () => {
  const rack0 = view('rack-0', { cidr: '192.168.0.0/24', nodeSelector: 'rack == "0"' });
  const empty = block('192.168.0.0/26', 'rack-0', 'n');
  const used = block('192.168.0.64/26', 'rack-0', 'n', { allocations: [allocation(1)] });
  const coolingOnly = block('192.168.0.128/26', 'rack-0', 'n', { cooling: [cooling(1, secondsAgo(1))] });
  const all = [empty, used, coolingOnly];

  it.each<{ name: string; labels: Record<string, string> | undefined; pools: PoolView[]; release: string[] }>(
    [
      {
        name: 'the node is gone: every empty block',
        labels: undefined,
        pools: [rack0],
        release: ['192.168.0.0/26', '192.168.0.128/26'],
      },
      {
        name: 'the pool is gone',
        labels: { rack: '0' },
        pools: [],
        release: ['192.168.0.0/26', '192.168.0.128/26'],
      },
      {
        name: 'the pool is being deleted',
        labels: { rack: '0' },
        pools: [view('rack-0', { cidr: '192.168.0.0/24', nodeSelector: 'rack == "0"' }, { deleting: true })],
        release: ['192.168.0.0/26', '192.168.0.128/26'],
      },
      {
        name: 'the pool no longer selects the node',
        labels: { rack: '1' },
        pools: [rack0],
        release: ['192.168.0.0/26', '192.168.0.128/26'],
      },
      { name: 'the pool still selects the node', labels: { rack: '0' }, pools: [rack0], release: [] },
      {
        name: 'the pool is disabled but selects the node',
        labels: { rack: '0' },
        pools: [view('rack-0', { cidr: '192.168.0.0/24', nodeSelector: 'rack == "0"', disabled: true })],
        release: [],
      },
      {
        name: 'the pool is Manual and selects the node',
        labels: { rack: '0' },
        pools: [
          view('rack-0', { cidr: '192.168.0.0/24', nodeSelector: 'rack == "0"', assignmentMode: 'Manual' }),
        ],
        release: [],
      },
      {
        name: 'the pool’s spec is invalid: its selector is unknown',
        labels: { rack: '1' },
        pools: [view('rack-0', { cidr: '192.168.0.0/24', nodeSelector: 'rack ==' })],
        release: [],
      },
      {
        name: 'the pool conflicts with an older one',
        labels: { rack: '0' },
        pools: [
          view('default', { cidr: '192.168.0.0/16' }, { createdAt: '2023-01-01T00:00:00Z' }),
          view(
            'rack-0',
            { cidr: '192.168.0.0/24', nodeSelector: 'rack == "0"' },
            { createdAt: '2024-01-01T00:00:00Z' },
          ),
        ],
        release: [],
      },
    ],
  )('$name', ({ labels, pools, release }) => {
    const result = plan(labels, pools, all);
    expect(result.release.map((b) => b.spec.cidr)).toEqual(release);
    expect(result.release).not.toContain(used);
  });

  it('releases nothing while a block holds an address, whatever else changed', () => {
    expect(plan(undefined, [], [used]).release).toEqual([]);
  });
});

describe('planNode: Calico topology guide (4 nodes, 2 rack pools)', () => {
  const pools = [
    view('rack-0', { cidr: '192.168.0.0/24', blockSize: 26, nodeSelector: 'rack == "0"', natOutgoing: true }),
    view('rack-1', { cidr: '192.168.1.0/24', blockSize: 26, nodeSelector: 'rack == "1"', natOutgoing: true }),
  ];

  it.each([
    { node: 'kube-node-0', labels: { rack: '0' }, pool: 'rack-0' },
    { node: 'kube-node-1', labels: { rack: '0' }, pool: 'rack-0' },
    { node: 'kube-node-2', labels: { rack: '1' }, pool: 'rack-1' },
    { node: 'kube-node-3', labels: { rack: '1' }, pool: 'rack-1' },
  ])('$node (rack $labels.rack) claims one block of $pool', ({ labels, pool }) => {
    expect(summary(plan(labels, pools, []))).toEqual({ claim: [pool], release: [], unselected: false });
  });

  it.each([
    { node: 'kube-node-0', labels: { rack: '0' }, cidr: '192.168.0.0/26', pool: 'rack-0' },
    { node: 'kube-node-1', labels: { rack: '0' }, cidr: '192.168.0.64/26', pool: 'rack-0' },
    { node: 'kube-node-2', labels: { rack: '1' }, cidr: '192.168.1.0/26', pool: 'rack-1' },
    { node: 'kube-node-3', labels: { rack: '1' }, cidr: '192.168.1.64/26', pool: 'rack-1' },
  ])('$node holding $cidr is converged', ({ node, labels, cidr, pool }) => {
    expect(summary(plan(labels, pools, [block(cidr, pool, node)]))).toEqual({
      claim: [],
      release: [],
      unselected: false,
    });
  });

  it('a node moved from rack 0 to rack 1 claims from rack-1 and lets its empty rack-0 block go', () => {
    const blocks = [block('192.168.0.64/26', 'rack-0', 'kube-node-1')];
    expect(summary(plan({ rack: '1' }, pools, blocks))).toEqual({
      claim: ['rack-1'],
      release: ['192.168.0.64/26'],
      unselected: false,
    });
  });

  it('a moved node keeps a rack-0 block that still holds a pod address', () => {
    const blocks = [block('192.168.0.64/26', 'rack-0', 'kube-node-1', { allocations: [allocation(1)] })];
    expect(summary(plan({ rack: '1' }, pools, blocks))).toEqual({
      claim: ['rack-1'],
      release: [],
      unselected: false,
    });
  });

  it('a node in no rack is selected by no pool', () => {
    expect(summary(plan({}, pools, []))).toEqual({ claim: [], release: [], unselected: true });
  });

  it('a removed node releases its empty block', () => {
    const blocks = [block('192.168.1.64/26', 'rack-1', 'kube-node-3')];
    expect(summary(plan(undefined, pools, blocks))).toEqual({
      claim: [],
      release: ['192.168.1.64/26'],
      unselected: false,
    });
  });
});

describe('planNode: draining', () => {
  const rack0 = view('rack-0', { cidr: '192.168.0.0/24', nodeSelector: 'rack == "0"' });
  const rack1 = view('rack-1', { cidr: '192.168.1.0/24', nodeSelector: 'rack == "1"' });
  const used = (overrides: { draining?: boolean } = {}) =>
    block('192.168.0.64/26', 'rack-0', 'n', { allocations: [allocation(1)], ...overrides });
  const drained = (result: ReturnType<typeof planNode>) =>
    result.drain.map(({ block: b, draining }) => [b.spec.cidr, draining]);

  it.each<{
    name: string;
    labels: Record<string, string> | undefined;
    pools: PoolView[];
    block: IPAMBlock;
    drain: unknown[];
  }>([
    {
      name: 'a serving block is left alone',
      labels: { rack: '0' },
      pools: [rack0],
      block: used(),
      drain: [],
    },
    {
      name: 'a kept block of a pool that no longer selects the node drains',
      labels: { rack: '1' },
      pools: [rack0, rack1],
      block: used(),
      drain: [['192.168.0.64/26', true]],
    },
    {
      name: 'a kept block of a disabled pool drains',
      labels: { rack: '0' },
      pools: [view('rack-0', { cidr: '192.168.0.0/24', nodeSelector: 'rack == "0"', disabled: true })],
      block: used(),
      drain: [['192.168.0.64/26', true]],
    },
    {
      name: 'a kept block of a gone node drains',
      labels: undefined,
      pools: [rack0],
      block: used(),
      drain: [['192.168.0.64/26', true]],
    },
    {
      name: 'a draining block whose pool serves the node again stops draining',
      labels: { rack: '0' },
      pools: [rack0],
      block: used({ draining: true }),
      drain: [['192.168.0.64/26', false]],
    },
    {
      name: 'a draining block that should drain is left alone',
      labels: { rack: '1' },
      pools: [rack0, rack1],
      block: used({ draining: true }),
      drain: [],
    },
    {
      name: 'a kept block of a pool whose allowedUses no longer include Workload drains',
      labels: { rack: '0' },
      pools: [
        view('rack-0', { cidr: '192.168.0.0/24', nodeSelector: 'rack == "0"', allowedUses: ['Tunnel'] }),
      ],
      block: used(),
      drain: [['192.168.0.64/26', true]],
    },
    {
      name: 'a block of a Manual pool selecting the node serves the networks that name it: no drain',
      labels: { rack: '0' },
      pools: [
        view('rack-0', { cidr: '192.168.0.0/24', nodeSelector: 'rack == "0"', assignmentMode: 'Manual' }),
      ],
      block: used(),
      drain: [],
    },
    {
      name: 'a block being released is not also drained',
      labels: { rack: '1' },
      pools: [rack0, rack1],
      block: block('192.168.0.0/26', 'rack-0', 'n'),
      drain: [],
    },
  ])('$name', ({ labels, pools, block: held, drain }) => {
    expect(drained(plan(labels, pools, [held]))).toEqual(drain);
  });
});

describe('planNode: a block a pod asked for explicitly (requestedBlocks)', () => {
  const rack0 = view('rack-0', { cidr: '192.168.0.0/24', nodeSelector: 'rack == "0"' });
  const rack1 = view('rack-1', { cidr: '192.168.1.0/24', nodeSelector: 'rack == "1"' });
  const used = block('192.168.0.64/26', 'rack-0', 'n', { allocations: [allocation(1)] });
  const drainingUsed = block('192.168.0.64/26', 'rack-0', 'n', {
    allocations: [allocation(1)],
    draining: true,
  });
  const requested = new Set([used.metadata.name]);
  const planWith = (labels: Record<string, string>, pools: PoolView[], held: IPAMBlock, names: Set<string>) =>
    planNode({
      labels,
      pools,
      standings: poolStandings(pools),
      blocks: [held],
      config,
      now: NOW,
      requestedBlocks: names,
    });
  const drained = (result: ReturnType<typeof planNode>) =>
    result.drain.map(({ block: b, draining }) => [b.spec.cidr, draining]);

  it('keeps serving, neither drained nor released, though the pool does not select the node', () => {
    const result = planWith({ rack: '1' }, [rack0, rack1], used, requested);
    expect(drained(result)).toEqual([]);
    expect(result.release).toEqual([]);
  });

  it('serves again once a requested pod holds an address in a block drained before', () => {
    expect(drained(planWith({ rack: '1' }, [rack0, rack1], drainingUsed, requested))).toEqual([
      ['192.168.0.64/26', false],
    ]);
  });

  it('drains once no requested pod holds an address there', () => {
    expect(drained(planWith({ rack: '1' }, [rack0, rack1], used, new Set()))).toEqual([
      ['192.168.0.64/26', true],
    ]);
  });

  it('still drains for anything but the nodeSelector (a disabled pool)', () => {
    const disabled = view('rack-0', { cidr: '192.168.0.0/24', nodeSelector: 'rack == "0"', disabled: true });
    expect(drained(planWith({ rack: '0' }, [disabled], used, requested))).toEqual([
      ['192.168.0.64/26', true],
    ]);
  });
});
