import { describe, expect, it } from 'vitest';
import type { IPAMBlock } from '../api/index.js';
import { allocatableStatus, clearedPool as pool, ipPool } from '../operator/plan/fixtures.js';
import { parseNetworkIpamSection } from './config.js';
import { parseCidr } from '../ipam/index.js';
import { CniError, toCniError } from './errors.js';
import {
  assignInBlock,
  assignRequestedInBlock,
  assignedIp,
  assignedIpViaGateway,
  blocksToAssignFrom,
  candidatePools,
  findHandle,
} from './plan.js';

const block = (
  cidr: string,
  poolName: string,
  allocations: IPAMBlock['spec']['allocations'] = [],
): IPAMBlock => ({
  metadata: { name: cidr.replaceAll(/[./:]/g, '-'), resourceVersion: '1' },
  spec: { cidr, pool: poolName, node: 'node-a', allocations, cooling: [] },
});

const refs = (pools: string[]) => parseNetworkIpamSection({ type: 't', pools }).pools;
const rack0 = { rack: '0' };

function refusal(run: () => unknown): { code: number; details: string } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CniError);
    return toCniError(error);
  }
  throw new Error('expected a refusal');
}

describe('candidatePools', () => {
  const pools = [
    pool('rack-0', { cidr: '10.0.0.0/24', nodeSelector: 'rack == "0"' }),
    pool('rack-1', { cidr: '10.0.1.0/24', nodeSelector: 'rack == "1"' }),
    pool('all-v6', { cidr: 'fd00::/64' }),
    pool('manual', { cidr: '10.0.2.0/24', assignmentMode: 'Manual' }),
    pool('off', { cidr: '10.0.3.0/24', disabled: true }),
    pool('lb', { cidr: '10.0.4.0/24', allowedUses: ['LoadBalancer'] }),
    pool('overlap', { cidr: '10.0.0.0/16' }, { status: allocatableStatus('False', 'CIDROverlap') }),
  ];

  it('selects the automatic, enabled, allocatable workload pools whose selector matches the node', () => {
    expect(candidatePools(pools, [], 'node-a', rack0, 4).map((p) => p.name)).toEqual(['rack-0']);
    expect(candidatePools(pools, [], 'node-a', rack0, 6).map((p) => p.name)).toEqual(['all-v6']);
    expect(candidatePools(pools, [], 'node-a', rack0, 4)[0]?.blockSize).toBe(26);
  });

  it('takes configured pools by name or CIDR, in configuration order, Manual ones included', () => {
    const chosen = candidatePools(pools, refs(['manual', '10.0.0.0/24']), 'node-a', rack0, 4);
    expect(chosen.map((p) => p.name)).toEqual(['manual', 'rack-0']);
  });

  it('still requires a configured pool to select the node', () => {
    const error = refusal(() => candidatePools(pools, refs(['rack-1']), 'node-a', rack0, 4));
    expect(error.code).toBe(101);
    expect(error.details).toMatch(/rack-1: nodeSelector rack == "1" does not match/);
  });

  it('refuses an unknown pool with code 7, listing the pools that exist', () => {
    const error = refusal(() => candidatePools(pools, refs(['rack-9']), 'node-a', rack0, 4));
    expect(error.code).toBe(7);
    expect(error.details).toMatch(/no IPPool has that name; existing pools: rack-0 \(10\.0\.0\.0\/24\)/);
  });

  it('says why every pool was passed over when none selects the node', () => {
    const error = refusal(() => candidatePools(pools, [], 'node-b', { rack: '7' }, 4));
    expect(error.code).toBe(101);
    expect(error.details).toMatch(/off: disabled/);
    expect(error.details).toMatch(/lb: allowedUses excludes Workload/);
    expect(error.details).toMatch(/overlap: not allocatable/);
    expect(error.details).toMatch(/manual: assignmentMode Manual/);
  });

  it.each([
    [
      'no status yet',
      ipPool('fresh', { cidr: '10.9.0.0/24' }, { generation: 1 }),
      /not yet marked Allocatable by the operator/,
    ],
    [
      'a condition for an older generation',
      pool('fresh', { cidr: '10.9.0.0/24' }, { generation: 2 }),
      /changed \(generation 2\) since the operator last marked it Allocatable \(generation 1\)/,
    ],
    [
      'a condition whose status is Unknown',
      pool('fresh', { cidr: '10.9.0.0/24' }, { status: allocatableStatus('Unknown', 'Reconciling') }),
      /not allocatable: Reconciling/,
    ],
  ])('gives no block from a pool the operator has not cleared: %s', (_, fresh, why) => {
    const error = refusal(() => candidatePools([fresh], [], 'node-a', rack0, 4));
    expect(error.code).toBe(101);
    expect(error.details).toMatch(why);
  });

  it('names a configured pool whose spec is invalid as passed over, not as missing', () => {
    const broken = pool('broken', { cidr: '10.9.0.0/24', blockSize: 99 });
    const error = refusal(() => candidatePools([broken], refs(['broken']), 'node-a', rack0, 4));
    expect(error.code).toBe(101);
    expect(error.details).toMatch(/broken: invalid spec: spec\.blockSize/);
  });
});

