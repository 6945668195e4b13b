/**
 * IPv4 and IPv6 addresses as `bigint`s: parsing and canonical printing.
 *
 * The parser is hand-written rather than delegated to `ip-address` (which the tests use as an oracle)
 * because we want Go's `net/netip` strictness, which is what Calico and Kubernetes accept: no leading
 * zeros in IPv4 octets (`010.0.0.1` is ambiguous: octal or decimal?), no zone identifiers (`fe80::1%eth0`),
 * no brackets or surrounding whitespace, `::` standing for at least one zero group, an embedded IPv4 address
 * only as the last 32 bits. It also reports where the text goes wrong (offset and length), which a library
 * that answers valid/invalid cannot.
 *
 * Printing follows RFC 5952: lowercase hex, no leading zeros in a group, the longest run of two or more zero
 * groups (the first on a tie) compressed to `::`, and IPv4-mapped addresses (`::ffff:0:0/96`) in mixed
 * notation (`::ffff:192.0.2.1`, RFC 5952 section 5), as Go's `netip.Addr.String` does.
 */
import { AddressParseError, type AddressIssue, type Result } from './errors.js';

export type IpFamily = 4 | 6;

/** An address of one family. `value` is the address as an unsigned integer of 32 or 128 bits. */
export interface Address {
  readonly family: IpFamily;
  readonly value: bigint;
}

/** Number of bits in an address of `family`. */
export function familyBits(family: IpFamily): 32 | 128 {
  return family === 4 ? 32 : 128;
}

/** Builds an address, checking that `value` fits the family. Throws `RangeError` otherwise. */
export function makeAddress(family: IpFamily, value: bigint): Address {
  if (value < 0n || value >> BigInt(familyBits(family)) !== 0n) {
    throw new RangeError(`${value} is not an IPv${family} address value`);
  }
  return { family, value };
}

export function addressEquals(a: Address, b: Address): boolean {
  return a.family === b.family && a.value === b.value;
}

/** Orders IPv4 before IPv6, then numerically. */
export function compareAddresses(a: Address, b: Address): number {
  if (a.family !== b.family) return a.family - b.family;
  return compareBigints(a.value, b.value);
}

