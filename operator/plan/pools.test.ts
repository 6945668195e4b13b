import { describe, expect, it } from 'vitest';
import type { AllocatableReason } from '../../api/index.js';
import { T0, ipPool, view } from './fixtures.js';
import { type PoolView, poolStandings, poolView, poolsAffectedBy, poolsSelecting } from './pools.js';

const EARLY = '2024-01-01T00:00:00Z';
const LATE = '2024-02-01T00:00:00Z';

/** name → reason, for compact expectations. */
function reasons(views: readonly PoolView[]): Record<string, AllocatableReason> {
  return Object.fromEntries([...poolStandings(views)].map(([name, standing]) => [name, standing.reason]));
}

describe('poolView', () => {
  it('parses a valid pool once: normalized spec, CIDR and selector', () => {
    const pool = view('rack-0', { cidr: '192.168.0.0/24', nodeSelector: 'rack == "0"' });
    expect(pool.name).toBe('rack-0');
    expect(pool.createdAt).toEqual(new Date(T0));
    expect(pool.deleting).toBe(false);
    expect(pool.problems).toEqual([]);
    expect(pool.valid?.spec.blockSize).toBe(26);
    expect(pool.valid?.cidr.prefixLength).toBe(24);
    expect(pool.valid?.selector.matches({ rack: '0' })).toBe(true);
    expect(pool.valid?.selector.matches({ rack: '1' })).toBe(false);
  });

  it.each([
    { name: 'unparseable CIDR', spec: { cidr: 'not-a-cidr' }, field: 'spec.cidr' },
    {
      name: 'block size out of range',
      spec: { cidr: '10.0.0.0/16', blockSize: 16 },
      field: 'spec.blockSize',
    },
    {
      name: 'bad selector',
      spec: { cidr: '10.0.0.0/16', nodeSelector: 'rack ==' },
      field: 'spec.nodeSelector',
    },
  ])('an invalid spec ($name) has no parsed view and says why', ({ spec, field }) => {
    const pool = view('bad', spec);
    expect(pool.valid).toBeUndefined();
    expect(pool.problems.length).toBeGreaterThan(0);
    expect(pool.problems.join('\n')).toContain(field);
  });

  it('marks a pool with a deletionTimestamp as deleting', () => {
    expect(view('p', { cidr: '10.0.0.0/16' }, { deleting: true }).deleting).toBe(true);
  });

  it('reads creationTimestamp, and nothing when it is missing (such a pool counts as the newest)', () => {
    expect(view('p', { cidr: '10.0.0.0/16' }, { createdAt: LATE }).createdAt).toEqual(new Date(LATE));
    const pool = ipPool('p', { cidr: '10.0.0.0/16' });
    delete pool.metadata.creationTimestamp;
    expect(poolView(pool).createdAt).toBeUndefined();
    const stamped = view('stamped', { cidr: '10.0.0.0/8' }, { createdAt: LATE });
    const standings = poolStandings([
      stamped,
      poolView({ ...pool, metadata: { ...pool.metadata, name: 'unstamped' } }),
    ]);
    expect(standings.get('stamped')?.reason).toBe('OK');
    expect(standings.get('unstamped')?.reason).toBe('CIDROverlap');
  });
});

describe('poolStandings with pools created in the same second', () => {
  it('keeps the pool already in service and refuses the newcomer, whatever their names', () => {
    const serving = ipPool('z-rack-0', { cidr: '192.168.0.0/24' });
    const inService = poolView({
      ...serving,
      status: {
        conditions: [
          { type: 'Allocatable', status: 'True', reason: 'OK', message: '', lastTransitionTime: T0 },
        ],
      },
    });
    const newcomer = view('a-overlap', { cidr: '192.168.0.0/16' });
    const standings = poolStandings([newcomer, inService]);
    expect(standings.get('z-rack-0')?.reason).toBe('OK');
    expect(standings.get('a-overlap')?.reason).toBe('CIDROverlap');
  });
});

