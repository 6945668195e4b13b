/**
 * Parse errors for addresses and CIDRs, as data. The `safeParse*` functions return these issues; the
 * throwing `parse*` functions wrap them in an `Error` subclass that carries the same issue object (and its
 * `code`), so a caller can branch on the code either way. The shapes are common/'s `CodedError` and
 * `ParseError`.
 */
import type { CodedError, ParseError } from '../common/index.js';
import type { Cidr } from './cidr.js';

/** The outcome of a fallible operation that does not throw. */
export type Result<T, E> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

/** Text that is not an IPv4 or IPv6 address. `offset`/`length` locate the offending part of `input`. */
export interface AddressUnparseable extends ParseError<'address-unparseable'> {
  /** What is wrong, without repeating the input: `octet "256" is greater than 255`. */
  readonly reason: string;
}

export type AddressIssue = AddressUnparseable;

/** Text that is not `<address>/<prefix length>`. `offset`/`length` locate the offending part of `input`. */
export interface CidrUnparseable extends ParseError<'cidr-unparseable'> {
  readonly reason: string;
}

/** A well-formed CIDR whose address has bits set beyond the prefix; `network` is what was probably meant. */
export interface CidrHostBitsSet extends CodedError<'cidr-host-bits-set'> {
  readonly input: string;
  readonly network: Cidr;
}

export type CidrIssue = CidrUnparseable | CidrHostBitsSet;

export class AddressParseError extends Error implements CodedError<AddressIssue['code']> {
  override readonly name = 'AddressParseError';
  constructor(readonly issue: AddressIssue) {
    super(issue.message);
  }

  get code(): AddressIssue['code'] {
    return this.issue.code;
  }
}

export class CidrParseError extends Error implements CodedError<CidrIssue['code']> {
  override readonly name = 'CidrParseError';
  constructor(readonly issue: CidrIssue) {
    super(issue.message);
  }

  get code(): CidrIssue['code'] {
    return this.issue.code;
  }
}
