/**
 * Parse errors for addresses and CIDRs, as data. The `safeParse*` functions return these issues; the
 * throwing `parse*` functions wrap them in an `Error` subclass that carries the same issue object, so a
 * caller can branch on `error.issue.code` either way.
 */
import type { Cidr } from './cidr.js';

/** The outcome of a fallible operation that does not throw. */
export type Result<T, E> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

/** Text that is not an IPv4 or IPv6 address. `offset`/`length` locate the offending part of `input`. */
export interface AddressUnparseable {
  readonly code: 'address-unparseable';
  readonly input: string;
  readonly offset: number;
  readonly length: number;
  /** What is wrong, without repeating the input: `octet "256" is greater than 255`. */
  readonly reason: string;
  readonly message: string;
}

export type AddressIssue = AddressUnparseable;

/** Text that is not `<address>/<prefix length>`. `offset`/`length` locate the offending part of `input`. */
export interface CidrUnparseable {
  readonly code: 'cidr-unparseable';
  readonly input: string;
  readonly offset: number;
  readonly length: number;
  readonly reason: string;
  readonly message: string;
}

/** A well-formed CIDR whose address has bits set beyond the prefix; `network` is what was probably meant. */
export interface CidrHostBitsSet {
  readonly code: 'cidr-host-bits-set';
  readonly input: string;
  readonly network: Cidr;
  readonly message: string;
}

export type CidrIssue = CidrUnparseable | CidrHostBitsSet;

export class AddressParseError extends Error {
  override readonly name = 'AddressParseError';
  constructor(readonly issue: AddressIssue) {
    super(issue.message);
  }
}

export class CidrParseError extends Error {
  override readonly name = 'CidrParseError';
  constructor(readonly issue: CidrIssue) {
    super(issue.message);
  }
}
