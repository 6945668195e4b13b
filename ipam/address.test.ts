import fc from 'fast-check';
import { Address4, Address6 } from 'ip-address';
import { describe, expect, it } from 'vitest';
import { addressToString, compareAddresses, makeAddress, parseAddress, safeParseAddress } from './address.js';
import { AddressParseError } from './errors.js';

const u32 = fc.bigInt({ min: 0n, max: 2n ** 32n - 1n });
/** 128-bit values with many zero groups, so `::` compression and its tie-breaking get exercised. */
const u128 = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
    minLength: 8,
    maxLength: 8,
  })
  .map((groups) => groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n));

describe('parseAddress / addressToString', () => {
  it.each([
    ['0.0.0.0', 4, '0.0.0.0'],
    ['255.255.255.255', 4, '255.255.255.255'],
    ['10.0.0.1', 4, '10.0.0.1'],
    ['::', 6, '::'],
    ['::1', 6, '::1'],
    ['1::', 6, '1::'],
    ['FD00::AB', 6, 'fd00::ab'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', 6, '2001:db8::1'],
    // A single zero group is not compressed; the longest run is; the first of equal runs is.
    ['2001:db8:0:1:1:1:1:1', 6, '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', 6, '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', 6, '2001:db8::1:0:0:1'],
    ['1:2:3:4:5:6:7::', 6, '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', 6, '0:2:3:4:5:6:7:8'],
    // Embedded IPv4; IPv4-mapped addresses print in mixed notation (RFC 5952 section 5).
    ['::ffff:192.0.2.1', 6, '::ffff:192.0.2.1'],
    ['::ffff:c000:0201', 6, '::ffff:192.0.2.1'],
    ['64:ff9b::192.0.2.33', 6, '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:1.2.3.4', 6, '1:2:3:4:5:6:102:304'],
    ['::1.2.3.4', 6, '::102:304'],
  ] as const)('%s is IPv%d %s', (text, family, canonical) => {
    const address = parseAddress(text);
    expect(address.family).toBe(family);
    expect(addressToString(address)).toBe(canonical);
  });

  it.each([
    ['', 0, 'empty'],
    ['10.0.0', 6, '3 of 4 octets'],
    ['10.0.0.', 7, '3 of 4 octets'],
    ['10.0.0.1.2', 8, 'more than 4 octets'],
    ['10.0.0.256', 7, '"256" is greater than 255'],
    ['10.0.0.1000', 7, '"1000" is greater than 255'],
    ['10.01.0.1', 3, 'leading zero'],
    ['10.0.0.-1', 7, 'unexpected character "-"'],
    [' 10.0.0.1', 0, 'unexpected character " "'],
    ['10.0.0.1 ', 8, 'unexpected character " "'],
    ['hello', 0, 'unexpected character "h"'],
    [':1::', 0, 'starts with a single ":"'],
    ['1::2:', 4, 'ends with a single ":"'],
    ['1::2::3', 4, 'more than one "::"'],
    [':::', 2, 'unexpected character ":"'],
    ['1:2:3:4:5:6:7', 0, '7 of 8 groups'],
    ['1:2:3:4:5:6:7:8:9', 16, 'more than 8 groups'],
    ['1:2:3:4::5:6:7:8', 0, 'at least one group of zeros'],
    ['12345::', 0, 'more than 4 hex digits'],
    ['fe80::1%eth0', 7, 'zone identifier'],
    ['fe80::g', 6, 'unexpected character "g"'],
    ['::1.2.3.4:5', 2, 'embedded IPv4 address must come last'],
    ['::1.2.3.256', 8, '"256" is greater than 255'],
    ['1:2:3:4:5:6:7:1.2.3.4', 0, 'more than 8 groups'],
    ['[::1]', 0, 'unexpected character "["'],
  ])('%j is rejected at offset %d: %s', (text, offset, reason) => {
    const result = safeParseAddress(text);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe('address-unparseable');
    expect(result.error.offset).toBe(offset);
    expect(result.error.reason).toContain(reason);
    expect(result.error.message).toContain(JSON.stringify(text));
    expect(() => parseAddress(text)).toThrow(AddressParseError);
  });

  it('IPv4 agrees with ip-address and round-trips', () => {
    fc.assert(
      fc.property(u32, (value) => {
        const text = addressToString({ family: 4, value });
        expect(text).toBe(Address4.fromBigInt(value).correctForm());
        expect(parseAddress(text)).toEqual({ family: 4, value });
      }),
    );
  });

  it('IPv6 prints RFC 5952 text (as ip-address does, apart from IPv4-mapped) and round-trips', () => {
    fc.assert(
      fc.property(u128, (value) => {
        const text = addressToString({ family: 6, value });
        const oracle = Address6.fromBigInt(value);
        if (value >> 32n !== 0xffffn) expect(text).toBe(oracle.correctForm());
        expect(parseAddress(text)).toEqual({ family: 6, value });
        // Other spellings of the same address parse to the same value.
        expect(parseAddress(oracle.canonicalForm()).value).toBe(value);
        expect(parseAddress(oracle.canonicalForm().toUpperCase()).value).toBe(value);
        expect(parseAddress(oracle.to4in6()).value).toBe(value);
      }),
    );
  });

  it('orders IPv4 before IPv6, then numerically', () => {
    const sorted = ['::1', '10.0.0.2', '::', '10.0.0.1'].map(parseAddress).sort(compareAddresses);
    expect(sorted.map(addressToString)).toEqual(['10.0.0.1', '10.0.0.2', '::', '::1']);
  });

  it('makeAddress rejects values that do not fit the family', () => {
    expect(() => makeAddress(4, 2n ** 32n)).toThrow(RangeError);
    expect(() => makeAddress(6, -1n)).toThrow(RangeError);
    expect(makeAddress(6, 2n ** 128n - 1n).value).toBe(2n ** 128n - 1n);
  });
});

describe('AddressParseError', () => {
  it('carries the issue’s code', () => {
    expect(() => parseAddress('10.0.0')).toThrow(expect.objectContaining({ code: 'address-unparseable' }));
  });
});