describe('poolStandings', () => {
  it.each<{ name: string; pools: PoolView[]; expected: Record<string, AllocatableReason> }>([
    { name: 'no pools', pools: [], expected: {} },
    { name: 'a lone valid pool', pools: [view('a', { cidr: '10.0.0.0/16' })], expected: { a: 'OK' } },
    { name: 'an invalid spec', pools: [view('a', { cidr: 'nope' })], expected: { a: 'InvalidSpec' } },
    {
      name: 'an invalid spec that is also being deleted: InvalidSpec first',
      pools: [view('a', { cidr: 'nope' }, { deleting: true })],
      expected: { a: 'InvalidSpec' },
    },
    {
      name: 'a pool being deleted',
      pools: [view('a', { cidr: '10.0.0.0/16' }, { deleting: true })],
      expected: { a: 'Terminating' },
    },
    {
      name: 'a disabled pool',
      pools: [view('a', { cidr: '10.0.0.0/16', disabled: true })],
      expected: { a: 'PoolDisabled' },
    },
    {
      name: 'disjoint pools',
      pools: [view('a', { cidr: '10.0.0.0/16' }), view('b', { cidr: '10.1.0.0/16' })],
      expected: { a: 'OK', b: 'OK' },
    },
    {
      name: 'overlap: the newer pool is refused, listed first',
      pools: [
        view('new', { cidr: '192.168.1.0/24' }, { createdAt: LATE }),
        view('old', { cidr: '192.168.0.0/16' }, { createdAt: EARLY }),
      ],
      expected: { new: 'CIDROverlap', old: 'OK' },
    },
    {
      name: 'overlap: the newer pool is refused, even when it is the larger one',
      pools: [
        view('old', { cidr: '192.168.1.0/24' }, { createdAt: EARLY }),
        view('new', { cidr: '192.168.0.0/16' }, { createdAt: LATE }),
      ],
      expected: { new: 'CIDROverlap', old: 'OK' },
    },
    {
      name: 'same CIDR and same creation time: the name decides',
      pools: [view('b', { cidr: '10.0.0.0/16' }), view('a', { cidr: '10.0.0.0/16' })],
      expected: { a: 'OK', b: 'CIDROverlap' },
    },
    {
      name: 'overlap outranks disabled',
      pools: [
        view('old', { cidr: '10.0.0.0/8' }, { createdAt: EARLY }),
        view('new', { cidr: '10.1.0.0/16', disabled: true }, { createdAt: LATE }),
      ],
      expected: { old: 'OK', new: 'CIDROverlap' },
    },
    {
      name: 'the older of an overlapping pair stays OK even when disabled',
      pools: [
        view('old', { cidr: '10.0.0.0/8', disabled: true }, { createdAt: EARLY }),
        view('new', { cidr: '10.1.0.0/16' }, { createdAt: LATE }),
      ],
      expected: { old: 'PoolDisabled', new: 'CIDROverlap' },
    },
    {
      name: 'pools split out of a disabled pool are no conflict, while it stays disabled',
      pools: [
        view('old', { cidr: '10.0.0.0/16', disabled: true }, { createdAt: EARLY }),
        view('old-0', { cidr: '10.0.0.0/17' }, { createdAt: LATE, splitFrom: 'old' }),
        view('old-1', { cidr: '10.0.128.0/17' }, { createdAt: LATE, splitFrom: 'old' }),
      ],
      expected: { old: 'PoolDisabled', 'old-0': 'OK', 'old-1': 'OK' },
    },
    {
      name: 'a split pool whose pool is being deleted',
      pools: [
        view('old', { cidr: '10.0.0.0/16', disabled: true }, { createdAt: EARLY, deleting: true }),
        view('old-0', { cidr: '10.0.0.0/17' }, { createdAt: LATE, splitFrom: 'old' }),
      ],
      expected: { old: 'Terminating', 'old-0': 'OK' },
    },
    {
      name: 'the pool split from, enabled again: an ordinary overlap',
      pools: [
        view('old', { cidr: '10.0.0.0/16' }, { createdAt: EARLY }),
        view('old-0', { cidr: '10.0.0.0/17' }, { createdAt: LATE, splitFrom: 'old' }),
      ],
      expected: { old: 'OK', 'old-0': 'CIDROverlap' },
    },
    {
      name: 'a split-from annotation naming another pool: an ordinary overlap',
      pools: [
        view('old', { cidr: '10.0.0.0/16', disabled: true }, { createdAt: EARLY }),
        view('new', { cidr: '10.0.0.0/17' }, { createdAt: LATE, splitFrom: 'other' }),
      ],
      expected: { old: 'PoolDisabled', new: 'CIDROverlap' },
    },
    {
      name: 'terminating outranks overlap',
      pools: [
        view('old', { cidr: '10.0.0.0/8' }, { createdAt: EARLY }),
        view('new', { cidr: '10.1.0.0/16' }, { createdAt: LATE, deleting: true }),
      ],
      expected: { old: 'OK', new: 'Terminating' },
    },
    {
      name: 'an invalid pool takes no part in overlap',
      pools: [
        view('old', { cidr: '10.0.0.0/8', blockSize: 99 }, { createdAt: EARLY }),
        view('new', { cidr: '10.1.0.0/16' }, { createdAt: LATE }),
      ],
      expected: { old: 'InvalidSpec', new: 'OK' },
    },
    {
      name: 'IPv4 and IPv6 pools never overlap',
      pools: [view('v4', { cidr: '10.0.0.0/8' }), view('v6', { cidr: 'fd00::/48' })],
      expected: { v4: 'OK', v6: 'OK' },
    },
    {
      name: 'three nested pools: only the oldest stays',
      pools: [
        view('c', { cidr: '10.0.0.0/24' }, { createdAt: '2024-03-01T00:00:00Z' }),
        view('b', { cidr: '10.0.0.0/16' }, { createdAt: LATE }),
        view('a', { cidr: '10.0.0.0/8' }, { createdAt: EARLY }),
      ],
      expected: { a: 'OK', b: 'CIDROverlap', c: 'CIDROverlap' },
    },
  ])('$name', ({ pools, expected }) => {
    expect(reasons(pools)).toEqual(expected);
  });

  it('only OK is allocatable', () => {
    const standings = poolStandings([
      view('ok', { cidr: '10.0.0.0/16' }),
      view('invalid', { cidr: 'nope' }),
      view('deleting', { cidr: '10.1.0.0/16' }, { deleting: true }),
      view('disabled', { cidr: '10.2.0.0/16', disabled: true }),
      view('overlap', { cidr: '10.0.1.0/24' }, { createdAt: LATE }),
    ]);
    expect(
      Object.fromEntries([...standings].map(([name, standing]) => [name, standing.allocatable])),
    ).toEqual({
      ok: true,
      invalid: false,
      deleting: false,
      disabled: false,
      overlap: false,
    });
  });

  it('explains an overlap naming both pools, one sentence per older pool', () => {
    const standings = poolStandings([
      view('a', { cidr: '10.0.0.0/8' }, { createdAt: EARLY }),
      view('b', { cidr: '10.0.0.0/16' }, { createdAt: LATE }),
      view('c', { cidr: '10.0.0.0/24' }, { createdAt: '2024-03-01T00:00:00Z' }),
    ]);
    expect(standings.get('b')?.message).toBe(
      'IPPool "b" 10.0.0.0/16 overlaps IPPool "a" 10.0.0.0/8 (contains it)',
    );
    const sentences = standings.get('c')?.message.split('; ') ?? [];
    expect(sentences).toHaveLength(2);
    expect(sentences.every((sentence) => sentence.startsWith('IPPool "c" 10.0.0.0/24 overlaps'))).toBe(true);
  });

  it('explains an invalid spec with its problems', () => {
    const pool = view('bad', { cidr: 'nope' });
    expect(poolStandings([pool]).get('bad')?.message).toBe(pool.problems.join('; '));
  });
});