describe('blocksToAssignFrom and assignInBlock', () => {
  const owner = { handle: 'net.c.eth0', node: 'node-a' };
  const filter = { node: 'node-a', family: 4 as const, refs: [], excludedPools: new Set<string>() };
  const at = { now: new Date(0), cooldownSeconds: 30 };
  const cidrOf = (b: IPAMBlock) => parseCidr(b.spec.cidr);
  const draining = (cidr: string, allocations: IPAMBlock['spec']['allocations'] = []): IPAMBlock => {
    const open = block(cidr, 'p', allocations);
    return { ...open, spec: { ...open.spec, draining: true } };
  };

  it('offers the lowest block first, and its first address with the block prefix length', () => {
    const [first] = blocksToAssignFrom([block('10.0.0.64/26', 'p'), block('10.0.0.0/26', 'p')], filter);
    const outcome = first && assignInBlock(first, cidrOf(first), owner, at);
    expect(outcome?.kind).toBe('assigned');
    expect(first && outcome?.kind === 'assigned' && assignedIp(first, outcome.allocation.ordinal)).toEqual({
      family: 4,
      address: '10.0.0.1/26',
    });
  });

  it.each([
    [
      'IPv4, with the pool prefix',
      '10.0.0.64/26',
      5,
      '10.0.0.0/16',
      { family: 4, address: '10.0.0.69/16', gateway: '169.254.1.1' },
    ],
    [
      'IPv6, with the pool prefix',
      'fd00::40/122',
      5,
      'fd00::/64',
      { family: 6, address: 'fd00::45/64', gateway: 'fe80::ecee:eeff:feee:eeee' },
    ],
    [
      'IPv4, its pool gone: the block prefix',
      '10.0.0.64/26',
      5,
      undefined,
      { family: 4, address: '10.0.0.69/26', gateway: '169.254.1.1' },
    ],
  ])(
    'assignedIpViaGateway: %s, and the link-local gateway of the family',
    (_, cidr, ordinal, poolCidr, expected) => {
      expect(
        assignedIpViaGateway(
          block(cidr, 'p'),
          ordinal,
          poolCidr === undefined ? undefined : parseCidr(poolCidr),
        ),
      ).toEqual(expected);
    },
  );

  it('leaves out other families, pools not configured, excluded pools, draining blocks and other nodes', () => {
    const elsewhere = {
      ...block('10.0.5.0/26', 'p'),
      spec: { ...block('10.0.5.0/26', 'p').spec, node: 'node-b' },
    };
    const blocks = [
      block('fd00::/122', 'p'),
      block('10.0.1.0/26', 'other'),
      block('10.0.3.0/26', 'manual'),
      draining('10.0.4.0/26'),
      elsewhere,
      block('10.0.2.0/26', 'p'),
    ];
    const names = (chosen: IPAMBlock[]) => chosen.map((b) => b.spec.cidr);
    expect(names(blocksToAssignFrom(blocks, { ...filter, refs: refs(['p']) }))).toEqual(['10.0.2.0/26']);
    expect(names(blocksToAssignFrom(blocks, { ...filter, excludedPools: new Set(['manual']) }))).toEqual([
      '10.0.1.0/26',
      '10.0.2.0/26',
    ]);
  });

  it('reports a full block as full', () => {
    const full = block('10.0.0.0/31', 'p', [
      { ordinal: 0, handle: 'a', node: 'node-a', assignedAt: '' },
      { ordinal: 1, handle: 'b', node: 'node-a', assignedAt: '' },
    ]);
    expect(assignInBlock(full, cidrOf(full), owner, at).kind).toBe('full');
  });

  it('assigns nothing new from a draining block, but still finds a handle already in it', () => {
    expect(assignInBlock(draining('10.0.0.0/26'), parseCidr('10.0.0.0/26'), owner, at).kind).toBe('full');
    const holding = draining('10.0.0.0/26', [
      { ordinal: 9, handle: owner.handle, node: 'node-a', assignedAt: '' },
    ]);
    const again = assignInBlock(holding, cidrOf(holding), owner, at);
    expect(again.kind === 'existing' && again.allocation.ordinal).toBe(9);
  });

  it('never assigns a reserved ordinal: the network and broadcast addresses of an IPv4 block', () => {
    const outcome = assignInBlock(block('10.0.0.0/29', 'p'), parseCidr('10.0.0.0/29'), owner, at);
    expect(outcome.kind === 'assigned' && outcome.allocation.ordinal).toBe(1);
    const taken = [1, 2, 3, 4, 5, 6].map((ordinal) => ({
      ordinal,
      handle: `h${ordinal}`,
      node: 'node-a',
      assignedAt: '',
    }));
    expect(assignInBlock(block('10.0.0.0/29', 'p', taken), parseCidr('10.0.0.0/29'), owner, at).kind).toBe(
      'full',
    );
  });
});

