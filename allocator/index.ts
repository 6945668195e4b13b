/**
 * Block claims and releases against the API server, shared by the operator (which hands nodes their
 * blocks ahead of time) and the node agent (which claims one more when a node runs out), and the typed
 * client of the custom resources. Which pools serve a node is the model's pure pool policy (api/).
 */
export { candidateBlocks } from './candidates.js';
export {
  type ClaimRequest,
  type ClaimResult,
  type ReleaseOutcome,
  claimBlock,
  claimThisBlock,
  regionSelector,
  releaseBlockIfEmpty,
} from './claim.js';
export { type IpamResources, ipamResources } from './resources.js';
