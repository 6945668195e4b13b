import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressAtOrdinal, cidrToString, makeCidr, parseAddress, parseCidr } from '../ipam/index.js';
import { assignAddress, reservedOrdinals } from './block-allocation.js';
import type { IPAMBlockSpec } from './block.js';
import {
  compileReservations,
  isReserved,
  isWhollyReserved,
  noReservations,
  parseReservedEntry,
  reservationProblems,
  reservationStatus,
  reservedOrdinalsIn,
} from './reservation.js';

const reservation = (name: string, reservedCIDRs: unknown) => ({
  metadata: { name },
  spec: { reservedCIDRs },
});
const compile = (...entries: string[]) => compileReservations([reservation('r', entries)]);

describe('parseReservedEntry', () => {
  it.each([
    ['10.0.0.5', '10.0.0.5/32'],
    ['10.0.1.0/28', '10.0.1.0/28'],
    // Calico reads a CIDR with host bits set as its network.
    ['10.0.1.3/28', '10.0.1.0/28'],
    ['fd00::7', 'fd00::7/128'],
    ['FD00:0:0::/120', 'fd00::/120'],
    ['0.0.0.0/0', '0.0.0.0/0'],
  ])('%s reserves %s', (entry, cidr) => {
    const parsed = parseReservedEntry(entry);
    expect(parsed && cidrToString(parsed)).toBe(cidr);
  });

  it.each(['', 'garbage', '10.0.0.256', '10.0.0.0/33', '10.0.0.0/', ' 10.0.0.5', 'fd00::/129', '010.0.0.1'])(
    '%j is neither an address nor a CIDR',
    (entry) => {
      expect(parseReservedEntry(entry)).toBeUndefined();
    },
  );
});

describe('compileReservations', () => {
  it('merges entries of every reservation, nested, overlapping and adjacent, per family', () => {
    const set = compileReservations([
      reservation('a', ['10.0.0.0/30', '10.0.0.2', 'fd00::1']),
      reservation('b', ['10.0.0.4/30', '10.0.0.16/28', 'fd00::/127']),
    ]);
    expect(set.spans[4]).toEqual([
      { first: parseAddress('10.0.0.0').value, last: parseAddress('10.0.0.7').value },
      { first: parseAddress('10.0.0.16').value, last: parseAddress('10.0.0.31').value },
    ]);
    expect(set.spans[6]).toEqual([
      { first: parseAddress('fd00::').value, last: parseAddress('fd00::1').value },
    ]);
    expect(set.malformed).toEqual([]);
  });

  it('skips and names entries and specs that do not parse (stored before the CRD checked them)', () => {
    const set = compileReservations([
      reservation('bad-entry', ['10.0.0.1', 'garbage']),
      reservation('bad-spec', 'not-a-list'),
    ]);
    expect(set.spans[4]).toHaveLength(1);
    expect(set.malformed).toEqual([
      { reservation: 'bad-entry', entry: 'garbage' },
      { reservation: 'bad-spec', entry: '{"reservedCIDRs":"not-a-list"}' },
    ]);
  });

  it('treats a reservation without entries as reserving nothing', () => {
    expect(compileReservations([{ metadata: { name: 'empty' }, spec: {} }])).toEqual(noReservations);
  });
});

describe('reservationProblems', () => {
  it.each([
    ['well-formed entries', { reservedCIDRs: ['10.0.0.5', '10.0.1.3/28', 'fd00::/120'] }, []],
    ['no entries', {}, []],
    [
      'each entry that is neither an address nor a CIDR, by its index, with why',
      { reservedCIDRs: ['10.0.0.5', 'garbage', '10.0.0.0/33'] },
      [
        'spec.reservedCIDRs[1]: "garbage" is not a valid IP address: ',
        'spec.reservedCIDRs[2]: "10.0.0.0/33" is not a valid CIDR: ',
      ],
    ],
    ['a spec that does not parse', { reservedCIDRs: 'not-a-list' }, ['spec.reservedCIDRs: ']],
  ])('%s', (_name, spec, expected) => {
    const problems = reservationProblems(spec);
    expect(problems).toHaveLength(expected.length);
    for (const [index, start] of expected.entries()) expect(problems[index]).toContain(start);
  });
});

describe('reservationStatus', () => {
  const at = (iso: string) => new Date(iso);
  const bad = { metadata: { generation: 2 }, spec: { reservedCIDRs: ['garbage'] } };

  it('is EntriesValid False naming the entry while one does not parse, True once fixed', () => {
    const first = reservationStatus(bad, at('2026-01-01T00:00:00Z'));
    expect(first.conditions).toEqual([
      {
        type: 'EntriesValid',
        status: 'False',
        reason: 'MalformedEntries',
        message: expect.stringMatching(
          /^spec\.reservedCIDRs\[0\]: "garbage" is not a valid IP address/,
        ) as unknown,
        observedGeneration: 2,
        lastTransitionTime: '2026-01-01T00:00:00.000Z',
      },
    ]);
    const fixed = { metadata: { generation: 3 }, spec: { reservedCIDRs: ['10.0.0.1'] }, status: first };
    expect(reservationStatus(fixed, at('2026-01-02T00:00:00Z')).conditions?.[0]).toMatchObject({
      status: 'True',
      reason: 'EntriesParse',
      message: '',
      observedGeneration: 3,
      lastTransitionTime: '2026-01-02T00:00:00.000Z',
    });
  });

  it('keeps the transition time while the status stays the same', () => {
    const first = reservationStatus(bad, at('2026-01-01T00:00:00Z'));
    const again = reservationStatus({ ...bad, status: first }, at('2026-01-05T00:00:00Z'));
    expect(again).toEqual(first);
  });
});

