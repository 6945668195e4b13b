/**
 * Which pools serve a node, and whether it may claim another block of one: the one policy the operator
 * (blocks ahead of time, draining), the CNI plugin and the node agent (a further block when the node's
 * blocks are full) all apply. Pure: the callers gather the pools, the node's labels and blocks.
 *
 * The one input that differs by caller is whether a pool is cleared to hand out blocks: the operator
 * decides that itself from every pool (overlaps, see `poolStandings`), the node side reads the verdict the
 * operator published in the pool's Allocatable condition (`unclearedReason`).
 */
import { type Cidr, type IpFamily, cidrEquals, safeParseCidr } from '../ipam/index.js';
import { type Selector, parseSelector } from '../selector/index.js';
import { poolConditionTypes } from './pool.js';
import { type NormalizedIPPoolSpec, cidrTextFamily } from './pool-spec.js';
import { formatPoolValidationError, parsePoolSpec } from './pool-validation.js';
import { type IPAMBlock, type IPPool, isPendingBlock } from './resources.js';

/** A pool parsed once (per resourceVersion): all the policy reads of it. */
export interface ParsedPool {
  readonly name: string;
  /** The spec's CIDR as written, for messages (it may not parse). */
  readonly cidrText: string;
  /** The CIDR when it parses, even if the rest of the spec is invalid: a request may name the pool by it. */
  readonly cidr?: Cidr;
  readonly deleting: boolean;
  /** Present when the spec is valid. */
  readonly valid?: {
    readonly spec: NormalizedIPPoolSpec;
    readonly cidr: Cidr;
    /** The nodeSelector, parsed. */
    readonly selector: Selector;
    readonly namespaceSelector: Selector;
  };
  /** Why the spec is not valid (empty when it is). */
  readonly problems: readonly string[];
}

export function parsePool(object: IPPool): ParsedPool {
  const cidrText = object.spec.cidr;
  const parsedCidr = safeParseCidr(cidrText);
  const base = {
    name: object.metadata.name,
    cidrText,
    ...(parsedCidr.ok ? { cidr: parsedCidr.value } : {}),
    deleting: object.metadata.deletionTimestamp !== undefined,
  };
  const parsed = parsePoolSpec(object.spec);
  if (!parsed.ok) return { ...base, problems: parsed.error.map(formatPoolValidationError) };
  const { spec, cidr } = parsed.value;
  return {
    ...base,
    valid: {
      spec,
      cidr,
      selector: parseSelector(spec.nodeSelector),
      namespaceSelector: parseSelector(spec.namespaceSelector),
    },
    problems: [],
  };
}

/**
 * Why the operator has not cleared the pool for new blocks, read from the status it published; undefined
 * when it has. Only a pool marked Allocatable for its current generation gives blocks: a pool with no
 * status yet may overlap another that the webhook did not get to refuse (docs/adr/0005-no-overlapping-blocks.md).
 */
export function unclearedReason(pool: IPPool): string | undefined {
  const condition = pool.status?.conditions?.find((c) => c.type === poolConditionTypes.allocatable);
  if (condition === undefined)
    return 'not yet marked Allocatable by the operator (is the topology-ipam operator running?)';
  if (condition.status !== 'True')
    return `not allocatable: ${condition.reason}${condition.message === '' ? '' : ` (${condition.message})`}`;
  const generation = pool.metadata.generation;
  if (generation !== undefined && condition.observedGeneration !== generation)
    return `changed (generation ${generation}) since the operator last marked it Allocatable (generation ${condition.observedGeneration ?? 'unknown'})`;
  return undefined;
}

/** A pool a network configuration names (`ipam.pools`, `ipv4_pools`, `ipv6_pools`): by name, or by CIDR. */
export type RequestedPool =
  | { readonly kind: 'name'; readonly name: string; readonly family?: IpFamily }
  | { readonly kind: 'cidr'; readonly cidr: Cidr };

