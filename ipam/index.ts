/**
 * The pure IPAM core: addresses and CIDRs, overlap detection between pools, and block arithmetic. No I/O,
 * no Kubernetes code and no resource shapes (those are the model's, in api/).
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
  type Overlap,
  type OverlapRelation,
  type PoolRef,
  findOverlaps,
  findOverlapsWith,
  formatOverlap,
} from './overlap.js';
export {
  BLOCK_SIZE_LIMITS,
  MAX_BLOCK_ADDRESSES,
  addressAtOrdinal,
  addressOrdinal,
  blockAt,
  blockContaining,
  blockCount,
  blockIndexOf,
  blockRegion,
  iterateBlocks,
} from './blocks.js';
