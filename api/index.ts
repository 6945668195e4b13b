/**
 * The resource model: what each custom resource is (its table entry in resources.ts, its spec and status
 * schemas, its object type), the rules over its data (pool validation, which pools serve a node, address
 * assignment in a block), and the CRDs generated from the table. Pure: no I/O.
 */
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
export {
  type AddressReleaseOutcome,
  type AllocationOwner,
  type AssignOptions,
  type AssignOutcome,
  type BlockUsage,
  allocationAddress,
  assignAddress,
  assignOrdinal,
  blockUsage,
  findAllocation,
  releaseHandle,
  releaseInvalidHandles,
  releaseWhere,
  reservedOrdinals,
} from './block-allocation.js';
export { type IPAMConfigSpec, ipamConfigName, ipamConfigSpecSchema } from './config.js';
export { customResourceDefinition } from './crds.js';
export { apiGroup, apiVersion, apiVersionName, labels, poolFinalizer, splitFromAnnotation } from './group.js';
export {
  type AllocatableReason,
  type Condition,
  type IPPoolStatus,
  allocatableReasons,
  conditionSchema,
  ipPoolStatusSchema,
  poolConditionTypes,
} from './pool.js';
export {
  type AllowedUse,
  type AssignmentMode,
  type EncapsulationMode,
  type IPPoolSpec,
  type IPPoolSpecInput,
  type NormalizedIPPoolSpec,
  ALL_NAMESPACES_SELECTOR,
  ALL_NODES_SELECTOR,
  ALLOWED_USES,
  ASSIGNMENT_MODES,
  DEFAULT_ALLOWED_USES,
  ENCAPSULATION_MODES,
  cidrTextFamily,
  defaultBlockSize,
  resolveBlockSize,
  ipPoolSpecSchema,
  normalizePoolSpec,
} from './pool-spec.js';
export {
  type PoolValidationCode,
  type PoolValidationError,
  type ReservedRange,
  type SplitParty,
  type ValidatePoolSpecOptions,
  overlapFromSplit,
  poolValidationCodes,
  RESERVED_RANGES,
  blockSizeConflicts,
  formatPoolValidationError,
  parsePoolSpec,
  poolSpecWarnings,
  validatePoolSpec,
} from './pool-validation.js';
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
export { specProblems } from './problems.js';
export {
  type IPReservationSpec,
  type IPReservationStatus,
  type ReservationSet,
  MAX_RESERVED_CIDRS,
  compileReservations,
  ipReservationSpecSchema,
  isReserved,
  isWhollyReserved,
  noReservations,
  parseReservedEntry,
  reservationConditionTypes,
  reservationProblems,
  reservationStatus,
  reservationsCovering,
  reservedOrdinalsIn,
} from './reservation.js';
export {
  type BlockAffinity,
  type IPAMBlock,
  type IPAMConfig,
  type IPPool,
  type IPReservation,
  type ResourceDefinition,
  customResources,
  isPendingBlock,
  resourceDefinitions,
} from './resources.js';
export {
  type HandleAddress,
  type HandleLeak,
  type Leak,
  type LeakCheck,
  type LeakReason,
  type LeakTiming,
  type PodLookup,
  handleLeaks,
  leakGraceEnd,
  leakReason,
  leakedAllocations,
  podHandles,
  withinLeakGrace,
} from './leaks.js';
export {
  type Annotations,
  firstAnnotation,
  poolAnnotationNames,
  requestedAddressAnnotationNames,
  requestsPool,
  workloadAnnotationNames,
} from './workload-annotations.js';
