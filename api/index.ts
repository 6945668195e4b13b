/** The custom resources: their shapes (zod), names and CRDs. Pure data, no I/O. */
export {
  type AffinityState,
  type BlockAffinitySpec,
  affinityStates,
  blockAffinitySpecSchema,
} from './affinity.js';
export {
  type Allocation,
  type CoolingAddress,
  type IPAMBlockSpec,
  allocationSchema,
  blockCidrProblem,
  coolingAddressSchema,
  ipamBlockSpecSchema,
} from './block.js';
export { type IPAMConfigSpec, ipamConfigName, ipamConfigSpecSchema } from './config.js';
export { specProblems } from './problems.js';
export { customResourceDefinition, resourceDefinitions } from './crds.js';
export { apiGroup, apiVersion, apiVersionName, labels, poolFinalizer } from './group.js';
export {
  type AllocatableReason,
  type Condition,
  type IPPoolStatus,
  allocatableReasons,
  conditionSchema,
  ipPoolStatusSchema,
  poolConditionTypes,
} from './pool.js';