/** Why a pool does not serve the node, as data; `formatPassOver` words it. */
export type PassOver =
  | { readonly code: 'invalid-spec'; readonly problems: readonly string[] }
  | { readonly code: 'being-deleted' }
  | { readonly code: 'disabled' }
  | { readonly code: 'not-cleared'; readonly reason: string }
  | { readonly code: 'not-for-workloads' }
  | { readonly code: 'manual-not-requested' }
  | { readonly code: 'node-not-selected'; readonly selector: string }
  | { readonly code: 'namespace-not-selected'; readonly selector: string };

export function formatPassOver(passOver: PassOver): string {
  switch (passOver.code) {
    case 'invalid-spec':
      return `invalid spec: ${passOver.problems.join('; ')}`;
    case 'being-deleted':
      return 'being deleted';
    case 'disabled':
      return 'disabled';
    case 'not-cleared':
      return passOver.reason;
    case 'not-for-workloads':
      return 'allowedUses excludes Workload';
    case 'manual-not-requested':
      return 'assignmentMode Manual and not named in ipam.pools (a Manual pool serves only the networks that name it)';
    case 'node-not-selected':
      return `nodeSelector ${passOver.selector} does not match the node's labels`;
    case 'namespace-not-selected':
      return `namespaceSelector ${passOver.selector} does not match the labels of the pod's namespace`;
  }
}

export interface PoolJudgement {
  readonly labels: Readonly<Record<string, string>>;
  /** The request names this pool: a Manual pool serves it. */
  readonly named: boolean;
  /** A workload's annotation names this pool: it serves whatever its nodeSelector (Calico's rule). */
  readonly selectorWaived?: boolean;
  /**
   * The labels of the namespace of the pod the address is for, matched by the pool's namespaceSelector
   * (never waived: it says whose pods may use the pool). Undefined: no pod (the operator's blocks ahead of
   * time, a runtime that names no pod), and the namespaceSelector is not consulted.
   */
  readonly namespaceLabels?: Readonly<Record<string, string>> | undefined;
  /** Why the operator has not cleared the pool for new blocks; undefined when it has. */
  readonly uncleared: string | undefined;
}

/** Why the pool does not serve a node with these labels for new addresses, or undefined when it does. */
export function passOverReason(pool: ParsedPool, judgement: PoolJudgement): PassOver | undefined {
  const { valid } = pool;
  if (!valid) return { code: 'invalid-spec', problems: pool.problems };
  if (pool.deleting) return { code: 'being-deleted' };
  if (valid.spec.disabled) return { code: 'disabled' };
  if (judgement.uncleared !== undefined) return { code: 'not-cleared', reason: judgement.uncleared };
  if (!valid.spec.allowedUses.includes('Workload')) return { code: 'not-for-workloads' };
  if (!judgement.named && valid.spec.assignmentMode !== 'Automatic') return { code: 'manual-not-requested' };
  if (judgement.selectorWaived !== true && !valid.selector.matches(judgement.labels))
    return { code: 'node-not-selected', selector: valid.spec.nodeSelector };
  if (judgement.namespaceLabels !== undefined && !valid.namespaceSelector.matches(judgement.namespaceLabels))
    return { code: 'namespace-not-selected', selector: valid.spec.namespaceSelector };
  return undefined;
}

export interface PoolRequest {
  readonly labels: Readonly<Record<string, string>>;
  /** The family of the address wanted; undefined for both (the operator's blocks ahead of time). */
  readonly family?: IpFamily | undefined;
  /** The pools the network configuration names; empty: every Automatic pool. */
  readonly requested: readonly RequestedPool[];
  /**
   * The requested pools come from the pod's or its namespace's annotation: as in Calico, a pool a
   * workload asks for serves it even where its nodeSelector does not select the node.
   */
  readonly selectorWaived?: boolean;
  /** The labels of the pod's namespace, for the pools' namespaceSelector (see `PoolJudgement`). */
  readonly namespaceLabels?: Readonly<Record<string, string>> | undefined;
}

export interface NodePools<P extends ParsedPool> {
  /** The pools that may give the node a new block, in the order to try them. */
  readonly serving: readonly P[];
  /** Every other pool of the family the request could use, with why not. */
  readonly passedOver: readonly { readonly pool: P; readonly why: PassOver }[];
}

