/**
 * CIDR value type and arithmetic. A `Cidr` is always a network address (no host bits set) with a prefix
 * length valid for its family; the constructors here guarantee it.
 */
import {
  type Address,
  compareBigints,
  familyBits,
  type IpFamily,
  ipv6Groups,
  makeAddress,
  addressToString,
  scanAddress,
} from './address.js';
import { CidrParseError, type CidrIssue, type Result } from './errors.js';

export interface Cidr {
  readonly family: IpFamily;
  /** The network address (first address) as an unsigned integer; host bits are zero. */
  readonly network: bigint;
  readonly prefixLength: number;
}

/** How two CIDRs relate. CIDRs never partially overlap: they are equal, nested or disjoint. */
export type CidrRelation = 'equal' | 'a-contains-b' | 'b-contains-a' | 'disjoint';

/** Mask of the host bits of a `prefixLength` network: the low `bits - prefixLength` bits set. */
function hostMask(family: IpFamily, prefixLength: number): bigint {
  return (1n << BigInt(familyBits(family) - prefixLength)) - 1n;
}

function checkPrefixLength(family: IpFamily, prefixLength: number): void {
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > familyBits(family)) {
    throw new RangeError(`${prefixLength} is not a prefix length for IPv${family}`);
  }
}

/**
 * Builds a CIDR from parts, checking them. Throws `RangeError` for a prefix length out of range, a value
 * out of range, or host bits set (use `cidrOf` to mask them off instead).
 */
export function makeCidr(family: IpFamily, network: bigint, prefixLength: number): Cidr {
  checkPrefixLength(family, prefixLength);
  makeAddress(family, network);
  if ((network & hostMask(family, prefixLength)) !== 0n) {
    throw new RangeError(
      `IPv${family} network ${network} has host bits set for prefix length ${prefixLength}`,
    );
  }
  return { family, network, prefixLength };
}

/** The CIDR of the given prefix length that contains `address` (host bits cleared). */
export function cidrOf(address: Address, prefixLength: number): Cidr {
  checkPrefixLength(address.family, prefixLength);
  return {
    family: address.family,
    network: address.value & ~hostMask(address.family, prefixLength),
    prefixLength,
  };
}

/** Parses `<address>/<prefix length>`; throws `CidrParseError` (with `issue` data) if it is not one. */
export function parseCidr(text: string): Cidr {
  const result = safeParseCidr(text);
  if (!result.ok) throw new CidrParseError(result.error);
  return result.value;
}

/**
 * Parses `<address>/<prefix length>` without throwing. Distinguishes text that is not a CIDR at all
 * (`cidr-unparseable`, with the offset of the problem) from a CIDR with host bits set
 * (`cidr-host-bits-set`, with the network that was probably meant).
 */
export function safeParseCidr(text: string): Result<Cidr, CidrIssue> {
  const unparseable = (offset: number, length: number, reason: string): Result<Cidr, CidrIssue> => ({
    ok: false,
    error: {
      code: 'cidr-unparseable',
      input: text,
      offset,
      length,
      reason,
      message: `${JSON.stringify(text)} is not a valid CIDR: ${reason}`,
    },
  });
  const slash = text.indexOf('/');
  if (slash < 0) return unparseable(text.length, 0, 'missing "/<prefix length>"');
  const scan = scanAddress(text, 0, slash);
  if (!scan.ok) return unparseable(scan.offset, scan.length, scan.reason);
  const { family, value } = scan.address;
  const bits = familyBits(family);
  const prefixText = text.slice(slash + 1);
  if (!/^[0-9]+$/.test(prefixText)) {
    return unparseable(slash + 1, prefixText.length, `prefix length "${prefixText}" is not a decimal number`);
  }
  if (prefixText.length > 1 && prefixText.startsWith('0')) {
    return unparseable(slash + 1, prefixText.length, `prefix length "${prefixText}" has a leading zero`);
  }
  const prefixLength = Number(prefixText);
  if (prefixLength > bits) {
    return unparseable(
      slash + 1,
      prefixText.length,
      `prefix length ${prefixText} is out of range for IPv${family} (0-${bits})`,
    );
  }
  const network = value & ~hostMask(family, prefixLength);
  const cidr: Cidr = { family, network, prefixLength };
  if (network !== value) {
    return {
      ok: false,
      error: {
        code: 'cidr-host-bits-set',
        input: text,
        network: cidr,
        message: `${JSON.stringify(text)} has host bits set; did you mean ${cidrToString(cidr)}?`,
      },
    };
  }
  return { ok: true, value: cidr };
}

