/**
 * Validation of an IPPool spec: every rule a user can break, reported at once as data naming the field.
 * The admission webhook renders these; the controller records them in status.
 */
import { z } from 'zod';
import type { CodedError, TextSpan } from '../common/index.js';
import {
  parseSelector,
  type Selector,
  type SelectorExpectation,
  SelectorParseError,
  selectorUsesGlobal,
} from '../selector/index.js';
import {
  type Cidr,
  type Overlap,
  type PoolRef,
  type Result,
  BLOCK_SIZE_LIMITS,
  cidrEquals,
  cidrRelation,
  cidrToString,
  parseCidr,
  safeParseCidr,
} from '../ipam/index.js';
import {
  ALL_NODES_SELECTOR,
  ALLOWED_USES,
  type EncapsulationMode,
  ipPoolSpecSchema,
  type NormalizedIPPoolSpec,
  normalizePoolSpec,
  resolveAllowedUses,
  resolveBlockSize,
  resolveNamespaceSelector,
  resolveNodeSelector,
} from './pool-spec.js';

export const poolValidationCodes = [
  /** The spec does not have the right shape: a field of the wrong type or an unknown enum value. */
  'schema-invalid',
  'cidr-unparseable',
  'cidr-host-bits-set',
  'block-size-out-of-range',
  /** The pool's prefix is longer than the block size, so it holds no whole block. Allowed when disabled. */
  'pool-smaller-than-block',
  /** The pool overlaps a range whose addresses can never be a pod's (loopback, multicast, ...). */
  'cidr-overlaps-reserved',
  'node-selector-invalid',
  'node-selector-uses-global',
  'namespace-selector-invalid',
  'namespace-selector-uses-global',
  /** Both ipipMode and vxlanMode are enabled. */
  'encapsulation-conflict',
  'ipip-on-ipv6',
  'allowed-use-unknown',
  'allowed-use-duplicate',
  /** LoadBalancer is combined with another use. */
  'load-balancer-not-alone',
  /** A LoadBalancer pool has IP-in-IP or VXLAN enabled. */
  'load-balancer-encapsulation',
  /** A LoadBalancer pool has a nodeSelector other than all(). */
  'load-balancer-node-selector',
  /** A LoadBalancer pool keeps its routes from BGP peers (Calico: its addresses must be advertised). */
  'load-balancer-disable-bgp-export',
  'cidr-immutable',
  'block-size-immutable',
  /** An update takes LoadBalancer out of a pool's uses (its addresses belong to Services). */
  'load-balancer-use-immutable',
  /** A new pool's block size differs from that of a block that already exists in its range. */
  'block-size-conflict',
] as const;

export type PoolValidationCode = (typeof poolValidationCodes)[number];

/** Extra data carried by some codes, so that callers need not parse messages. */
interface PoolValidationDetails {
  'schema-invalid': object;
  /** Location of the problem within the CIDR text. */
  'cidr-unparseable': TextSpan;
  'cidr-host-bits-set': { readonly suggestedCidr: string };
  'block-size-out-of-range': { readonly min: number; readonly max: number };
  'pool-smaller-than-block': { readonly blockSize: number };
  'cidr-overlaps-reserved': { readonly reserved: string };
  /**
   * From the selector parser: where in the selector it stopped (`position`, and the same point as a span)
   * and what it expected there.
   */
  'node-selector-invalid': TextSpan & { readonly position: number; readonly expected: SelectorExpectation };
  'node-selector-uses-global': object;
  /** As `node-selector-invalid`, for `namespaceSelector`. */
  'namespace-selector-invalid': TextSpan & {
    readonly position: number;
    readonly expected: SelectorExpectation;
  };
  'namespace-selector-uses-global': object;
  'encapsulation-conflict': object;
  'ipip-on-ipv6': object;
  'allowed-use-unknown': { readonly value: string };
  'allowed-use-duplicate': { readonly value: string };
  'load-balancer-not-alone': object;
  'load-balancer-encapsulation': object;
  'load-balancer-node-selector': object;
  'load-balancer-disable-bgp-export': object;
  'cidr-immutable': { readonly oldCidr: string };
  'block-size-immutable': { readonly oldBlockSize: number };
  'load-balancer-use-immutable': object;
  'block-size-conflict': { readonly block: string };
}

/**
 * One broken rule. `field` is the JSON path from the object root (`spec.cidr`, `spec.allowedUses[2]`);
 * `message` says what is wrong and, where there is one, the fix, without repeating the field.
 */
