import { describe, expect, it } from 'vitest';
import type { IPAMBlock } from '../allocator/index.js';
import { allocatableStatus, clearedPool as pool, ipPool } from '../operator/plan/fixtures.js';
import { parseIpamConfig } from './config.js';
import { CniError, toCniError } from './errors.js';
import { assignedIp, candidatePools, findHandle, placeInBlocks } from './plan.js';

const block = (
  cidr: string,
  poolName: string,
  allocations: IPAMBlock['spec']['allocations'] = [],
): IPAMBlock => ({
  metadata: { name: cidr.replaceAll(/[./:]/g, '-'), resourceVersion: '1' },
  spec: { cidr, pool: poolName, node: 'node-a', allocations, cooling: [] },
});

const refs = (pools: string[]) => parseIpamConfig({ type: 't', pools }).pools;
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

describe('placeInBlocks', () => {
  const owner = { handle: 'net.c.eth0', node: 'node-a' };
  const base = { family: 4 as const, refs: [], owner, now: new Date(0), cooldownSeconds: 30 };

  it('fills the lowest block first and reports the block prefix length', () => {
    const placed = placeInBlocks([block('10.0.0.64/26', 'p'), block('10.0.0.0/26', 'p')], base);
    expect(placed && assignedIp(placed.block, placed.outcome.allocation.ordinal)).toEqual({
      family: 4,
      address: '10.0.0.1/26',
    });
  });

  it('skips full blocks, other families and blocks of pools not configured', () => {
    const full = block('10.0.0.0/31', 'p', [
      { ordinal: 0, handle: 'a', node: 'node-a', assignedAt: '' },
      { ordinal: 1, handle: 'b', node: 'node-a', assignedAt: '' },
    ]);
    const blocks = [full, block('fd00::/122', 'p'), block('10.0.1.0/26', 'other'), block('10.0.2.0/26', 'p')];
    const placed = placeInBlocks(blocks, { ...base, refs: refs(['p']) });
    expect(placed?.block.spec.cidr).toBe('10.0.2.0/26');
    expect(placeInBlocks([full], base)).toBeUndefined();
  });

  it('assigns nothing new from a draining block, but still finds a handle already in it', () => {
    const draining = {
      ...block('10.0.0.0/26', 'p'),
      spec: { ...block('10.0.0.0/26', 'p').spec, draining: true },
    };
    expect(placeInBlocks([draining], base)).toBeUndefined();
    const placed = placeInBlocks([draining, block('10.0.1.0/26', 'p')], base);
    expect(placed?.block.spec.cidr).toBe('10.0.1.0/26');
    const holding = {
      ...draining,
      spec: {
        ...draining.spec,
        allocations: [{ ordinal: 9, handle: owner.handle, node: 'node-a', assignedAt: '' }],
      },
    };
    const again = placeInBlocks([holding], base);
    expect(again?.outcome.kind).toBe('existing');
  });

  it('finds the handle already placed, per family', () => {
    const held = block('10.0.0.0/26', 'p', [
      { ordinal: 7, handle: 'net.c.eth0', node: 'node-a', assignedAt: '' },
    ]);
    expect(findHandle([held], 'net.c.eth0', 4)?.outcome.allocation.ordinal).toBe(7);
    expect(findHandle([held], 'net.c.eth0', 6)).toBeUndefined();
  });
});
