import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressToString, parseAddress } from './address.js';
import {
  type Cidr,
  cidrContains,
  cidrContainsAddress,
  cidrEquals,
  cidrFirstAddress,
  cidrLastAddress,
  cidrOf,
  cidrOverlaps,
  cidrRelation,
  cidrSize,
  cidrToResourceName,
  cidrToString,
  compareCidrs,
  makeCidr,
  parseCidr,
  resourceNameToCidr,
  safeParseCidr,
} from './cidr.js';
import { CidrParseError } from './errors.js';

/** Any CIDR of either family. */
const arbitraryCidr: fc.Arbitrary<Cidr> = fc.oneof(
  fc
    .tuple(fc.bigInt({ min: 0n, max: 2n ** 32n - 1n }), fc.integer({ min: 0, max: 32 }))
    .map(([value, prefix]) => cidrOf({ family: 4, value }, prefix)),
  fc
    .tuple(fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }), fc.integer({ min: 0, max: 128 }))
    .map(([value, prefix]) => cidrOf({ family: 6, value }, prefix)),
);

const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', 4, '10.0.0.0/8'],
    ['0.0.0.0/0', 4, '0.0.0.0/0'],
    ['192.168.1.7/32', 4, '192.168.1.7/32'],
    ['fd00::/64', 6, 'fd00::/64'],
    ['FD00:0:0:0::/64', 6, 'fd00::/64'],
    ['::/0', 6, '::/0'],
    ['::1/128', 6, '::1/128'],
    ['::ffff:10.0.0.0/104', 6, '::ffff:10.0.0.0/104'],
  ] as const)('%s is IPv%d %s', (text, family, canonical) => {
    const cidr = parseCidr(text);
    expect(cidr.family).toBe(family);
    expect(cidrToString(cidr)).toBe(canonical);
  });

  it.each([
    ['10.0.0.0', 8, 'missing "/<prefix length>"'],
    ['10.0.0.0/', 9, 'prefix length "" is not a decimal number'],
    ['10.0.0.0/x', 9, 'prefix length "x" is not a decimal number'],
    ['10.0.0.0/+8', 9, 'not a decimal number'],
    ['10.0.0.0/8/8', 9, 'not a decimal number'],
    ['10.0.0.0/08', 9, 'leading zero'],
    ['10.0.0.0/33', 9, 'prefix length 33 is out of range for IPv4 (0-32)'],
    ['fd00::/129', 7, 'prefix length 129 is out of range for IPv6 (0-128)'],
    ['10.0.0/8', 6, 'IPv4 address has 3 of 4 octets'],
    ['/8', 0, 'the address is empty'],
    ['10.0.0.256/24', 7, 'IPv4 octet "256" is greater than 255'],
    ['fd00:::/64', 6, 'unexpected character ":"'],
    ['fe80::%eth0/64', 6, 'zone identifier'],
  ])('%j is not a CIDR (offset %d: %s)', (text, offset, reason) => {
    const result = safeParseCidr(text);
    expect(result).toMatchObject({ ok: false, error: { code: 'cidr-unparseable', input: text, offset } });
    if (result.ok || result.error.code !== 'cidr-unparseable') return;
    expect(result.error.reason).toContain(reason);
    expect(result.error.message).toBe(`${JSON.stringify(text)} is not a valid CIDR: ${result.error.reason}`);
    expect(() => parseCidr(text)).toThrow(CidrParseError);
  });

  it.each([
    ['10.0.0.1/24', '10.0.0.0/24'],
    ['192.168.1.0/16', '192.168.0.0/16'],
    ['fd00::1/64', 'fd00::/64'],
    ['1.2.3.4/0', '0.0.0.0/0'],
  ])('%s has host bits set; the network is %s', (text, network) => {
    const result = safeParseCidr(text);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe('cidr-host-bits-set');
    if (result.error.code !== 'cidr-host-bits-set') return;
    expect(cidrToString(result.error.network)).toBe(network);
    expect(result.error.message).toBe(`"${text}" has host bits set; did you mean ${network}?`);
    expect(() => parseCidr(text)).toThrow(`"${text}" has host bits set; did you mean ${network}?`);
  });

  it('round-trips through its canonical text', () => {
    fc.assert(
      fc.property(arbitraryCidr, (cidr) => {
        expect(parseCidr(cidrToString(cidr))).toEqual(cidr);
      }),
    );
  });
});

