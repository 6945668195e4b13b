import { describe, expect, it } from 'vitest';
import { parseAddress } from '../ipam/index.js';
import { allocation, block, clearedPool, snapshot } from './fixtures.js';
import { addressState, blockRows, borrowedRows, poolRows, poolStatus } from './show.js';

const now = new Date('2024-01-02T00:00:00Z');
const held = allocation(2, {
  namespace: 'app',
  pod: 'web',
  node: 'node-a',
  assignedAt: '2024-01-01T12:00:00Z',
});
const borrowed = allocation(5, { namespace: 'app', pod: 'db', node: 'node-b' });
const blockA = block('10.0.0.0/26', 'default', 'node-a', {
  allocations: [held, borrowed],
  cooling: [
    { ordinal: 3, releasedAt: new Date(now.getTime() - 10_000).toISOString() },
    { ordinal: 4, releasedAt: '2024-01-01T00:00:00Z' },
  ],
});
const cluster = snapshot({
  pools: [
    clearedPool('default', { cidr: '10.0.0.0/24' }),
    clearedPool('off', { cidr: '10.1.0.0/16', disabled: true }),
  ],
  blocks: [blockA, block('10.0.0.64/26', 'default', 'node-b', { draining: true })],
});

describe('poolRows', () => {
  it('counts blocks and used addresses per pool, with the capacity of its CIDR', () => {
    expect(poolRows(cluster)).toEqual([
      {
        name: 'default',
        cidr: '10.0.0.0/24',
        selector: 'all()',
        blocks: 2,
        used: 2,
        capacity: '256',
        status: 'Allocatable',
      },
      {
        name: 'off',
        cidr: '10.1.0.0/16',
        selector: 'all()',
        blocks: 0,
        used: 0,
        capacity: '65536',
        status: 'Disabled',
      },
    ]);
  });

  it('gives an IPv6 pool its capacity beyond 2^53 exactly', () => {
    const [row] = poolRows(snapshot({ pools: [clearedPool('v6', { cidr: 'fd00::/48' })] }));
    expect(row?.capacity).toBe((2n ** 80n).toString());
  });

  it.each([
    [clearedPool('p', { cidr: '10.0.0.0/24' }, { deleting: true }), 'Terminating'],
    [clearedPool('p', { cidr: '10.0.0.0/24' }, { status: { conditions: [] } }), 'Unknown'],
    [
      clearedPool(
        'p',
        { cidr: '10.0.0.0/24' },
        {
          status: {
            conditions: [
              {
                type: 'Allocatable',
                status: 'False',
                reason: 'CIDROverlap',
                message: '',
                lastTransitionTime: '',
              },
            ],
          },
        },
      ),
      'CIDROverlap',
    ],
  ])('status of a pool: %#', (pool, status) => {
    expect(poolStatus(pool)).toBe(status);
  });
});

describe('blockRows', () => {
  it('shows each block by node with its use, its cooling addresses and its state', () => {
    expect(blockRows(cluster, now)).toEqual([
      {
        node: 'node-a',
        block: '10.0.0.0/26',
        pool: 'default',
        used: 2,
        cooling: 1,
        size: 62,
        state: 'affine',
      },
      {
        node: 'node-b',
        block: '10.0.0.64/26',
        pool: 'default',
        used: 0,
        cooling: 0,
        size: 62,
        state: 'draining',
      },
    ]);
  });
});

describe('borrowedRows', () => {
  it('lists addresses a node assigned from a block affine to another', () => {
    expect(borrowedRows(cluster)).toEqual([
      {
        address: '10.0.0.5',
        namespace: 'app',
        pod: 'db',
        node: 'node-b',
        block: '10.0.0.0/26',
        blockNode: 'node-a',
      },
    ]);
  });
});

describe('addressState', () => {
  it.each([
    [
      '10.0.0.2',
      {
        state: 'allocated',
        pod: 'web',
        namespace: 'app',
        node: 'node-a',
        handle: held.handle,
        since: held.assignedAt,
      },
    ],
    ['10.0.0.3', { state: 'cooling', reusableAt: new Date(now.getTime() + 20_000).toISOString() }],
    ['10.0.0.4', { state: 'free', block: '10.0.0.0/26', pool: 'default' }],
    ['10.0.0.0', { state: 'reserved', block: '10.0.0.0/26' }],
    ['10.0.0.63', { state: 'reserved', block: '10.0.0.0/26' }],
    ['10.0.0.130', { state: 'free', pool: 'default' }],
    ['10.1.2.3', { state: 'free', pool: 'off' }],
    ['192.168.0.1', { state: 'outside' }],
  ])('%s is %o', (text, expected) => {
    expect(addressState(cluster, parseAddress(text), now)).toMatchObject({ address: text, ...expected });
  });
});

describe('addressState with IPReservations', () => {
  const reservations = [
    { metadata: { name: 'gateways' }, spec: { reservedCIDRs: ['10.0.0.4', '10.0.0.128/30'] } },
    { metadata: { name: 'wide' }, spec: { reservedCIDRs: ['10.0.0.0/29', 'garbage'] } },
  ];
  it.each([
    ['10.0.0.4', { state: 'reserved', block: '10.0.0.0/26', reservations: ['gateways', 'wide'] }],
    ['10.0.0.6', { state: 'reserved', block: '10.0.0.0/26', reservations: ['wide'] }],
    // In a pool but in no block yet.
    ['10.0.0.130', { state: 'reserved', reservations: ['gateways'] }],
    // Reserving an address takes it from nobody: its holder is still the answer.
    ['10.0.0.2', { state: 'allocated', handle: held.handle }],
    ['10.0.0.9', { state: 'free', block: '10.0.0.0/26' }],
  ])('%s is %o', (text, expected) => {
    expect(addressState(cluster, parseAddress(text), now, reservations)).toMatchObject({
      address: text,
      ...expected,
    });
  });
});
