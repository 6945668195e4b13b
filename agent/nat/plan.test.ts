import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Address,
  type IpFamily,
  addressToString,
  cidrContains,
  cidrContainsAddress,
  cidrFirstAddress,
  cidrOf,
  cidrOverlaps,
  cidrToString,
  familyBits,
  makeCidr,
  parseAddress,
  parseCidr,
} from '../../ipam/index.js';
import { type NatPool, type NodeAddresses, desiredNatTable, outermostCidrs } from './plan.js';
import type { NftTable } from './table.js';

const pool = (name: string, cidr: string, natOutgoing: boolean): NatPool => ({ name, cidr, natOutgoing });
const elements = (table: NftTable, name: string) => table.sets.find((set) => set.name === name)?.elements;

describe('desiredNatTable', () => {
  it.each<[string, NatPool[], NodeAddresses[], Record<string, string[]>]>([
    [
      'no pools: every set empty, so nothing is masqueraded',
      [],
      [],
      { 'nat-outgoing-pools-v4': [], 'pools-v4': [], 'nodes-v4': [], 'nat-outgoing-pools-v6': [] },
    ],
    [
      'a natOutgoing pool is a source and a destination; one without is a destination only',
      [pool('nat', '10.1.0.0/16', true), pool('plain', '10.2.0.0/16', false)],
      [],
      { 'nat-outgoing-pools-v4': ['10.1.0.0/16'], 'pools-v4': ['10.1.0.0/16', '10.2.0.0/16'] },
    ],
    [
      'IPv6 pools go to the IPv6 sets, written canonically',
      [pool('six', 'FD10:0::/64', true), pool('four', '10.1.0.0/16', false)],
      [],
      {
        'nat-outgoing-pools-v6': ['fd10::/64'],
        'pools-v6': ['fd10::/64'],
        'nat-outgoing-pools-v4': [],
        'pools-v4': ['10.1.0.0/16'],
      },
    ],
    [
      "every node's addresses, each as a single address of its family",
      [],
      [
        { name: 'a', addresses: ['192.168.5.1', 'fd00::1'] },
        { name: 'b', addresses: ['192.168.5.2', '192.168.5.1'] },
      ],
      { 'nodes-v4': ['192.168.5.1/32', '192.168.5.2/32'], 'nodes-v6': ['fd00::1/128'] },
    ],
    [
      'a CIDR inside another is left out (an interval set refuses overlapping elements)',
      [
        pool('outer', '10.0.0.0/8', true),
        pool('inner', '10.1.0.0/16', true),
        pool('twin', '10.0.0.0/8', false),
      ],
      [{ name: 'a', addresses: ['10.0.0.1'] }],
      { 'nat-outgoing-pools-v4': ['10.0.0.0/8'], 'pools-v4': ['10.0.0.0/8'], 'nodes-v4': ['10.0.0.1/32'] },
    ],
  ])('%s', (_name, pools, nodes, sets) => {
    const { table, problems } = desiredNatTable(pools, nodes);
    expect(problems).toEqual([]);
    for (const [name, want] of Object.entries(sets)) expect(elements(table, name), name).toEqual(want);
  });

  it.each([
    ['a pool CIDR that does not parse', [pool('bad', '10.1.0.0/33', true)], [], { pool: 'bad' }],
    ['a pool CIDR with host bits set', [pool('bad', '10.1.0.1/16', true)], [], { pool: 'bad' }],
    ['a node address that does not parse', [], [{ name: 'n', addresses: ['node-a.example'] }], { node: 'n' }],
  ])('leaves out %s and says why', (_name, pools, nodes, about) => {
    const { table, problems } = desiredNatTable(pools, nodes);
    expect(problems).toEqual([{ ...about, reason: expect.any(String) as unknown }]);
    expect(table.sets.every((set) => set.elements.length === 0)).toBe(true);
  });

  it('has one chain at the srcnat hook and one masquerading rule per family', () => {
    const { table } = desiredNatTable([], []);
    expect(table).toMatchObject({ family: 'inet', name: 'topology-ipam' });
    expect(table.chains).toEqual([
      { name: 'nat-outgoing', type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept' },
    ]);
    expect(table.rules.map((rule) => rule.statements.at(-1))).toEqual([
      { kind: 'masquerade', flags: ['fully-random'] },
      { kind: 'masquerade', flags: ['fully-random'] },
    ]);
  });
});

/** What the kernel does with the table: whether a packet from `source` to `destination` is masqueraded. */
function masqueraded(table: NftTable, source: Address, destination: Address): boolean {
  const inSet = (name: string, address: Address) =>
    (elements(table, name) ?? []).some((cidr) => cidrContainsAddress(parseCidr(cidr), address));
  return table.rules.some((rule) =>
    rule.statements.every((statement) => {
      if (statement.kind === 'masquerade') return true;
      if ((statement.protocol === 'ip') !== (source.family === 4)) return false;
      const address = statement.field === 'saddr' ? source : destination;
      return inSet(statement.set, address) === (statement.op === '==');
    }),
  );
}

const arbitraryFamily = fc.constantFrom<IpFamily>(4, 6);
/** Addresses in a small space (64 of each family) so that pools, nodes and packets meet often. */
const arbitraryAddress = (family: IpFamily): fc.Arbitrary<Address> =>
  fc
    .tuple(fc.integer({ min: 0, max: 3 }), fc.bigInt({ min: 0n, max: 255n }))
    .map(([high, low]) =>
      parseAddress(family === 4 ? `10.${high}.0.${low}` : `fd00::${high.toString(16)}:${low.toString(16)}`),
    );
const arbitraryPool = arbitraryFamily.chain((family) =>
  fc
    .record({
      address: arbitraryAddress(family),
      prefix: fc.integer({ min: familyBits(family) - 5, max: familyBits(family) }),
      natOutgoing: fc.boolean(),
    })
    .map(({ address, prefix, natOutgoing }) => pool('p', cidrToString(cidrOf(address, prefix)), natOutgoing)),
);

/** Pools, node addresses and a packet, which often starts or ends in a pool or at a node. */
const arbitraryCase = fc
  .record({
    pools: fc.array(arbitraryPool, { maxLength: 6 }),
    nodeIps: fc.array(arbitraryFamily.chain(arbitraryAddress), { maxLength: 3 }),
  })
  .chain(({ pools, nodeIps }) => {
    const known = [...pools.map((each) => cidrFirstAddress(parseCidr(each.cidr))), ...nodeIps];
    const endpoint =
      known.length === 0
        ? arbitraryFamily.chain(arbitraryAddress)
        : fc.oneof(arbitraryFamily.chain(arbitraryAddress), fc.constantFrom(...known));
    return fc.record({
      pools: fc.constant(pools),
      nodeIps: fc.constant(nodeIps),
      source: endpoint,
      destination: endpoint,
    });
  });

describe('desiredNatTable, as the kernel would apply it', () => {
  it('masquerades exactly from a natOutgoing pool to outside every pool and node address', () => {
    fc.assert(
      fc.property(arbitraryCase, ({ pools, nodeIps, source, destination }) => {
        fc.pre(source.family === destination.family);
        // Pools do not overlap (the operator refuses those that do); the first of a nest is kept.
        const disjoint = pools.filter(
          (candidate, index) =>
            !pools
              .slice(0, index)
              .some((earlier) => cidrOverlaps(parseCidr(earlier.cidr), parseCidr(candidate.cidr))),
        );
        const { table } = desiredNatTable(disjoint, [{ name: 'n', addresses: nodeIps.map(addressToString) }]);
        const inPool = (address: Address, natOutgoing?: boolean) =>
          disjoint.some(
            (each) =>
              cidrContainsAddress(parseCidr(each.cidr), address) &&
              (natOutgoing === undefined || each.natOutgoing === natOutgoing),
          );
        const toNode = nodeIps.some(
          (ip) => ip.family === destination.family && ip.value === destination.value,
        );
        expect(masqueraded(table, source, destination)).toBe(
          inPool(source, true) && !inPool(destination) && !toNode,
        );
      }),
    );
  });
});

describe('outermostCidrs', () => {
  it('keeps every CIDR of the family inside exactly one kept one, none inside another', () => {
    fc.assert(
      fc.property(fc.array(arbitraryPool, { maxLength: 10 }), arbitraryFamily, (pools, family) => {
        const cidrs = pools.map((each) => parseCidr(each.cidr));
        const kept = outermostCidrs(cidrs, family).map(parseCidr);
        for (const cidr of cidrs.filter((each) => each.family === family))
          expect(kept.filter((outer) => cidrContains(outer, cidr))).toHaveLength(1);
        for (const [i, a] of kept.entries())
          for (const [j, b] of kept.entries()) if (i !== j) expect(cidrContains(a, b)).toBe(false);
        expect(kept.every((each) => each.family === family)).toBe(true);
      }),
    );
  });

  it('writes them canonically, sorted by address', () => {
    const cidrs = ['10.2.0.0/16', '10.1.0.0/16', '10.1.2.0/24', 'fd00::/64'].map(parseCidr);
    expect(outermostCidrs(cidrs, 4)).toEqual(['10.1.0.0/16', '10.2.0.0/16']);
    expect(outermostCidrs([makeCidr(6, 0n, 0)], 6)).toEqual(['::/0']);
  });
});