/** Canonical text: `10.0.0.0/8`, `fd00::/64`. */
export function cidrToString(cidr: Cidr): string {
  return `${addressToString({ family: cidr.family, value: cidr.network })}/${cidr.prefixLength}`;
}

/** Number of addresses in the CIDR. */
export function cidrSize(cidr: Cidr): bigint {
  return 1n << BigInt(familyBits(cidr.family) - cidr.prefixLength);
}

/** The last address value in the CIDR (the broadcast address for IPv4). */
export function cidrEnd(cidr: Cidr): bigint {
  return cidr.network | hostMask(cidr.family, cidr.prefixLength);
}

export function cidrFirstAddress(cidr: Cidr): Address {
  return { family: cidr.family, value: cidr.network };
}

export function cidrLastAddress(cidr: Cidr): Address {
  return { family: cidr.family, value: cidrEnd(cidr) };
}

export function cidrEquals(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.network === b.network && a.prefixLength === b.prefixLength;
}

/** True if every address of `inner` is in `outer` (so a CIDR contains itself). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return (
    outer.family === inner.family &&
    outer.prefixLength <= inner.prefixLength &&
    (inner.network & ~hostMask(outer.family, outer.prefixLength)) === outer.network
  );
}

export function cidrContainsAddress(cidr: Cidr, address: Address): boolean {
  return (
    cidr.family === address.family &&
    (address.value & ~hostMask(cidr.family, cidr.prefixLength)) === cidr.network
  );
}

/** True if the CIDRs share an address; for CIDRs that means one contains the other. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

export function cidrRelation(a: Cidr, b: Cidr): CidrRelation {
  if (cidrContains(a, b)) return a.prefixLength === b.prefixLength ? 'equal' : 'a-contains-b';
  return cidrContains(b, a) ? 'b-contains-a' : 'disjoint';
}

/** Orders IPv4 before IPv6, then by network address, then larger (shorter prefix) first. */
export function compareCidrs(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  return compareBigints(a.network, b.network) || a.prefixLength - b.prefixLength;
}

/**
 * A Kubernetes object name for a CIDR, deterministic and reversible (`resourceNameToCidr`):
 * IPv4 `192.168.0.0/26` -> `192-168-0-0-26`; IPv6 `fd00::/122` -> `fd00-0-0-0-0-0-0-0-122`.
 *
 * IPv6 is written in full (eight groups, lowercase, no leading zeros) rather than compressed: Calico's
 * `fd00--122` style starts with `-` for `::/0` and `::1/128`, which DNS-1123 forbids, and is harder to read
 * back. IPv4 names have five parts and IPv6 names nine, so the two never collide. The result is at most
 * 43 characters, a valid DNS-1123 label (and so also a subdomain and a label value).
 */
export function cidrToResourceName(cidr: Cidr): string {
  const parts =
    cidr.family === 4
      ? addressToString({ family: 4, value: cidr.network }).split('.')
      : ipv6Groups(cidr.network).map((g) => g.toString(16));
  return `${parts.join('-')}-${cidr.prefixLength}`;
}

/** The inverse of `cidrToResourceName`; `undefined` for any name it would not produce. */
export function resourceNameToCidr(name: string): Cidr | undefined {
  const parts = name.split('-');
  const prefixText = parts.pop();
  if (prefixText === undefined || !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  let text: string;
  if (parts.length === 4) {
    text = parts.join('.');
  } else if (parts.length === 8 && parts.every((p) => /^(0|[1-9a-f][0-9a-f]{0,3})$/.test(p))) {
    text = parts.join(':');
  } else {
    return undefined;
  }
  const result = safeParseCidr(`${text}/${prefixText}`);
  return result.ok ? result.value : undefined;
}