describe('isReserved', () => {
  const set = compile('10.0.0.5', '10.0.1.0/28', 'fd00::/120');
  it.each([
    ['10.0.0.5', true],
    ['10.0.0.4', false],
    ['10.0.0.6', false],
    ['10.0.1.0', true],
    ['10.0.1.15', true],
    ['10.0.1.16', false],
    ['fd00::ff', true],
    ['fd00::100', false],
    // The same bits in the other family are another address.
    ['::a00:5', false],
  ])('%s: %s', (address, reserved) => {
    expect(isReserved(set, parseAddress(address))).toBe(reserved);
  });
});

describe('isWhollyReserved and reservedOrdinalsIn', () => {
  it.each([
    { entries: ['10.0.0.0/24'], block: '10.0.0.64/26', whole: true, ordinals: 64 },
    { entries: ['10.0.0.64/27', '10.0.0.96/27'], block: '10.0.0.64/26', whole: true, ordinals: 64 },
    { entries: ['10.0.0.64/27'], block: '10.0.0.64/26', whole: false, ordinals: 32 },
    { entries: ['10.0.0.70', '10.0.0.127'], block: '10.0.0.64/26', whole: false, ordinals: 2 },
    { entries: ['10.0.1.0/24'], block: '10.0.0.64/26', whole: false, ordinals: 0 },
  ])('$entries in $block: whole $whole, $ordinals ordinals', ({ entries, block, whole, ordinals }) => {
    const set = compile(...entries);
    expect(isWhollyReserved(set, parseCidr(block))).toBe(whole);
    expect(reservedOrdinalsIn(set, parseCidr(block))).toHaveLength(ordinals);
  });

  it('gives the ordinals of the reserved addresses, ascending', () => {
    const set = compile('10.0.0.127', '10.0.0.70', '10.0.0.0/30');
    expect(reservedOrdinalsIn(set, parseCidr('10.0.0.64/26'))).toEqual([6, 63]);
    expect(reservedOrdinalsIn(set, parseCidr('10.0.0.0/26'))).toEqual([0, 1, 2, 3]);
  });

  it('joins the block-shape ordinals in reservedOrdinals', () => {
    const set = compile('10.0.0.70', '10.0.0.64');
    expect(reservedOrdinals(parseCidr('10.0.0.64/26'), set)).toEqual([0, 6, 63]);
  });
});

describe('assignment never yields a reserved address', () => {
  const emptyBlock = (cidr: string): IPAMBlockSpec => ({
    cidr,
    pool: 'p',
    node: 'n',
    allocations: [],
    cooling: [],
  });
  const now = new Date('2024-01-01T00:00:00Z');

  it('property: filling a block hands out exactly its addresses no reservation covers', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(63), fc.integer({ min: 26, max: 32 })), { maxLength: 6 }),
        (ipv6, picks) => {
          const block = ipv6 ? parseCidr('fd00::40/122') : parseCidr('10.0.0.64/26');
          const entries = picks.map(([ordinal, prefix]) => {
            const address = addressAtOrdinal(block, ordinal);
            const prefixLength = ipv6 ? prefix + 96 : prefix;
            const mask = (1n << BigInt((ipv6 ? 128 : 32) - prefixLength)) - 1n;
            return cidrToString(makeCidr(block.family, address.value & ~mask, prefixLength));
          });
          const set = compile(...entries);
          const reserved = reservedOrdinals(block, set);
          let spec = emptyBlock(cidrToString(block));
          const handedOut: number[] = [];
          for (let i = 0; i < 64; i++) {
            const outcome = assignAddress(
              spec,
              { handle: `h${i}`, node: 'n' },
              {
                now,
                cooldownSeconds: 0,
                reserved,
              },
            );
            if (outcome.kind === 'full') break;
            expect(isReserved(set, addressAtOrdinal(block, outcome.allocation.ordinal))).toBe(false);
            handedOut.push(outcome.allocation.ordinal);
            spec = outcome.spec;
          }
          const expected = Array.from({ length: 64 }, (_, o) => o).filter(
            (o) => !reservedOrdinals(block).includes(o) && !isReserved(set, addressAtOrdinal(block, o)),
          );
          expect(handedOut).toEqual(expected);
        },
      ),
    );
  });

  it('keeps an address assigned before its reservation, and never hands it out again once released', () => {
    const block = parseCidr('10.0.0.0/30');
    const held = (ordinal: number) => ({
      ordinal,
      handle: `h${ordinal}`,
      node: 'n',
      assignedAt: now.toISOString(),
    });
    const spec: IPAMBlockSpec = { ...emptyBlock('10.0.0.0/30'), allocations: [0, 1, 2, 3].map(held) };
    const reserved = reservedOrdinals(block, compile('10.0.0.1'));
    const options = { now, cooldownSeconds: 0, reserved };
    expect(assignAddress(spec, { handle: 'h1', node: 'n' }, options)).toMatchObject({
      kind: 'existing',
      allocation: { ordinal: 1 },
    });
    const released: IPAMBlockSpec = {
      ...spec,
      allocations: spec.allocations.filter((a) => a.ordinal !== 1),
      cooling: [{ ordinal: 1, releasedAt: now.toISOString() }],
    };
    expect(assignAddress(released, { handle: 'new', node: 'n' }, options).kind).toBe('full');
    // Without the reservation the released address would be reused.
    const unreserved = { now, cooldownSeconds: 0, reserved: reservedOrdinals(block) };
    expect(assignAddress(released, { handle: 'new', node: 'n' }, unreserved)).toMatchObject({
      kind: 'assigned',
      allocation: { ordinal: 1 },
    });
  });
});