describe('poolsSelecting', () => {
  const rack0 = { rack: '0' };
  it.each<{ name: string; pool: PoolView; labels: Record<string, string>; selected: boolean }>([
    {
      name: 'an Automatic Workload pool whose selector matches',
      pool: view('p', { cidr: '10.0.0.0/16', nodeSelector: 'rack == "0"' }),
      labels: rack0,
      selected: true,
    },
    {
      name: 'all() (the default) matches a node without labels',
      pool: view('p', { cidr: '10.0.0.0/16' }),
      labels: {},
      selected: true,
    },
    {
      name: 'a selector that does not match',
      pool: view('p', { cidr: '10.0.0.0/16', nodeSelector: 'rack == "1"' }),
      labels: rack0,
      selected: false,
    },
    {
      name: 'a Manual pool',
      pool: view('p', { cidr: '10.0.0.0/16', assignmentMode: 'Manual' }),
      labels: rack0,
      selected: false,
    },
    {
      name: 'a Tunnel-only pool',
      pool: view('p', { cidr: '10.0.0.0/16', allowedUses: ['Tunnel'] }),
      labels: rack0,
      selected: false,
    },
    {
      name: 'a LoadBalancer pool',
      pool: view('p', { cidr: '10.0.0.0/16', allowedUses: ['LoadBalancer'] }),
      labels: rack0,
      selected: false,
    },
    {
      name: 'a Workload-only pool',
      pool: view('p', { cidr: '10.0.0.0/16', allowedUses: ['Workload'] }),
      labels: rack0,
      selected: true,
    },
    {
      name: 'a disabled pool',
      pool: view('p', { cidr: '10.0.0.0/16', disabled: true }),
      labels: rack0,
      selected: false,
    },
    {
      name: 'a pool being deleted',
      pool: view('p', { cidr: '10.0.0.0/16' }, { deleting: true }),
      labels: rack0,
      selected: false,
    },
    { name: 'an invalid pool', pool: view('p', { cidr: 'nope' }), labels: rack0, selected: false },
  ])('$name: selected=$selected', ({ pool, labels, selected }) => {
    const chosen = poolsSelecting(labels, [pool], poolStandings([pool]));
    expect(chosen.serving.map((p) => p.name)).toEqual(selected ? ['p'] : []);
  });

  it('skips the newer pool of an overlapping pair', () => {
    const pools = [
      view('old', { cidr: '10.0.0.0/8' }, { createdAt: EARLY }),
      view('new', { cidr: '10.1.0.0/16' }, { createdAt: LATE }),
    ];
    expect(poolsSelecting({}, pools, poolStandings(pools)).serving.map((p) => p.name)).toEqual(['old']);
  });

  it('skips a pool without a standing', () => {
    const pool = view('p', { cidr: '10.0.0.0/16' });
    expect(poolsSelecting({}, [pool], new Map()).serving).toEqual([]);
  });

  it('orders the pools by name, whatever order the informer lists them in', () => {
    const pools = [view('z', { cidr: '10.0.0.0/16' }), view('a', { cidr: '10.1.0.0/16' })];
    expect(poolsSelecting({}, pools, poolStandings(pools)).serving.map((p) => p.name)).toEqual(['a', 'z']);
  });

  it('says why each other pool gives the node no block, in the words of its standing', () => {
    const pools = [
      view('old', { cidr: '10.0.0.0/8' }, { createdAt: EARLY }),
      view('new', { cidr: '10.1.0.0/16' }, { createdAt: LATE }),
      view('rack-1', { cidr: '172.16.0.0/16', nodeSelector: 'rack == "1"' }),
    ];
    const { passedOver } = poolsSelecting({ rack: '0' }, pools, poolStandings(pools));
    expect(passedOver.map(({ pool, why }) => [pool.name, why])).toEqual([
      [
        'new',
        {
          code: 'not-cleared',
          reason:
            'not allocatable: CIDROverlap (IPPool "new" 10.1.0.0/16 overlaps IPPool "old" 10.0.0.0/8 (contains it))',
        },
      ],
      ['rack-1', { code: 'node-not-selected', selector: 'rack == "1"' }],
    ]);
  });
});