export type PoolValidationError = {
  [C in PoolValidationCode]: CodedError<C> & { readonly field: string } & Readonly<PoolValidationDetails[C]>;
}[PoolValidationCode];

/** `spec.cidr: "10.0.0.1/24" has host bits set; did you mean 10.0.0.0/24?` */
export function formatPoolValidationError(error: PoolValidationError): string {
  return `${error.field}: ${error.message}`;
}

export interface ValidatePoolSpecOptions {
  /** The stored spec, when validating an update: enables the immutability rules. */
  readonly oldSpec?: unknown;
}

export interface ReservedRange {
  readonly cidr: string;
  /** What the range is for, as a message names it: `the loopback range 127.0.0.0/8`. */
  readonly name: string;
  /** Where the range is defined. */
  readonly source: string;
}

/**
 * Ranges that can never hold a pod's address, whatever the network: a pool overlapping one (in either
 * direction) is refused, here and by the CRD's CEL rules generated from this table. Taken from the IANA
 * IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890) and the multicast registries: only the
 * ranges a host's own IP stack treats specially (not forwardable, or not unicast). Private, shared
 * (100.64.0.0/10), benchmarking and documentation ranges (192.0.2.0/24, 2001:db8::/32) stay allowed:
 * clusters, tests and labs use them.
 */
export const RESERVED_RANGES: readonly ReservedRange[] = [
  { cidr: '0.0.0.0/8', name: '"this network"', source: 'RFC 1122 3.2.1.3' },
  { cidr: '127.0.0.0/8', name: 'loopback', source: 'RFC 1122 3.2.1.3' },
  { cidr: '169.254.0.0/16', name: 'link-local', source: 'RFC 3927' },
  { cidr: '224.0.0.0/4', name: 'multicast', source: 'RFC 5771' },
  { cidr: '240.0.0.0/4', name: 'reserved (with broadcast 255.255.255.255)', source: 'RFC 1112 4, RFC 919 7' },
  { cidr: '::/128', name: 'unspecified', source: 'RFC 4291 2.5.2' },
  { cidr: '::1/128', name: 'loopback', source: 'RFC 4291 2.5.3' },
  { cidr: '::ffff:0:0/96', name: 'IPv4-mapped', source: 'RFC 4291 2.5.5.2' },
  { cidr: 'fe80::/10', name: 'link-local', source: 'RFC 4291 2.5.6' },
  { cidr: 'ff00::/8', name: 'multicast', source: 'RFC 4291 2.7' },
];

const reservedCidrs = RESERVED_RANGES.map((range) => ({ ...range, parsed: parseCidr(range.cidr) }));

/**
 * The schema with `blockSize` (any number) and `allowedUses` (any strings) loosened, so that an out-of-range
 * block size or an unknown use reaches the rules below, whose messages say more than the schema's would.
 */
const lenientSpecSchema = ipPoolSpecSchema.extend({
  blockSize: z.number().optional(),
  allowedUses: z.array(z.string()).default(() => []),
});
type LenientSpec = z.output<typeof lenientSpecSchema>;

function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : `${acc}.${String(key)}`),
    'spec',
  );
}

function schemaErrors(error: z.ZodError): PoolValidationError[] {
  return error.issues.map((issue) => ({
    code: 'schema-invalid',
    field: fieldPath(issue.path),
    message: issue.message,
  }));
}

/**
 * Checks an IPPool spec (of unknown shape, e.g. straight from an admission request) against every rule,
 * returning all broken rules, or an empty list. If the spec does not even have the right shape, only the
 * shape errors are returned. With `oldSpec`, also checks that an update leaves `cidr` and `blockSize` alone
 * (comparing normalized values, so `blockSize` unset and 26 are the same on IPv4).
 */
export function validatePoolSpec(
  spec: unknown,
  options: ValidatePoolSpecOptions = {},
): PoolValidationError[] {
  const parsed = lenientSpecSchema.safeParse(spec);
  if (!parsed.success) return schemaErrors(parsed.error);
  const errors: PoolValidationError[] = [];
  const pool = parsed.data;
  const cidr = checkCidr(pool, errors);
  if (cidr !== undefined) checkReserved(cidr, errors);
  const blockSize = cidr === undefined ? undefined : checkBlockSize(pool, cidr, errors);
  checkEncapsulation(pool, cidr, errors);
  const selector = checkSelector(selectorFields.node, resolveNodeSelector(pool.nodeSelector), errors);
  checkSelector(selectorFields.namespace, resolveNamespaceSelector(pool.namespaceSelector), errors);
  checkAllowedUses(pool, selector, errors);
  if (options.oldSpec !== undefined) checkImmutable(pool, options.oldSpec, cidr, blockSize, errors);
  return errors;
}