/** The family of a pool; for a CIDR that does not parse, the family it is written in. */
const familyOf = (pool: ParsedPool): IpFamily => pool.cidr?.family ?? cidrTextFamily(pool.cidrText);

/** Whether `requested` names `pool` (by name, or by its exact CIDR). */
function names(requested: RequestedPool, pool: ParsedPool): boolean {
  return requested.kind === 'name'
    ? requested.name === pool.name
    : pool.cidr !== undefined && cidrEquals(pool.cidr, requested.cidr);
}

/**
 * The pools that serve a node for a request, and why each other pool does not. With pools named, only
 * those are considered (a name with a family only for that family), in the order named; otherwise every
 * pool of the family, by name, so every caller tries them in the same order whatever order it read them in.
 */
export function poolsForNode<P extends ParsedPool>(
  pools: readonly P[],
  request: PoolRequest,
  uncleared: (pool: P) => string | undefined,
): NodePools<P> {
  const { requested, family } = request;
  const serving: { order: number; pool: P }[] = [];
  const passedOver: { pool: P; why: PassOver }[] = [];
  for (const pool of pools) {
    const poolFamily = familyOf(pool);
    if (family !== undefined && poolFamily !== family) continue;
    const order = requested.findIndex(
      (ref) => names(ref, pool) && (ref.kind === 'cidr' || (ref.family ?? poolFamily) === poolFamily),
    );
    if (requested.length > 0 && order < 0) continue;
    const why = passOverReason(pool, {
      labels: request.labels,
      named: order >= 0,
      selectorWaived: order >= 0 && request.selectorWaived === true,
      namespaceLabels: request.namespaceLabels,
      uncleared: uncleared(pool),
    });
    if (why) passedOver.push({ pool, why });
    else serving.push({ order, pool });
  }
  const byName = (a: P, b: P) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return {
    serving: serving.sort((a, b) => a.order - b.order || byName(a.pool, b.pool)).map(({ pool }) => pool),
    passedOver: passedOver.sort((a, b) => byName(a.pool, b.pool)),
  };
}

/** The requested pools that name no pool at all (a configuration error, not a pool passed over). */
export function unknownRequestedPools(
  pools: readonly ParsedPool[],
  requested: readonly RequestedPool[],
): { readonly index: number; readonly ref: RequestedPool }[] {
  return requested.flatMap((ref, index) => (pools.some((pool) => names(ref, pool)) ? [] : [{ index, ref }]));
}

export type BlockLimitVerdict =
  | { readonly allowed: true; readonly held: number }
  | { readonly allowed: false; readonly held: number; readonly why: string };

/**
 * Whether a node may claim another block for a request of one IP family, as Calico counts: `maxBlocksPerHost`
 * (0: no limit) bounds the blocks a node holds of that family in the pools that may serve the request,
 * all of them together, not each pool on its own. Blocks of pools that no longer serve the node (they
 * drain) do not count, as Calico counts only the blocks of the request's pools. Only confirmed blocks
 * count: a pending one is a claim in progress or one that crashed, and the operator removes it once stale
 * (counting it could refuse a node its first block).
 */
export function mayClaimAnotherBlock(input: {
  readonly family: IpFamily;
  /** The names of the pools that may serve the request: pools of `family`. */
  readonly pools: readonly string[];
  /** The node's blocks, of any pool. */
  readonly nodeBlocks: readonly IPAMBlock[];
  /** Blocks of those pools the caller is about to claim, not written yet (a plan claiming from several). */
  readonly claiming?: number;
  readonly maxBlocksPerHost: number;
}): BlockLimitVerdict {
  const { family, maxBlocksPerHost } = input;
  const pools = new Set(input.pools);
  const held =
    input.nodeBlocks.filter((block) => pools.has(block.spec.pool) && !isPendingBlock(block)).length +
    (input.claiming ?? 0);
  if (maxBlocksPerHost === 0 || held < maxBlocksPerHost) return { allowed: true, held };
  return {
    allowed: false,
    held,
    why:
      `the node holds ${held} IPv${family} block(s) of the pools that may serve it ` +
      `(${[...pools].join(', ')}), the maxBlocksPerHost (${maxBlocksPerHost})`,
  };
}