export function compareBigints(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Parses an IPv4 or IPv6 address; throws `AddressParseError` (with `issue` data) if it is not one. */
export function parseAddress(text: string): Address {
  const result = safeParseAddress(text);
  if (!result.ok) throw new AddressParseError(result.error);
  return result.value;
}

/** Parses an IPv4 or IPv6 address without throwing. */
export function safeParseAddress(text: string): Result<Address, AddressIssue> {
  const scan = scanAddress(text, 0, text.length);
  if (scan.ok) return { ok: true, value: scan.address };
  return {
    ok: false,
    error: {
      code: 'address-unparseable',
      input: text,
      offset: scan.offset,
      length: scan.length,
      reason: scan.reason,
      message: `${JSON.stringify(text)} is not a valid IP address: ${scan.reason}`,
    },
  };
}

/** Canonical text: dotted decimal for IPv4, RFC 5952 for IPv6. */
export function addressToString(address: Address): string {
  return address.family === 4 ? ipv4ToString(address.value) : ipv6ToString(address.value);
}

/** The 16-bit groups of an IPv6 address value, most significant first. */
export function ipv6Groups(value: bigint): number[] {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  return groups;
}

function ipv4ToString(value: bigint): string {
  const n = Number(value);
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function ipv6ToString(value: bigint): string {
  if (value >> 32n === 0xffffn) return `::ffff:${ipv4ToString(value & 0xffffffffn)}`;
  const groups = ipv6Groups(value);
  // Longest run of zero groups; the first one wins a tie (RFC 5952 section 4.2.3).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    const start = i;
    while (i < groups.length && groups[i] === 0) i++;
    if (i - start > bestLength) {
      bestStart = start;
      bestLength = i - start;
    }
  }
  const hex = (part: number[]): string => part.map((g) => g.toString(16)).join(':');
  // A single zero group is not compressed (RFC 5952 section 4.2.2).
  if (bestLength < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/** The result of scanning part of a string as an address; offsets are into the whole string. */
export type AddressScan =
  | { readonly ok: true; readonly address: Address }
  | { readonly ok: false; readonly offset: number; readonly length: number; readonly reason: string };

type Fail = Extract<AddressScan, { ok: false }>;

function fail(offset: number, length: number, reason: string): Fail {
  return { ok: false, offset, length, reason };
}

function describeChar(text: string, offset: number): string {
  const char = text.charAt(offset);
  if (char === '%') return 'zone identifier ("%...")';
  return `character ${JSON.stringify(char)}`;
}

/**
 * Scans `text[start, end)` as an address. The family is chosen as Go does: IPv6 if there is a colon.
 * Exported for `cidr.ts`, which scans the part before the slash and keeps offsets relative to the whole.
 */
export function scanAddress(text: string, start: number, end: number): AddressScan {
  if (start >= end) return fail(start, 0, 'the address is empty');
  if (text.slice(start, end).includes(':')) return scanIpv6(text, start, end);
  const v4 = scanIpv4(text, start, end);
  return v4.ok ? { ok: true, address: { family: 4, value: v4.value } } : v4;
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

function scanIpv4(text: string, start: number, end: number): { ok: true; value: bigint } | Fail {
  let value = 0n;
  let pos = start;
  for (let octet = 0; octet < 4; octet++) {
    const octetStart = pos;
    while (pos < end && isDigit(text.charCodeAt(pos))) pos++;
    if (pos === octetStart) {
      if (pos < end) return fail(pos, 1, `unexpected ${describeChar(text, pos)} in IPv4 address`);
      return fail(pos, 0, `IPv4 address has ${octet} of 4 octets`);
    }
    const digits = text.slice(octetStart, pos);
    if (digits.length > 1 && digits.startsWith('0')) {
      return fail(octetStart, digits.length, `IPv4 octet "${digits}" has a leading zero`);
    }
    const n = Number(digits);
    if (n > 255) return fail(octetStart, digits.length, `IPv4 octet "${digits}" is greater than 255`);
    value = (value << 8n) | BigInt(n);
    if (octet < 3) {
      if (pos === end) return fail(pos, 0, `IPv4 address has ${octet + 1} of 4 octets`);
      if (text.charAt(pos) !== '.') {
        return fail(pos, 1, `unexpected ${describeChar(text, pos)} in IPv4 address`);
      }
      pos++;
    }
  }
  if (pos < end) {
    if (text.charAt(pos) === '.') return fail(pos, end - pos, 'IPv4 address has more than 4 octets');
    return fail(pos, 1, `unexpected ${describeChar(text, pos)} in IPv4 address`);
  }
  return { ok: true, value };
}

function scanIpv6(text: string, start: number, end: number): AddressScan {
  const groups: number[] = [];
  // Index in `groups` where "::" stands, or -1.
  let ellipsis = -1;
  let pos = start;
  if (text.startsWith('::', pos)) {
    ellipsis = 0;
    pos += 2;
  } else if (text.charAt(pos) === ':') {
    return fail(pos, 1, 'IPv6 address starts with a single ":"');
  }
  while (pos < end) {
    const groupStart = pos;
    while (pos < end && isHex(text.charCodeAt(pos))) pos++;
    if (pos < end && text.charAt(pos) === '.') {
      // Embedded IPv4 address: must run to the end and fill the last 32 bits.
      const rest = text.slice(groupStart, end);
      if (rest.includes(':')) {
        return fail(groupStart, end - groupStart, 'an embedded IPv4 address must come last');
      }
      const v4 = scanIpv4(text, groupStart, end);
      if (!v4.ok) return v4;
      groups.push(Number(v4.value >> 16n), Number(v4.value & 0xffffn));
      pos = end;
      break;
    }
    if (pos === groupStart) return fail(pos, 1, `unexpected ${describeChar(text, pos)} in IPv6 address`);
    if (pos - groupStart > 4) {
      return fail(
        groupStart,
        pos - groupStart,
        `IPv6 group "${text.slice(groupStart, pos)}" has more than 4 hex digits`,
      );
    }
    groups.push(Number.parseInt(text.slice(groupStart, pos), 16));
    if (groups.length > 8) return fail(groupStart, pos - groupStart, 'IPv6 address has more than 8 groups');
    if (pos === end) break;
    if (text.charAt(pos) !== ':') {
      return fail(pos, 1, `unexpected ${describeChar(text, pos)} in IPv6 address`);
    }
    pos++;
    if (text.charAt(pos) === ':' && pos < end) {
      if (ellipsis >= 0) return fail(pos - 1, 2, 'IPv6 address contains more than one "::"');
      ellipsis = groups.length;
      pos++;
    } else if (pos === end) {
      return fail(pos - 1, 1, 'IPv6 address ends with a single ":"');
    }
  }
  if (groups.length > 8) return fail(start, end - start, 'IPv6 address has more than 8 groups');
  if (ellipsis < 0 && groups.length < 8) {
    return fail(start, end - start, `IPv6 address has ${groups.length} of 8 groups and no "::"`);
  }
  if (ellipsis >= 0 && groups.length === 8) {
    return fail(start, end - start, '"::" must stand for at least one group of zeros');
  }
  const zeros = 8 - groups.length;
  const full =
    ellipsis < 0
      ? groups
      : [...groups.slice(0, ellipsis), ...Array<number>(zeros).fill(0), ...groups.slice(ellipsis)];
  let value = 0n;
  for (const group of full) value = (value << 16n) | BigInt(group);
  return { ok: true, address: { family: 6, value } };
}
