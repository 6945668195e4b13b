/**
 * The pure IPAM core: addresses and CIDRs, the IPPool spec and its validation, overlap detection between
 * pools, and block arithmetic. No I/O and no Kubernetes code.
 */
export {
  type Address,
  type IpFamily,
  addressEquals,
  addressToString,
  compareAddresses,
  familyBits,
  makeAddress,
  parseAddress,
  safeParseAddress,
} from './address.js';
export {
  type Cidr,
  type CidrRelation,
  cidrContains,
  cidrContainsAddress,
  cidrEnd,
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
export {
  type AddressIssue,
  type AddressUnparseable,
  type CidrHostBitsSet,
  type CidrIssue,
  type CidrUnparseable,
  type Result,
  AddressParseError,
  CidrParseError,
} from './errors.js';
export {
  type AllowedUse,
  type AssignmentMode,
  type EncapsulationMode,
  type IPPoolSpec,
  type IPPoolSpecInput,
  type NormalizedIPPoolSpec,
  ALL_NODES_SELECTOR,
  ALLOWED_USES,
  ASSIGNMENT_MODES,
  BLOCK_SIZE_LIMITS,
  DEFAULT_ALLOWED_USES,
  ENCAPSULATION_MODES,
  IPPoolSpecSchema,
  MAX_BLOCK_ADDRESSES,
  cidrTextFamily,
  defaultBlockSize,
  normalizePoolSpec,
} from './pool-spec.js';
export {
  type PoolValidationCode,
  type PoolValidationError,
  type ReservedRange,
  type ValidatePoolSpecOptions,
  poolValidationCodes,
  RESERVED_RANGES,
  formatPoolValidationError,
  parsePoolSpec,
  validatePoolSpec,
} from './pool-validation.js';
export {
  type Overlap,
  type OverlapRelation,
  type PoolRef,
  findOverlaps,
  findOverlapsWith,
  formatOverlap,
} from './overlap.js';
export {
  addressAtOrdinal,
  addressOrdinal,
  blockAt,
  blockContaining,
  blockCount,
  blockIndexOf,
  blockRegion,
  iterateBlocks,
} from './blocks.js';
export * from './block-allocation.js';
