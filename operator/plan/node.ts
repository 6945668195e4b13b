import {
  type IPAMBlock,
  type IPAMConfigSpec,
  type ReservationSet,
  blockUsage,
  formatPassOver,
  mayClaimAnotherBlock,
  passOverReason,
  reservedOrdinals,
} from '../../api/index.js';
import { parseCidr } from '../../ipam/index.js';
import { type PoolStanding, type PoolView, poolsSelecting, standingReason } from './pools.js';

export interface NodePlanInput {
  /** The node's labels, or undefined when the node no longer exists. */
  readonly labels: Readonly<Record<string, string>> | undefined;
  readonly pools: readonly PoolView[];
  readonly standings: ReadonlyMap<string, PoolStanding>;
  /** Every block affine to this node. */
  readonly blocks: readonly IPAMBlock[];
  readonly config: Pick<
    IPAMConfigSpec,
    'maxBlocksPerHost' | 'minFreeAddressesPerNode' | 'releaseCooldownSeconds'
  >;
  readonly now: Date;
  /**
   * Names of the blocks holding an address of a pod that asks for the block's pool explicitly (an
   * annotation naming the pool, or a requested address in it): such a block keeps serving the node
   * whatever the pool's nodeSelector, as the node agent assigns from it for those pods.
   */
  readonly requestedBlocks?: ReadonlySet<string>;
  /** The IPReservations: reserved addresses do not count as free. */
  readonly reservations?: ReservationSet;
}

export interface NodePlan {
  /** Pools to claim one more block from for this node. */
  readonly claim: readonly PoolView[];
  /** Empty blocks the node should let go of. */
  readonly release: readonly IPAMBlock[];
  /** Blocks kept whose `draining` flag must change: no new address from a pool that no longer serves the node. */
  readonly drain: readonly { readonly block: IPAMBlock; readonly draining: boolean }[];
  /** The node exists but no allocatable pool selects it: a pod there could not get an address. */
  readonly unselected: boolean;
  /** Each pool that gives the node no block ahead of time, as `name: why`. */
  readonly passedOver: readonly string[];
}

/** Addresses of a block that the CNI plugin could assign now. */
export function freeAddresses(
  block: IPAMBlock,
  cooldownSeconds: number,
  now: Date,
  reservations?: ReservationSet,
): number {
  const reserved = reservedOrdinals(parseCidr(block.spec.cidr), reservations);
  return blockUsage(block.spec, { now, cooldownSeconds, reserved }).free;
}

/**
 * What a node's blocks should become. Every pool that serves the node (`poolsForNode`, with no pool named)
 * gives it at least one block, and another whenever its free addresses in that pool fall below the target
 * (while `mayClaimAnotherBlock` allows).
 * A block is released only when it is empty and its node is gone, its pool is gone or being deleted,
 * or the pool no longer selects the node; blocks holding addresses stay until their pods go, so running
 * workloads are never renumbered. A disabled or conflicting pool keeps the blocks it has. A kept block
 * whose pool no longer serves the node (the pool policy passes it over even for a network naming it: not
 * selected, disabled, in conflict, being deleted, no longer for workloads) drains: the CNI plugin assigns
 * no new address from it, so new pods get addresses from the pools that do. The one exception follows
 * Calico: a pool a pod asks for explicitly serves it whatever its nodeSelector, so a block holding such a
 * pod's address (`requestedBlocks`) does not drain for its nodeSelector alone, and later pods asking for
 * the pool share it instead of each claiming a block of their own.
 */
export function planNode(input: NodePlanInput): NodePlan {
  const { labels, pools, standings, blocks, config, now, reservations } = input;
  const wanted =
    labels === undefined ? { serving: [], passedOver: [] } : poolsSelecting(labels, pools, standings);
  const claim: PoolView[] = [];
  for (const pool of wanted.serving) {
    const family = pool.valid?.cidr.family;
    if (family === undefined) continue;
    const held = blocks.filter((block) => block.spec.pool === pool.name);
    const free = held.reduce(
      (sum, block) => sum + freeAddresses(block, config.releaseCooldownSeconds, now, reservations),
      0,
    );
    if (held.length > 0 && free >= config.minFreeAddressesPerNode) continue;
    // The limit is per family across pools, so the blocks this plan claims count too.
    const sameFamily = wanted.serving.filter((other) => other.valid?.cidr.family === family);
    const limit = mayClaimAnotherBlock({
      family,
      pools: sameFamily.map((other) => other.name),
      nodeBlocks: blocks,
      claiming: claim.filter((other) => sameFamily.includes(other)).length,
      maxBlocksPerHost: config.maxBlocksPerHost,
    });
    if (limit.allowed) claim.push(pool);
  }
  const poolsByName = new Map(pools.map((pool) => [pool.name, pool]));
  const release = blocks.filter((block) => {
    if (block.spec.allocations.length > 0) return false;
    if (labels === undefined) return true;
    const pool = poolsByName.get(block.spec.pool);
    if (!pool || pool.deleting) return true;
    return pool.valid !== undefined && !pool.valid.selector.matches(labels);
  });
  const releasing = new Set(release);
  const uncleared = standingReason(standings);
  const drain = blocks.flatMap((block) => {
    if (releasing.has(block)) return [];
    const pool = poolsByName.get(block.spec.pool);
    // A block the node holds serves any network that names its pool, so a Manual pool's block serves too.
    const serving =
      labels !== undefined &&
      pool !== undefined &&
      passOverReason(pool, {
        labels,
        named: true,
        selectorWaived: input.requestedBlocks?.has(block.metadata.name) === true,
        uncleared: uncleared(pool),
      }) === undefined;
    return (block.spec.draining === true) === !serving ? [] : [{ block, draining: !serving }];
  });
  return {
    claim,
    release,
    drain,
    unselected: labels !== undefined && wanted.serving.length === 0,
    passedOver: wanted.passedOver.map(({ pool, why }) => `${pool.name}: ${formatPassOver(why)}`),
  };
}
