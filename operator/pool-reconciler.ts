import {
  type Condition,
  type IPAMBlock,
  type IPPool,
  type IPPoolStatus,
  poolConditionTypes,
  poolFinalizer,
} from '../api/index.js';
import { releaseBlockIfEmpty } from '../allocator/index.js';
import { cidrSize } from '../ipam/index.js';
import { isNotFound } from '../kube/index.js';
import type { ClusterState, MalformedObject } from './cluster-state.js';
import { semanticallyEqual } from './equality.js';
import { type ReconcileResult, done, requeueAfter } from './controller.js';
import type { EventRecorder } from '../runtime/index.js';
import type { Logger } from '../common/index.js';
import type { OperatorMetrics } from './metrics.js';
import { type PoolStanding, type PoolView } from './plan/pools.js';

export interface PoolReconcilerOptions {
  readonly state: ClusterState;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly metrics: OperatorMetrics;
  /** Reports the objects skipped because they do not parse (see `malformedReporter`). */
  readonly reportMalformed: (found: readonly MalformedObject[]) => Promise<void>;
  readonly now?: () => Date;
}

/**
 * Converges one pool: its finalizer, its status (the Allocatable condition and counts), and — when it
 * is being deleted — the release of its empty blocks, holding the deletion until no block in it holds
 * an address.
 */
export function poolReconciler(
  options: PoolReconcilerOptions,
): (poolName: string) => Promise<ReconcileResult> {
  const { state, log, metrics } = options;
  const clock = options.now ?? (() => new Date());

  return async (poolName) => {
    const malformed = state.malformed();
    await options.reportMalformed(malformed);
    const views = state.poolViews();
    const view = views.find((candidate) => candidate.name === poolName);
    if (!view) {
      for (const gauge of [metrics.poolCapacity, metrics.poolUsed, metrics.poolBlocks])
        gauge.remove({ pool: poolName });
      return done;
    }
    const pool = view.object;
    const standing = state.poolStandings(views).get(poolName);
    if (!standing) return done;
    const blocks = state.blocksOfPool(poolName);

    if (view.deleting) {
      // A block of the pool that does not parse may hold addresses: the pool waits until it is fixed or deleted.
      const unreadable = malformed.filter(
        (found) => found.kind === 'IPAMBlock' && (found.object as IPAMBlock).spec.pool === poolName,
      );
      let inUse = 0;
      for (const block of blocks) {
        if (block.spec.allocations.length > 0) {
          inUse += block.spec.allocations.length;
          continue;
        }
        if ((await releaseBlockIfEmpty(state.resources, block.metadata.name)) === 'in-use') inUse++;
        else state.expect(block.metadata.name, undefined);
      }
      if (inUse > 0 || unreadable.length > 0) {
        const waiting: PoolStanding = {
          ...standing,
          message:
            `the pool is being deleted; waiting for ${inUse} address(es) in use to be released` +
            (unreadable.length > 0
              ? ` and for malformed blocks ${unreadable.map((found) => found.object.metadata.name).join(', ')} to be fixed or deleted`
              : ''),
        };
        await writeStatus(options, view, waiting, clock());
        return requeueAfter(5_000);
      }
      await setFinalizer(options, pool, false);
      log.info('pool released; deletion may proceed', { pool: poolName });
      return done;
    }

    let current: PoolView | undefined = view;
    if (!pool.metadata.finalizers?.includes(poolFinalizer)) {
      const written = await setFinalizer(options, pool, true);
      current = written && { ...view, object: written };
    }
    if (current) await writeStatus(options, current, standing, clock());
    return done;
  };
}

/** Adds or removes our finalizer; returns the pool as written (undefined if it is gone). */
async function setFinalizer(
  options: PoolReconcilerOptions,
  pool: IPPool,
  present: boolean,
): Promise<IPPool | undefined> {
  const others = (pool.metadata.finalizers ?? []).filter((finalizer) => finalizer !== poolFinalizer);
  const finalizers = present ? [...others, poolFinalizer] : others;
  try {
    return await options.state.resources.pools.replace({
      ...pool,
      metadata: { ...pool.metadata, finalizers },
    });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function statusOf(
  options: PoolReconcilerOptions,
  view: PoolView,
  standing: PoolStanding,
  now: Date,
): IPPoolStatus {
  const { state } = options;
  const previous = view.object.status?.conditions?.find((c) => c.type === poolConditionTypes.allocatable);
  const status = standing.allocatable ? 'True' : 'False';
  const generation = view.object.metadata.generation;
  const condition: Condition = {
    type: poolConditionTypes.allocatable,
    status,
    reason: standing.reason,
    message: standing.message,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    // The transition time moves only when the status flips, as Kubernetes conditions do.
    lastTransitionTime: previous?.status === status ? previous.lastTransitionTime : now.toISOString(),
  };
  const result: IPPoolStatus = {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: [condition],
  };
  if (!view.valid) return result;
  const blocks = state.blocksOfPool(view.name);
  const used = blocks.reduce((sum, block) => sum + block.spec.allocations.length, 0);
  const capacity = cidrSize(view.valid.cidr);
  const selector = view.valid.selector;
  const selectedNodes = state.nodes
    .list()
    .filter((node) => selector.matches(node.metadata.labels ?? {})).length;
  const percent = capacity === 0n ? 0 : Number((BigInt(used) * 10000n) / capacity) / 100;
  return {
    ...result,
    blockSize: view.valid.spec.blockSize,
    selectedNodes,
    allocatedBlocks: blocks.length,
    allocatedAddresses: used,
    capacity: capacity.toString(),
    usage: `${used}/${capacity} (${percent}%)`,
  };
}

/** Writes the status only when it changed in substance; raises an Event when the standing changes. */
async function writeStatus(
  options: PoolReconcilerOptions,
  view: PoolView,
  standing: PoolStanding,
  now: Date,
): Promise<void> {
  const { state, metrics, events } = options;
  const pool = view.object;
  const status = statusOf(options, view, standing, now);
  if (view.valid) {
    metrics.poolCapacity.set({ pool: view.name }, Number(cidrSize(view.valid.cidr)));
    metrics.poolUsed.set({ pool: view.name }, status.allocatedAddresses ?? 0);
    metrics.poolBlocks.set({ pool: view.name }, status.allocatedBlocks ?? 0);
  }
  if (semanticallyEqual(status, pool.status ?? {})) return;
  const before = pool.status?.conditions?.find((c) => c.type === poolConditionTypes.allocatable);
  try {
    await state.resources.pools.replaceStatus({ ...pool, status });
  } catch (error) {
    // A conflict (the pool changed meanwhile) is retried by the queue with the fresh object.
    if (isNotFound(error)) return;
    throw error;
  }
  if (before?.reason !== standing.reason) {
    const type = standing.allocatable || standing.reason === 'Terminating' ? 'Normal' : 'Warning';
    await events.record(pool, type, standing.reason, standing.message);
  }
}
