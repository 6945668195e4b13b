/**
 * Block claims and releases against the API server, shared by the operator (which hands nodes their
 * blocks ahead of time) and the CNI plugin (which claims one more when a node runs out).
 */
export { candidateBlocks } from './candidates.js';
export {
  type ClaimRequest,
  type ClaimResult,
  type ReleaseOutcome,
  claimBlock,
  isPendingBlock,
  regionSelector,
  releaseBlockIfEmpty,
} from './claim.js';
export { type IpamResources, ipamResources } from './resources.js';
export {
  type BlockLimitVerdict,
  type NodePools,
  type ParsedPool,
  type PassOver,
  type PoolJudgement,
  type PoolRequest,
  type RequestedPool,
  formatPassOver,
  mayClaimAnotherBlock,
  parsePool,
  passOverReason,
  poolsForNode,
  unclearedReason,
  unknownRequestedPools,
} from './pool-policy.js';