/** Validates and normalizes in one step: the normalized spec and its parsed CIDR, or every broken rule. */
export function parsePoolSpec(
  spec: unknown,
  options: ValidatePoolSpecOptions = {},
): Result<{ readonly spec: NormalizedIPPoolSpec; readonly cidr: Cidr }, PoolValidationError[]> {
  const errors = validatePoolSpec(spec, options);
  if (errors.length > 0) return { ok: false, error: errors };
  // The rules above are stricter than the schema, so this parse succeeds; keep the check anyway.
  const strict = ipPoolSpecSchema.safeParse(spec);
  if (!strict.success) return { ok: false, error: schemaErrors(strict.error) };
  const normalized = normalizePoolSpec(strict.data);
  return { ok: true, value: { spec: normalized, cidr: parseCidr(normalized.cidr) } };
}

/** The pool's CIDR, or the network it was probably meant to be if host bits are set, so later rules run. */
function checkCidr(pool: LenientSpec, errors: PoolValidationError[]): Cidr | undefined {
  const result = safeParseCidr(pool.cidr);
  if (result.ok) return result.value;
  const issue = result.error;
  switch (issue.code) {
    case 'cidr-unparseable':
      errors.push({
        code: 'cidr-unparseable',
        field: 'spec.cidr',
        message: issue.message,
        offset: issue.offset,
        length: issue.length,
      });
      return undefined;
    case 'cidr-host-bits-set':
      errors.push({
        code: 'cidr-host-bits-set',
        field: 'spec.cidr',
        message: issue.message,
        suggestedCidr: cidrToString(issue.network),
      });
      return issue.network;
  }
}

function checkReserved(cidr: Cidr, errors: PoolValidationError[]): void {
  for (const { parsed, name } of reservedCidrs) {
    const relation = cidrRelation(cidr, parsed);
    if (relation === 'disjoint') continue;
    const how = relation === 'b-contains-a' ? 'lies within' : relation === 'equal' ? 'is' : 'contains';
    const reserved = cidrToString(parsed);
    errors.push({
      code: 'cidr-overlaps-reserved',
      field: 'spec.cidr',
      message: `${cidrToString(cidr)} ${how} the ${name} range ${reserved}, which cannot be used for a pool`,
      reserved,
    });
  }
}

/** The resolved block size if it is valid for the family; also checks that the pool holds a block. */
function checkBlockSize(pool: LenientSpec, cidr: Cidr, errors: PoolValidationError[]): number | undefined {
  const { min, max } = BLOCK_SIZE_LIMITS[cidr.family];
  const blockSize = resolveBlockSize(pool.blockSize, cidr.family);
  if (!Number.isInteger(blockSize) || blockSize < min || blockSize > max) {
    errors.push({
      code: 'block-size-out-of-range',
      field: 'spec.blockSize',
      message: `${blockSize} is not a valid block size for an IPv${cidr.family} pool; use an integer from ${min} to ${max}`,
      min,
      max,
    });
    return undefined;
  }
  if (cidr.prefixLength > blockSize && !pool.disabled) {
    errors.push({
      code: 'pool-smaller-than-block',
      field: 'spec.cidr',
      message:
        `${cidrToString(cidr)} is smaller than one /${blockSize} block; use a prefix length of at most ` +
        `${blockSize}, a larger blockSize, or disable the pool`,
      blockSize,
    });
  }
  return blockSize;
}

function isEnabled(mode: EncapsulationMode): boolean {
  return mode !== 'Never';
}

function checkEncapsulation(pool: LenientSpec, cidr: Cidr | undefined, errors: PoolValidationError[]): void {
  if (isEnabled(pool.ipipMode) && isEnabled(pool.vxlanMode)) {
    errors.push({
      code: 'encapsulation-conflict',
      field: 'spec.vxlanMode',
      message: `IP-in-IP (ipipMode ${pool.ipipMode}) and VXLAN (vxlanMode ${pool.vxlanMode}) cannot both be enabled; set one of them to Never`,
    });
  }
  if (cidr?.family === 6 && isEnabled(pool.ipipMode)) {
    errors.push({
      code: 'ipip-on-ipv6',
      field: 'spec.ipipMode',
      message: `IP-in-IP is not supported on an IPv6 pool; set ipipMode to Never (use vxlanMode instead)`,
    });
  }
}