describe('findHandle', () => {
  it('finds the handle already placed, per family', () => {
    const held = block('10.0.0.0/26', 'p', [
      { ordinal: 7, handle: 'net.c.eth0', node: 'node-a', assignedAt: '' },
    ]);
    expect(findHandle([held], 'net.c.eth0', 4)?.outcome.allocation.ordinal).toBe(7);
    expect(findHandle([held], 'net.c.eth0', 6)).toBeUndefined();
  });
});

describe('candidatePools for pools a workload annotation names', () => {
  const pools = [
    pool('rack-0', { cidr: '10.0.0.0/24', nodeSelector: 'rack == "0"' }),
    pool('rack-1', { cidr: '10.0.1.0/24', nodeSelector: 'rack == "1"' }),
    pool('manual', { cidr: '10.0.2.0/24', assignmentMode: 'Manual', nodeSelector: 'rack == "1"' }),
    pool('off', { cidr: '10.0.3.0/24', disabled: true }),
    pool('all-v6', { cidr: 'fd00::/64' }),
  ];
  const annotation = 'cni.projectcalico.org/ipv4pools';
  const source = { kind: 'annotation', annotation, on: 'namespace', pod: 'team-a/web-0' } as const;
  const named = (names: string[]) => names.map((name) => ({ kind: 'name', name, family: 4 }) as const);

  it('uses them whatever their nodeSelector, Manual ones included, in the order named', () => {
    const chosen = candidatePools(pools, named(['manual', 'rack-1']), 'node-a', rack0, 4, { source });
    expect(chosen.map((p) => p.name)).toEqual(['manual', 'rack-1']);
  });

  it('still passes over a disabled pool', () => {
    expect(refusal(() => candidatePools(pools, named(['off']), 'node-a', rack0, 4, { source })).code).toBe(
      101,
    );
  });

  it.each([
    {
      name: 'an unknown pool',
      refs: named(['rack-9']),
      details: /names pool "rack-9", but no IPPool has that name/,
    },
    {
      name: 'a CIDR that is no pool’s',
      refs: refs(['10.9.0.0/24']),
      details: /names pool "10\.9\.0\.0\/24", but no IPPool has that CIDR/,
    },
    {
      name: 'a pool of the other family',
      refs: named(['all-v6']),
      details: /"all-v6", an IPv6 pool \(fd00::\/64\), for IPv4/,
    },
  ])('refuses $name, naming the annotation, where it is and the pod', ({ refs: requested, details }) => {
    const error = toCniError(
      (() => {
        try {
          return candidatePools(pools, requested, 'node-a', rack0, 4, { source });
        } catch (thrown) {
          return thrown;
        }
      })(),
    );
    expect(error.code).toBe(7);
    expect(error.msg).toBe(`invalid annotation ${annotation} on the namespace of pod team-a/web-0`);
    expect(error.details).toMatch(details);
  });
});

