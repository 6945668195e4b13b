/**
 * What the CRDs' schemas and CEL rules refuse on a real API server, with no webhook and no operator: the
 * last line of defence when the webhook is down (failurePolicy Ignore) or bypassed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { apiVersion } from './group.js';
import { clusterTestContext } from '../local-cluster/context.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const at = '2026-12-01T10:00:00.000Z';

const manifest = (kind: string, name: string, spec: Record<string, unknown>): string =>
  JSON.stringify({ apiVersion, kind, metadata: { name: `${prefix}-${name}` }, spec });

const create = (kind: string, name: string, spec: Record<string, unknown>) =>
  cluster.tryKubectl(['create', '-f', '-'], manifest(kind, name, spec));

const allocation = (ordinal: number) => ({
  ordinal,
  handle: `net.c${ordinal}.eth0`,
  namespace: 'default',
  pod: `pod-${ordinal}`,
  node: 'node-a',
  assignedAt: at,
});
const block = { cidr: '10.60.0.64/26', pool: 'p', node: 'node-a', allocations: [allocation(1)], cooling: [] };
const affinity = { node: 'node-a', cidr: '10.60.0.64/26', pool: 'p', state: 'confirmed' };

afterAll(() => {
  for (const kind of ['ippools', 'ipamblocks', 'blockaffinities', 'ipamconfigs', 'ipreservations']) {
    const names = cluster
      .kubectl(['get', kind, '-o', 'name'])
      .split('\n')
      .filter((name) => name.includes(`/${prefix}-`));
    if (names.length > 0) cluster.tryKubectl(['delete', ...names, '--ignore-not-found']);
  }
});

describe('the API server refuses pools over reserved ranges, naming the field and the range', () => {
  it.each([
    ['"this network"', '0.0.0.0/16', '0.0.0.0/8'],
    ['loopback', '127.0.0.0/24', '127.0.0.0/8'],
    ['a pool holding loopback', '96.0.0.0/3', '127.0.0.0/8'],
    ['link-local', '169.254.0.0/24', '169.254.0.0/16'],
    ['multicast', '224.0.0.0/24', '224.0.0.0/4'],
    ['reserved class E', '240.0.0.0/24', '240.0.0.0/4'],
    ['the limited broadcast address', '255.255.255.255/32', '240.0.0.0/4'],
    ['IPv6 unspecified, in ::/1', '::/1', '::/128'],
    ['IPv6 loopback, in ::/1', '::/1', '::1/128'],
    ['IPv6 loopback alone', '::1/128', '::1/128'],
    ['IPv4-mapped IPv6, in ::/80', '::/80', '::ffff:0:0/96'],
    ['IPv6 link-local', 'fe80::/64', 'fe80::/10'],
    ['IPv6 multicast', 'ff02::/120', 'ff00::/8'],
  ])('%s: %s', (_, cidr, range) => {
    const blockSize = cidr.includes(':') ? 128 : 32;
    const result = create('IPPool', 'reserved', { cidr, blockSize });
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain('spec.cidr');
    expect(result.stderr).toContain(`cidr must not overlap the`);
    expect(result.stderr).toContain(` range ${range} (`);
  });

  it.each([
    ['documentation', '192.0.2.0/24'],
    ['shared address space', '100.64.0.0/24'],
    ['IPv6 documentation', '2001:db8::/120'],
    ['unique local IPv6', 'fd00:60::/120'],
  ])('still accepts %s: %s', (_, cidr) => {
    const name = `allowed-${cidr.replace(/[^0-9a-f]+/g, '-')}`;
    const result = create('IPPool', name, { cidr, disabled: true });
    expect(result.stderr).toBe('');
    expect(result.ok).toBe(true);
  });
});

describe("the API server checks Calico's cross-field pool rules itself, with no webhook", () => {
  const lb = { cidr: '10.62.0.0/24', allowedUses: ['LoadBalancer'] };
  it.each([
    [
      'LoadBalancer with Workload',
      { ...lb, allowedUses: ['LoadBalancer', 'Workload'] },
      'cannot be combined',
    ],
    ['LoadBalancer with VXLAN', { ...lb, vxlanMode: 'Always' }, 'cannot use encapsulation'],
    ['LoadBalancer with IP-in-IP', { ...lb, ipipMode: 'CrossSubnet' }, 'cannot use encapsulation'],
    ['LoadBalancer with BGP export off', { ...lb, disableBGPExport: true }, 'cannot disable BGP export'],
    ['LoadBalancer on some nodes', { ...lb, nodeSelector: 'rack == "0"' }, 'must select all nodes'],
    ['a pool smaller than one block', { cidr: '10.62.1.0/28' }, 'smaller than one block'],
    [
      'more than ten uses',
      { cidr: '10.62.2.0/24', allowedUses: Array(11).fill('Workload') },
      'must have at most 10 items',
    ],
  ])('refuses %s', (_, spec, message) => {
    const result = create('IPPool', 'cross-field', spec);
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain(message);
  });

  it('accepts a disabled pool smaller than one block, and a plain LoadBalancer pool', () => {
    expect(create('IPPool', 'small-disabled', { cidr: '10.62.3.0/28', disabled: true }).stderr).toBe('');
    expect(create('IPPool', 'lb', lb).stderr).toBe('');
  });

  it('refuses an update taking LoadBalancer out of the uses', () => {
    const result = cluster.tryKubectl(
      ['apply', '-f', '-'],
      manifest('IPPool', 'lb', { ...lb, allowedUses: ['Workload'] }),
    );
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain("LoadBalancer cannot be taken out of a pool's uses");
  });
});

describe('kubectl explain says what this project does with the fields it accepts from Calico', () => {
  it.each([
    ['ippool.spec.ipipMode', 'encapsulates nothing'],
    ['ippool.spec.vxlanMode', 'encapsulates nothing'],
    ['ippool.spec.disableBGPExport', 'runs no BGP'],
    ['ipreservation.spec.reservedCIDRs', 'never assigned automatically'],
  ])('%s', (field, words) => {
    const explained = cluster.kubectl(['explain', field]).replace(/\s+/g, ' ');
    expect(explained).toContain(words);
  });
});

describe('IPReservation entries: an address or a CIDR of either family, as Calico accepts them', () => {
  it.each([
    ['an IPv4 address', '10.61.0.5'],
    ['an IPv4 CIDR', '10.61.1.0/28'],
    ['a CIDR with host bits set', '10.61.2.7/28'],
    ['an IPv6 address', 'fd00:61::5'],
    ['an IPv6 CIDR, not canonical', 'FD00:61:0::/120'],
  ])('accepts %s: %s', (_, entry) => {
    const name = `reservation-${entry.replace(/[^0-9a-zA-Z]+/g, '-').toLowerCase()}`;
    const result = create('IPReservation', name, { reservedCIDRs: [entry] });
    expect(result.stderr).toBe('');
    expect(result.ok).toBe(true);
  });

  it.each([
    ['no address', 'garbage'],
    ['an octet out of range', '10.61.0.256'],
    ['a prefix too long', '10.61.0.0/33'],
    ['surrounding space', ' 10.61.0.5'],
  ])('refuses %s, naming the entry', (_, entry) => {
    const result = create('IPReservation', 'bad', { reservedCIDRs: ['10.61.0.1', entry] });
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain('spec.reservedCIDRs[1]');
    expect(result.stderr).toContain('each entry must be an IP address');
  });

  it('refuses the same entry twice (a set)', () => {
    const result = create('IPReservation', 'twice', { reservedCIDRs: ['10.61.0.1', '10.61.0.1'] });
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain('Duplicate value');
  });

  it('prints the reserved entries', () => {
    create('IPReservation', 'printed', { reservedCIDRs: ['10.61.3.1', '10.61.4.0/30'] });
    const table = cluster.kubectl(['get', 'ipr', `${prefix}-printed`]);
    expect(table).toMatch(/NAME\s+RESERVED\s+AGE/);
    expect(table).toContain('10.61.3.1');
    expect(table).toContain('10.61.4.0/30');
  });
});

describe('the API server refuses a malformed IPAMBlock, naming the field', () => {
  it.each([
    ['a cidr that is no CIDR', { ...block, cidr: 'garbage' }, /spec\.cidr.*cidr must be a CIDR/],
    ['host bits set', { ...block, cidr: '10.60.0.65/26' }, /spec\.cidr.*host bits set/],
    ['a CIDR not written canonically', { ...block, cidr: 'FD00:60::40/122' }, /spec\.cidr.*canonically/],
    [
      'a block larger than /20',
      { ...block, cidr: '10.60.0.0/16' },
      /spec\.cidr.*prefix length must be 20-32/,
    ],
    ['an IPv6 block larger than /116', { ...block, cidr: 'fd00:60::/64' }, /spec\.cidr.*116-128/],
    [
      'an ordinal outside the block',
      { ...block, allocations: [allocation(64)] },
      /spec\.allocations.*every ordinal in allocations must lie inside the block/,
    ],
    [
      'an ordinal above any block',
      { ...block, allocations: [allocation(4096)] },
      /spec\.allocations\[0\]\.ordinal.*less than or equal to 4095/,
    ],
    [
      'an ordinal held twice',
      { ...block, allocations: [allocation(3), { ...allocation(3), handle: 'other' }] },
      /spec\.allocations\[1\].*Duplicate value/,
    ],
    [
      'a cooling ordinal outside the block',
      { ...block, cooling: [{ ordinal: 70, releasedAt: at }] },
      /spec\.cooling.*every ordinal in cooling must lie inside the block/,
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
      /spec\.cooling\[1\].*Duplicate value/,
    ],
    [
      'an unreadable assignedAt',
      { ...block, allocations: [{ ...allocation(1), assignedAt: 'yesterday' }] },
      /spec\.allocations\[0\]\.assignedAt.*date-time/,
    ],
    [
      'an unreadable releasedAt',
      { ...block, cooling: [{ ordinal: 2, releasedAt: 'soon' }] },
      /spec\.cooling\[0\]\.releasedAt.*date-time/,
    ],
    ['an empty pool', { ...block, pool: '' }, /spec\.pool/],
    [
      'an allocation with no node',
      { ...block, allocations: [{ ...allocation(1), node: '' }] },
      /spec\.allocations\[0\]\.node/,
    ],
  ])('%s', (_, spec, message) => {
    const result = create('IPAMBlock', 'bad-block', spec);
    expect(result.ok).toBe(false);
    expect(result.stderr).toMatch(message);
  });

  it.each([
    ['an IPv4 block as the allocator writes it', block],
    ['an IPv6 block as the allocator writes it', { ...block, cidr: 'fd00:60::40/122' }],
    ['a block with a long zero run', { ...block, cidr: 'fd00:0:0:1::/120' }],
    ['a pending block with no node yet', { ...block, node: '' }],
    ['a full /20', { ...block, cidr: '10.61.0.0/20', allocations: [allocation(4095)] }],
  ])('accepts %s', (name, spec) => {
    const result = create('IPAMBlock', `good-${name.replace(/[^a-z0-9]+/g, '-')}`, spec);
    expect(result.stderr).toBe('');
    expect(result.ok).toBe(true);
  });
});

describe('the API server refuses a malformed BlockAffinity or IPAMConfig, naming the field', () => {
  it.each([
    ['a cidr that is no CIDR', { ...affinity, cidr: 'garbage' }, /spec\.cidr.*cidr must be a CIDR/],
    ['a cidr larger than a block', { ...affinity, cidr: '10.60.0.0/8' }, /spec\.cidr.*prefix length/],
    ['no node', { ...affinity, node: '' }, /spec\.node/],
    ['an unknown state', { ...affinity, state: 'lost' }, /spec\.state.*Unsupported value/],
  ])('an affinity with %s', (_, spec, message) => {
    const result = create('BlockAffinity', 'bad-affinity', spec);
    expect(result.ok).toBe(false);
    expect(result.stderr).toMatch(message);
  });

  it.each([
    ['a negative maxBlocksPerHost', { maxBlocksPerHost: -1 }, /spec\.maxBlocksPerHost/],
    ['a cool-down longer than a day', { releaseCooldownSeconds: 86401 }, /spec\.releaseCooldownSeconds/],
  ])('a config with %s', (_, spec, message) => {
    const result = cluster.tryKubectl(
      ['create', '--dry-run=server', '-f', '-'],
      JSON.stringify({ apiVersion, kind: 'IPAMConfig', metadata: { name: 'default' }, spec }),
    );
    expect(result.ok).toBe(false);
    expect(result.stderr).toMatch(message);
  });
});