/** The two selector fields, their error codes and what they select. */
const selectorFields = {
  node: {
    field: 'spec.nodeSelector',
    invalid: 'node-selector-invalid',
    usesGlobal: 'node-selector-uses-global',
    selects: 'node',
  },
  namespace: {
    field: 'spec.namespaceSelector',
    invalid: 'namespace-selector-invalid',
    usesGlobal: 'namespace-selector-uses-global',
    selects: 'namespace',
  },
} as const;

/** The parsed selector, or `undefined` if it does not parse. */
function checkSelector(
  which: (typeof selectorFields)[keyof typeof selectorFields],
  text: string,
  errors: PoolValidationError[],
): Selector | undefined {
  let selector: Selector;
  try {
    selector = parseSelector(text);
  } catch (error) {
    if (!(error instanceof SelectorParseError)) throw error;
    errors.push({
      code: which.invalid,
      field: which.field,
      message: `cannot parse selector ${JSON.stringify(text)}: expected ${error.expected} at position ${error.offset}`,
      position: error.offset,
      offset: error.offset,
      length: error.length,
      expected: error.expected,
    });
    return undefined;
  }
  if (selectorUsesGlobal(selector)) {
    errors.push({
      code: which.usesGlobal,
      field: which.field,
      message: `global() is not allowed in an IPPool ${which.field.slice('spec.'.length)}; use all() to select every ${which.selects}`,
    });
  }
  return selector;
}

const KNOWN_USES: ReadonlySet<string> = new Set(ALLOWED_USES);

function checkAllowedUses(
  pool: LenientSpec,
  selector: Selector | undefined,
  errors: PoolValidationError[],
): void {
  const uses = resolveAllowedUses(pool.allowedUses);
  // Known uses only, so that an unknown one is not also reported as combined with LoadBalancer.
  const seen = new Set<string>();
  uses.forEach((use, i) => {
    const field = `spec.allowedUses[${i}]`;
    if (!KNOWN_USES.has(use)) {
      errors.push({
        code: 'allowed-use-unknown',
        field,
        message: `unknown use ${JSON.stringify(use)}; allowed uses are ${ALLOWED_USES.join(', ')}`,
        value: use,
      });
    } else if (seen.has(use)) {
      errors.push({
        code: 'allowed-use-duplicate',
        field,
        message: `${use} is listed more than once`,
        value: use,
      });
    } else {
      seen.add(use);
    }
  });
  if (!seen.has('LoadBalancer')) return;
  if (seen.size > 1) {
    errors.push({
      code: 'load-balancer-not-alone',
      field: 'spec.allowedUses',
      message: `LoadBalancer cannot be combined with other uses (${[...seen].filter((u) => u !== 'LoadBalancer').join(', ')}); use a separate pool`,
    });
  }
  for (const [field, mode] of [
    ['spec.ipipMode', pool.ipipMode],
    ['spec.vxlanMode', pool.vxlanMode],
  ] as const) {
    if (isEnabled(mode)) {
      errors.push({
        code: 'load-balancer-encapsulation',
        field,
        message: `a LoadBalancer pool cannot use encapsulation; set ${field.slice('spec.'.length)} to Never`,
      });
    }
  }
  if (pool.disableBGPExport) {
    errors.push({
      code: 'load-balancer-disable-bgp-export',
      field: 'spec.disableBGPExport',
      message: 'a LoadBalancer pool cannot disable BGP export; set disableBGPExport to false',
    });
  }
  if (selector !== undefined && selector.toString() !== parseSelector(ALL_NODES_SELECTOR).toString()) {
    errors.push({
      code: 'load-balancer-node-selector',
      field: 'spec.nodeSelector',
      message: `a LoadBalancer pool must select all nodes; set nodeSelector to all()`,
    });
  }
}

