import {
  type AllocatableReason,
  type IPPool,
  type NodePools,
  type ParsedPool,
  overlapFromSplit,
  parsePool,
  poolConditionTypes,
  poolsForNode,
  splitFromAnnotation,
} from '../../api/index.js';
import { cidrOverlaps, findOverlaps, formatOverlap } from '../../ipam/index.js';

/** A pool as the planners see it: parsed once per resourceVersion. */
export interface PoolView extends ParsedPool {
  readonly object: IPPool;
  /** Absent only for an object the API server never stored; such a pool counts as the newest. */
  readonly createdAt: Date | undefined;
}

export interface PoolStanding {
  readonly allocatable: boolean;
  readonly reason: AllocatableReason;
  readonly message: string;
}

export function poolView(object: IPPool): PoolView {
  return {
    ...parsePool(object),
    object,
    createdAt:
      object.metadata.creationTimestamp === undefined
        ? undefined
        : new Date(object.metadata.creationTimestamp),
  };
}

/** The pool's status already records it in service (allocatable, or only disabled or terminating). */
function inService(pool: PoolView): boolean {
  const condition = pool.object.status?.conditions?.find((c) => c.type === poolConditionTypes.allocatable);
  return condition !== undefined && condition.reason !== 'CIDROverlap' && condition.reason !== 'InvalidSpec';
}

/**
 * Whether each pool may hand out blocks, and why not. Of two overlapping pools the one already in
 * service, else the older, keeps its standing and the other is refused (the admission webhook normally
 * stops such a pool at apply time; this catches what got past it). A pool split out of a disabled pool
 * (`overlapFromSplit`) is no conflict.
 */
export function poolStandings(pools: readonly PoolView[]): Map<string, PoolStanding> {
  const standings = new Map<string, PoolStanding>();
  const overlapsOf = new Map<string, string[]>();
  const refs = pools.flatMap((pool) =>
    pool.valid
      ? [
          {
            name: pool.name,
            cidr: pool.valid.cidr,
            createdAt: pool.createdAt,
            incumbent: inService(pool),
            disabled: pool.valid.spec.disabled,
            splitFrom: pool.object.metadata.annotations?.[splitFromAnnotation],
          },
        ]
      : [],
  );
  for (const overlap of findOverlaps(refs)) {
    if (overlapFromSplit(overlap)) continue;
    const messages = overlapsOf.get(overlap.b.name) ?? [];
    messages.push(formatOverlap(overlap));
    overlapsOf.set(overlap.b.name, messages);
  }
  for (const pool of pools) {
    const overlaps = overlapsOf.get(pool.name);
    let standing: PoolStanding;
    if (!pool.valid) {
      standing = { allocatable: false, reason: 'InvalidSpec', message: pool.problems.join('; ') };
    } else if (pool.deleting) {
      standing = {
        allocatable: false,
        reason: 'Terminating',
        message: 'the pool is being deleted; waiting for its addresses to be released',
      };
    } else if (overlaps) {
      standing = { allocatable: false, reason: 'CIDROverlap', message: overlaps.join('; ') };
    } else if (pool.valid.spec.disabled) {
      standing = {
        allocatable: false,
        reason: 'PoolDisabled',
        message: 'disabled: no new blocks are handed out; existing ones stay',
      };
    } else {
      standing = {
        allocatable: true,
        reason: 'OK',
        message: 'blocks are handed out to the nodes the nodeSelector matches',
      };
    }
    standings.set(pool.name, standing);
  }
  return standings;
}

/**
 * The operator's own verdict on a pool (it decides Allocatable), as the pool policy's "not cleared" reason,
 * worded as the node side words the published condition.
 */
export function standingReason(
  standings: ReadonlyMap<string, PoolStanding>,
): (pool: PoolView) => string | undefined {
  return (pool) => {
    const standing = standings.get(pool.name);
    if (standing === undefined) return 'not yet judged by the operator';
    if (standing.allocatable) return undefined;
    return `not allocatable: ${standing.reason}${standing.message === '' ? '' : ` (${standing.message})`}`;
  };
}

/**
 * The pools the operator hands blocks from ahead of time for a node with these labels, and why each other
 * pool does not: no network names a pool here, so Manual pools never do (the node side claims theirs).
 */
export function poolsSelecting(
  labels: Readonly<Record<string, string>>,
  pools: readonly PoolView[],
  standings: ReadonlyMap<string, PoolStanding>,
): NodePools<PoolView> {
  return poolsForNode(pools, { labels, requested: [] }, standingReason(standings));
}

/**
 * Which pools a change from `before` to `after` (either may be absent) can affect: the pool itself and
 * every pool overlapping it, whose standing may flip. Their nodes are the only ones to look at again.
 */
export function poolsAffectedBy(
  before: PoolView | undefined,
  after: PoolView | undefined,
  pools: readonly PoolView[],
): PoolView[] {
  const changed = [before, after].filter((pool): pool is PoolView => pool !== undefined);
  const cidrs = changed.flatMap((pool) => (pool.valid ? [pool.valid.cidr] : []));
  const affected = pools.filter(
    (pool) =>
      changed.some((other) => other.name === pool.name) ||
      (pool.valid !== undefined &&
        cidrs.some((cidr) => pool.valid !== undefined && cidrOverlaps(cidr, pool.valid.cidr))),
  );
  const others = affected.filter((pool) => !changed.some((other) => other.name === pool.name));
  return [...changed, ...others];
}