describe('CIDR arithmetic', () => {
  it.each([
    ['10.0.0.0/8', '10.1.0.0/16', 'a-contains-b'],
    ['10.1.0.0/16', '10.0.0.0/8', 'b-contains-a'],
    ['10.0.0.0/8', '10.0.0.0/8', 'equal'],
    ['10.0.0.0/8', '11.0.0.0/8', 'disjoint'],
    ['10.0.0.0/24', '10.0.1.0/24', 'disjoint'],
    ['0.0.0.0/0', '255.255.255.255/32', 'a-contains-b'],
    ['::/0', '0.0.0.0/0', 'disjoint'],
    ['::/96', '0.0.0.0/0', 'disjoint'],
    ['fd00::/8', 'fd12:3456::/32', 'a-contains-b'],
  ] as const)('%s vs %s: %s', (a, b, relation) => {
    const x = parseCidr(a);
    const y = parseCidr(b);
    expect(cidrRelation(x, y)).toBe(relation);
    expect(cidrOverlaps(x, y)).toBe(relation !== 'disjoint');
    expect(cidrContains(x, y)).toBe(relation === 'equal' || relation === 'a-contains-b');
    expect(cidrEquals(x, y)).toBe(relation === 'equal');
  });

  it.each([
    ['10.0.0.0/24', 256n, '10.0.0.0', '10.0.0.255'],
    ['10.0.0.7/32', 1n, '10.0.0.7', '10.0.0.7'],
    ['0.0.0.0/0', 2n ** 32n, '0.0.0.0', '255.255.255.255'],
    ['fd00::/64', 2n ** 64n, 'fd00::', 'fd00::ffff:ffff:ffff:ffff'],
    ['::/0', 2n ** 128n, '::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ])('%s has %d addresses from %s to %s', (text, size, first, last) => {
    const cidr = parseCidr(text);
    expect(cidrSize(cidr)).toBe(size);
    expect(addressToString(cidrFirstAddress(cidr))).toBe(first);
    expect(addressToString(cidrLastAddress(cidr))).toBe(last);
    expect(cidrContainsAddress(cidr, parseAddress(first))).toBe(true);
    expect(cidrContainsAddress(cidr, parseAddress(last))).toBe(true);
  });

  it('cidrOf masks host bits and contains the address', () => {
    const v4 = fc
      .tuple(fc.bigInt({ min: 0n, max: 2n ** 32n - 1n }), fc.integer({ min: 0, max: 32 }))
      .map(([value, prefix]) => ({ address: { family: 4 as const, value }, prefix }));
    const v6 = fc
      .tuple(fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }), fc.integer({ min: 0, max: 128 }))
      .map(([value, prefix]) => ({ address: { family: 6 as const, value }, prefix }));
    fc.assert(
      fc.property(fc.oneof(v4, v6), ({ address, prefix }) => {
        const cidr = cidrOf(address, prefix);
        expect(cidrContainsAddress(cidr, address)).toBe(true);
        expect(cidr.network <= address.value && address.value < cidr.network + cidrSize(cidr)).toBe(true);
        expect(makeCidr(cidr.family, cidr.network, cidr.prefixLength)).toEqual(cidr);
      }),
    );
  });

  it('makeCidr rejects host bits and bad prefix lengths', () => {
    expect(() => makeCidr(4, 1n, 24)).toThrow(RangeError);
    expect(() => makeCidr(4, 0n, 33)).toThrow(RangeError);
    expect(() => makeCidr(6, 0n, 1.5)).toThrow(RangeError);
    expect(() => makeCidr(4, 2n ** 32n, 32)).toThrow(RangeError);
  });

  it('orders by family, address, then larger first', () => {
    const texts = ['fd00::/64', '10.0.1.0/24', '10.0.0.0/24', '10.0.0.0/16', '::/0'];
    expect(texts.map(parseCidr).sort(compareCidrs).map(cidrToString)).toEqual([
      '10.0.0.0/16',
      '10.0.0.0/24',
      '10.0.1.0/24',
      '::/0',
      'fd00::/64',
    ]);
  });
});

describe('cidrToResourceName', () => {
  it.each([
    ['192.168.0.0/26', '192-168-0-0-26'],
    ['0.0.0.0/0', '0-0-0-0-0'],
    ['fd00::/122', 'fd00-0-0-0-0-0-0-0-122'],
    ['::/0', '0-0-0-0-0-0-0-0-0'],
    ['::1/128', '0-0-0-0-0-0-0-1-128'],
    ['2001:DB8:ABCD:12::/64', '2001-db8-abcd-12-0-0-0-0-64'],
  ])('%s is named %s', (text, name) => {
    expect(cidrToResourceName(parseCidr(text))).toBe(name);
    expect(resourceNameToCidr(name)).toEqual(parseCidr(text));
  });

  it.each([
    '10-0-0-0',
    '10-0-0-1-24',
    '10-0-0-0-33',
    '010-0-0-0-8',
    'fd00--122',
    'FD00-0-0-0-0-0-0-0-64',
    '',
    '-',
  ])('%j is not a name cidrToResourceName produces', (name) => {
    expect(resourceNameToCidr(name)).toBeUndefined();
  });

  it('is a reversible DNS-1123 label of at most 63 characters', () => {
    fc.assert(
      fc.property(arbitraryCidr, (cidr) => {
        const name = cidrToResourceName(cidr);
        expect(name).toMatch(DNS_1123_LABEL);
        expect(name.length).toBeLessThanOrEqual(63);
        expect(resourceNameToCidr(name)).toEqual(cidr);
      }),
    );
  });
});

describe('CidrParseError', () => {
  it.each([
    ['10.0.0/8', 'cidr-unparseable'],
    ['10.0.0.1/24', 'cidr-host-bits-set'],
  ])('thrown for %j, carries the issue’s code %s', (text, code) => {
    expect(() => parseCidr(text)).toThrow(expect.objectContaining({ code }));
  });
});