function checkImmutable(
  pool: LenientSpec,
  oldSpec: unknown,
  cidr: Cidr | undefined,
  blockSize: number | undefined,
  errors: PoolValidationError[],
): void {
  // The stored spec was validated when written; if it no longer parses there is nothing sound to compare.
  const old = lenientSpecSchema.safeParse(oldSpec);
  if (!old.success) return;
  const oldUses = resolveAllowedUses(old.data.allowedUses);
  if (oldUses.includes('LoadBalancer') && !resolveAllowedUses(pool.allowedUses).includes('LoadBalancer')) {
    errors.push({
      code: 'load-balancer-use-immutable',
      field: 'spec.allowedUses',
      message: "LoadBalancer cannot be taken out of a pool's uses; create a new pool for other uses",
    });
  }
  const oldCidr = safeParseCidr(old.data.cidr);
  if (!oldCidr.ok || cidr === undefined) return;
  // Another text of the same CIDR (its canonical text, as Calico allows, or any other) is no change.
  if (!cidrEquals(oldCidr.value, cidr)) {
    errors.push({
      code: 'cidr-immutable',
      field: 'spec.cidr',
      message: `cidr cannot be changed (was ${cidrToString(oldCidr.value)}); create a new pool instead`,
      oldCidr: cidrToString(oldCidr.value),
    });
  }
  // Block sizes of different families are not comparable; the CIDR error above covers that change.
  if (oldCidr.value.family !== cidr.family) return;
  const oldBlockSize = resolveBlockSize(old.data.blockSize, oldCidr.value.family);
  if (blockSize !== undefined && blockSize !== oldBlockSize) {
    errors.push({
      code: 'block-size-immutable',
      field: 'spec.blockSize',
      message: `blockSize cannot be changed (was ${oldBlockSize}); create a new pool instead`,
      oldBlockSize,
    });
  }
}

/** What the split rule reads of each pool of an overlapping pair. */
export interface SplitParty extends PoolRef {
  readonly disabled: boolean;
  /** The pool's `splitFromAnnotation`: the pool it was split from, if any. */
  readonly splitFrom: string | undefined;
}

/**
 * Whether an overlap is the one `kubectl ipam split` makes, and so no conflict: a pool strictly inside a
 * disabled pool it names as the one it was split from. The disabled pool hands out no new block, and no
 * two blocks ever overlap whatever the pools say (ADR 5), so no address can be handed out twice; re-enabling
 * the outer pool makes the pair an ordinary overlap again. See docs/adr/0014-splitting-a-pool.md.
 */
export function overlapFromSplit(overlap: Overlap<SplitParty>): boolean {
  const nested = (outer: SplitParty, inner: SplitParty) => outer.disabled && inner.splitFrom === outer.name;
  switch (overlap.relation) {
    case 'equal':
      return false;
    case 'a-contains-b':
      return nested(overlap.a, overlap.b);
    case 'b-contains-a':
      return nested(overlap.b, overlap.a);
  }
}

/**
 * What a pool asks for that this project does not do (Calico's encapsulation and BGP export), as one
 * `spec.field: ...` line each: admitted, with these as admission warnings. Empty for a spec of the wrong
 * shape (its errors say enough).
 */
export function poolSpecWarnings(spec: unknown): string[] {
  const parsed = lenientSpecSchema.safeParse(spec);
  if (!parsed.success) return [];
  const pool = parsed.data;
  const warnings: string[] = [];
  for (const [field, mode, what] of [
    ['ipipMode', pool.ipipMode, 'IP-in-IP'],
    ['vxlanMode', pool.vxlanMode, 'VXLAN'],
  ] as const) {
    if (isEnabled(mode)) {
      warnings.push(
        `spec.${field}: ${mode} has no effect: topology-ipam does not encapsulate (no ${what}); pod traffic ` +
          `between nodes is routed directly, so the nodes must reach each other's pod blocks without it`,
      );
    }
  }
  if (pool.disableBGPExport) {
    warnings.push(
      'spec.disableBGPExport: true has no effect: topology-ipam runs no BGP and advertises no routes',
    );
  }
  return warnings;
}

/**
 * Blocks already in a new pool's range whose size is not the pool's block size (left by an earlier pool
 * over the same range): Calico refuses such a pool, since its blocks would overlap them. One error per
 * block, at most `limit`. Blocks whose CIDR does not parse are skipped.
 */
export function blockSizeConflicts(
  spec: unknown,
  blocks: readonly { readonly cidr: string }[],
  limit = 3,
): PoolValidationError[] {
  const parsed = parsePoolSpec(spec);
  if (!parsed.ok) return [];
  const { cidr, spec: pool } = parsed.value;
  const errors: PoolValidationError[] = [];
  for (const block of blocks) {
    const blockCidr = safeParseCidr(block.cidr);
    if (!blockCidr.ok || blockCidr.value.prefixLength === pool.blockSize) continue;
    if (cidrRelation(blockCidr.value, cidr) === 'disjoint') continue;
    errors.push({
      code: 'block-size-conflict',
      field: 'spec.blockSize',
      message:
        `block ${block.cidr} already exists in ${cidrToString(cidr)} with another size than /${pool.blockSize}; ` +
        `use blockSize ${blockCidr.value.prefixLength}, or wait until its addresses are released`,
      block: block.cidr,
    });
    if (errors.length >= limit) break;
  }
  return errors;
}