describe('assignRequestedInBlock: exactly the address a pod asks for, or why not', () => {
  const owner = { handle: 'net.c.eth0', node: 'node-a', namespace: 'ns', pod: 'db-0' };
  const held = (ordinal: number, handle: string) => ({
    ordinal,
    handle,
    namespace: 'ns',
    pod: handle,
    node: 'node-a',
    assignedAt: '2026-01-01T00:00:00Z',
  });
  const at = new Date('2026-02-01T00:00:00Z');
  const open = block('10.0.0.0/26', 'p', [held(1, 'other')]);
  const cooling: IPAMBlock = {
    ...open,
    spec: { ...open.spec, cooling: [{ ordinal: 5, releasedAt: '2026-02-01T00:00:00Z' }] },
  };
  const drained: IPAMBlock = { ...open, spec: { ...open.spec, draining: true } };

  it.each<{ name: string; block: IPAMBlock; ordinal: number; want: string }>([
    { name: 'a free address', block: open, ordinal: 5, want: 'assigned 5' },
    { name: 'one still cooling down: the pod asked for it', block: cooling, ordinal: 5, want: 'assigned 5' },
    { name: 'one in a draining block', block: drained, ordinal: 5, want: 'assigned 5' },
    { name: 'held by another handle', block: open, ordinal: 1, want: 'taken by other' },
    { name: 'the network address', block: open, ordinal: 0, want: 'reserved' },
    { name: 'the broadcast address', block: open, ordinal: 63, want: 'reserved' },
    {
      name: 'held by this handle already (a repeated ADD)',
      block: block('10.0.0.0/26', 'p', [held(5, owner.handle)]),
      ordinal: 5,
      want: 'existing 5',
    },
    {
      name: 'this handle holds another address of the block',
      block: block('10.0.0.0/26', 'p', [held(7, owner.handle)]),
      ordinal: 5,
      want: 'holds-another 7',
    },
  ])('$name', ({ block: given, ordinal, want }) => {
    const outcome = assignRequestedInBlock(given, parseCidr(given.spec.cidr), owner, ordinal, at);
    const described = (() => {
      switch (outcome.kind) {
        case 'assigned':
        case 'existing':
          return `${outcome.kind} ${outcome.allocation.ordinal}`;
        case 'taken':
          return `taken by ${outcome.by.handle}`;
        case 'holds-another':
          return `holds-another ${outcome.allocation.ordinal}`;
        case 'reserved':
        case 'full':
          return outcome.kind;
      }
    })();
    expect(described).toBe(want);
    if (outcome.kind === 'assigned') {
      expect(outcome.allocation).toMatchObject({ ...owner, ordinal, assignedAt: at.toISOString() });
      expect(outcome.spec.cooling.map((entry) => entry.ordinal)).not.toContain(ordinal);
      expect(outcome.spec.allocations.map((a) => a.ordinal)).toEqual([1, 5]);
    }
  });
});
