import { describe, expect, it } from 'vitest';
import { blockAffinitySpecSchema } from './affinity.js';
import { ipamBlockSpecSchema } from './block.js';
import { ipamConfigSpecSchema } from './config.js';

const at = '2026-12-01T10:00:00.000Z';
const allocation = (ordinal: number) => ({
  ordinal,
  handle: `net.c${ordinal}.eth0`,
  node: 'n1',
  assignedAt: at,
});
const block = { cidr: '10.0.0.64/26', pool: 'p', node: 'n1', allocations: [allocation(1)], cooling: [] };

/** `field: message` of every issue, the way consumers report them. */
function issues(
  schema: { safeParse(value: unknown): { error?: { issues: { path: PropertyKey[] }[] } } },
  value: unknown,
) {
  return (schema.safeParse(value).error?.issues ?? []).map((issue) => issue.path.join('.'));
}

describe('ipamBlockSpecSchema', () => {
  it.each([
    ['a block as the allocator writes it', block],
    ['an IPv6 block', { ...block, cidr: 'fd00:10:244::40/122' }],
    ['a /20, the largest IPv4 block', { ...block, cidr: '10.0.0.0/20', allocations: [allocation(4095)] }],
    ['a /32 with its one ordinal', { ...block, cidr: '10.0.0.1/32', allocations: [allocation(0)] }],
    ['a pending block with no node yet', { ...block, node: '' }],
    [
      'a timestamp with an offset',
      { ...block, cooling: [{ ordinal: 2, releasedAt: '2026-12-01T11:00:00+01:00' }] },
    ],
    [
      'an ordinal both allocated and cooling (allocated wins)',
      { ...block, cooling: [{ ordinal: 1, releasedAt: at }] },
    ],
  ])('accepts %s', (_, spec) => {
    expect(issues(ipamBlockSpecSchema, spec)).toEqual([]);
  });

  it.each([
    ['a cidr that is no CIDR', { ...block, cidr: 'garbage' }, ['cidr']],
    ['host bits set', { ...block, cidr: '10.0.0.65/26' }, ['cidr']],
    ['a CIDR not written canonically', { ...block, cidr: 'FD00:10:244:0::40/122' }, ['cidr']],
    ['an IPv4 block larger than /20', { ...block, cidr: '10.0.0.0/19' }, ['cidr']],
    ['an IPv6 block larger than /116', { ...block, cidr: 'fd00::/64' }, ['cidr']],
    ['an ordinal outside the block', { ...block, allocations: [allocation(64)] }, ['allocations.0.ordinal']],
    [
      'an ordinal above any block (both rules say so)',
      { ...block, allocations: [allocation(4096)] },
      ['allocations.0.ordinal', 'allocations.0.ordinal'],
    ],
    ['a negative ordinal', { ...block, allocations: [allocation(-1)] }, ['allocations.0.ordinal']],
    [
      'an ordinal held twice',
      { ...block, allocations: [allocation(3), allocation(3)] },
      ['allocations.1.ordinal'],
    ],
    [
      'a cooling ordinal outside the block',
      { ...block, cooling: [{ ordinal: 70, releasedAt: at }] },
      ['cooling.0.ordinal'],
    ],
    [
      'a cooling ordinal listed twice',
      {
        ...block,
        cooling: [
          { ordinal: 2, releasedAt: at },
          { ordinal: 2, releasedAt: at },
        ],
      },
      ['cooling.1.ordinal'],
    ],
    [
      'an unreadable assignedAt',
      { ...block, allocations: [{ ...allocation(1), assignedAt: 'yesterday' }] },
      ['allocations.0.assignedAt'],
    ],
    [
      'an unreadable releasedAt',
      { ...block, cooling: [{ ordinal: 2, releasedAt: '' }] },
      ['cooling.0.releasedAt'],
    ],
    [
      'an allocation with no node',
      { ...block, allocations: [{ ...allocation(1), node: '' }] },
      ['allocations.0.node'],
    ],
    ['no pool', { ...block, pool: '' }, ['pool']],
    ['allocations missing', { cidr: block.cidr, pool: 'p', node: 'n1', cooling: [] }, ['allocations']],
    ['an unknown field', { ...block, owner: 'x' }, ['']],
  ])('refuses %s, naming the field', (_, spec, fields) => {
    expect(issues(ipamBlockSpecSchema, spec)).toEqual(fields);
  });

  it('says what is wrong with the CIDR and the ordinal', () => {
    const messages = (spec: unknown) =>
      ipamBlockSpecSchema.safeParse(spec).error?.issues.map((i) => i.message);
    expect(messages({ ...block, cidr: '10.0.0.0/19' })).toEqual([
      "a block's prefix length must be 20-32 for IPv4, not 19",
    ]);
    expect(messages({ ...block, cidr: 'fd00:10:244:0::40/122' })).toEqual([
      'must be written canonically, as fd00:10:244::40/122',
    ]);
    expect(messages({ ...block, allocations: [allocation(64)] })).toEqual([
      'ordinal 64 is outside the block 10.0.0.64/26 (64 addresses)',
    ]);
  });
});

describe('blockAffinitySpecSchema', () => {
  const affinity = { node: 'n1', cidr: '10.0.0.64/26', pool: 'p', state: 'confirmed' };
  it('accepts an affinity as the allocator writes it', () => {
    expect(issues(blockAffinitySpecSchema, affinity)).toEqual([]);
  });
  it.each([
    ['a cidr that is no CIDR', { ...affinity, cidr: 'garbage' }, ['cidr']],
    ['a cidr too large for a block', { ...affinity, cidr: '10.0.0.0/8' }, ['cidr']],
    ['no node', { ...affinity, node: '' }, ['node']],
    ['an unknown state', { ...affinity, state: 'lost' }, ['state']],
  ])('refuses %s, naming the field', (_, spec, fields) => {
    expect(issues(blockAffinitySpecSchema, spec)).toEqual(fields);
  });
});

describe('ipamConfigSpecSchema', () => {
  it.each([
    ['a negative maxBlocksPerHost', { maxBlocksPerHost: -1 }, ['maxBlocksPerHost']],
    ['a cool-down longer than a day', { releaseCooldownSeconds: 86401 }, ['releaseCooldownSeconds']],
    ['a fractional minFreeAddressesPerNode', { minFreeAddressesPerNode: 1.5 }, ['minFreeAddressesPerNode']],
  ])('refuses %s, naming the field', (_, spec, fields) => {
    expect(issues(ipamConfigSpecSchema, spec)).toEqual(fields);
  });
});