describe('poolsAffectedBy', () => {
  const others = [
    view('big', { cidr: '10.0.0.0/8' }, { createdAt: EARLY }),
    view('inner', { cidr: '10.1.2.0/24' }, { createdAt: EARLY }),
    view('elsewhere', { cidr: '172.16.0.0/16' }, { createdAt: EARLY }),
    view('v6', { cidr: 'fd00::/48' }, { createdAt: EARLY }),
  ];
  const changed = view('changed', { cidr: '10.1.0.0/16' }, { createdAt: LATE });
  const changedInvalid = view('changed', { cidr: 'nope' }, { createdAt: LATE });
  const changedElsewhere = view('changed', { cidr: '172.16.5.0/24' }, { createdAt: LATE });

  it.each<{
    name: string;
    before: PoolView | undefined;
    after: PoolView | undefined;
    pools: PoolView[];
    expected: string[];
  }>([
    {
      name: 'a new pool: itself and the pools overlapping it',
      before: undefined,
      after: changed,
      pools: [...others, changed],
      expected: ['big', 'changed', 'inner'],
    },
    {
      name: 'a deleted pool (gone from the list): itself and the pools it overlapped',
      before: changed,
      after: undefined,
      pools: others,
      expected: ['big', 'changed', 'inner'],
    },
    {
      name: 'an updated pool: overlaps of both versions',
      before: changed,
      after: changedElsewhere,
      pools: [...others, changedElsewhere],
      expected: ['big', 'changed', 'elsewhere', 'inner'],
    },
    {
      name: 'a pool that became invalid: the overlaps of its valid version',
      before: changed,
      after: changedInvalid,
      pools: [...others, changedInvalid],
      expected: ['big', 'changed', 'inner'],
    },
    {
      name: 'an invalid pool overlaps nothing',
      before: undefined,
      after: changedInvalid,
      pools: [...others, changedInvalid],
      expected: ['changed'],
    },
    { name: 'no change at all', before: undefined, after: undefined, pools: others, expected: [] },
  ])('$name', ({ before, after, pools, expected }) => {
    const names = new Set(poolsAffectedBy(before, after, pools).map((pool) => pool.name));
    expect([...names].sort()).toEqual(expected);
  });

  it('includes the previous version itself, so nodes its old selector matched are looked at again', () => {
    const before = view('p', { cidr: '10.0.0.0/16', nodeSelector: 'rack == "0"' });
    const after = view('p', { cidr: '10.0.0.0/16', nodeSelector: 'rack == "1"' });
    const affected = poolsAffectedBy(before, after, [after]);
    expect(affected).toContain(before);
    expect(affected).toContain(after);
  });
});
