import { claimBlock, releaseBlockIfEmpty, type IPAMBlock } from '../allocator/index.js';
import { cidrToResourceName, parseCidr, releaseWhere } from '../ipam/index.js';
import { isConflict, isNotFound } from '../kube/index.js';
import type { ClusterState, MalformedObject } from './cluster-state.js';
import { type ReconcileResult, done, requeueAfter } from './controller.js';
import type { EventRecorder } from './events.js';
import type { Logger } from './log.js';
import type { OperatorMetrics } from './metrics.js';
import { leakedAllocations } from './plan/leaks.js';
import { planNode } from './plan/node.js';

export interface NodeReconcilerOptions {
  readonly state: ClusterState;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly metrics: OperatorMetrics;
  /** Reports the objects skipped because they do not parse (see `malformedReporter`). */
  readonly reportMalformed: (found: readonly MalformedObject[]) => Promise<void>;
  /** An address younger than this is never garbage-collected. */
  readonly leakGraceMs: number;
  /** A pending affinity older than this with no block is a crashed claim, and is removed. */
  readonly staleClaimMs: number;
  readonly now?: () => Date;
}

/**
 * Converges one node's blocks: frees addresses whose pods are gone, claims a block from each pool that
 * selects the node and lacks free addresses there, releases empty blocks the node should no longer
 * hold, and removes claims that crashed half-way. The node may be gone: then its blocks empty out as
 * their pods go, and are released.
 */
export function nodeReconciler(
  options: NodeReconcilerOptions,
): (nodeName: string) => Promise<ReconcileResult> {
  const { state, events, log, metrics } = options;
  const clock = options.now ?? (() => new Date());
  const unselected = new Set<string>();

  return async (nodeName) => {
    const now = clock();
    const node = state.nodes.get(nodeName);
    // Blocks, affinities and the config that do not parse are left out of everything below.
    await options.reportMalformed(state.malformed());
    const config = state.config();
    let waitingOnPods = false;

    for (const block of state.blocksOfNode(nodeName)) {
      const leaks = leakedAllocations(block, {
        pod: (ns, name) => state.pod(ns, name),
        now: now.getTime(),
        graceMs: options.leakGraceMs,
      });
      const young = block.spec.allocations.some(
        (a) => now.getTime() - Date.parse(a.assignedAt) < options.leakGraceMs,
      );
      if (young && !node) waitingOnPods = true;
      if (leaks.length === 0) continue;
      const leaked = new Set(leaks.map((leak) => leak.allocation.handle));
      const { spec } = releaseWhere(block.spec, (allocation) => leaked.has(allocation.handle), now);
      const written = await state.resources.blocks.replace({ ...block, spec });
      state.expect(block.metadata.name, written);
      for (const leak of leaks) {
        metrics.addressesCollected.inc({ reason: leak.reason });
        log.info('freed a leaked address', {
          node: nodeName,
          block: block.spec.cidr,
          ordinal: leak.allocation.ordinal,
          handle: leak.allocation.handle,
          pod: `${leak.allocation.namespace ?? ''}/${leak.allocation.pod ?? ''}`,
          reason: leak.reason,
        });
      }
    }

    const views = state.poolViews();
    const standings = state.poolStandings(views);
    const blocks = state.blocksOfNode(nodeName);
    const plan = planNode({
      labels: node ? (node.metadata.labels ?? {}) : undefined,
      pools: views,
      standings,
      blocks,
      config,
      now,
    });

    for (const pool of plan.claim) {
      const valid = pool.valid;
      if (!valid) continue;
      const poolBlocks = state.blocksOfPool(pool.name);
      const taken = new Set([
        ...poolBlocks.map((block) => block.metadata.name),
        // A malformed block still holds its name: claiming it would only find it taken, again and again.
        ...state.malformed().map((found) => found.object.metadata.name),
        ...state.affinities
          .list()
          .filter((affinity) => affinity.spec.pool === pool.name)
          .map((affinity) => affinity.metadata.name),
      ]);
      const held = blocks
        .filter((block) => block.spec.pool === pool.name)
        .map((block) => parseCidr(block.spec.cidr));
      const block = await claimBlock(state.resources, {
        node: nodeName,
        poolName: pool.name,
        poolCidr: valid.cidr,
        blockSize: valid.spec.blockSize,
        held,
        taken,
      });
      if (!block) {
        if (node)
          await events.record(
            node,
            'Warning',
            'PoolExhausted',
            `IPPool "${pool.name}" has no free block left for this node`,
          );
        continue;
      }
      state.expect(block.metadata.name, block);
      metrics.blocksClaimed.inc({ pool: pool.name });
      log.info('claimed block', { node: nodeName, pool: pool.name, block: block.spec.cidr });
    }

    for (const { block, draining } of plan.drain) {
      const written = await state.resources.blocks.replace({ ...block, spec: { ...block.spec, draining } });
      state.expect(block.metadata.name, written);
      log.info(draining ? 'block draining: its pool no longer serves the node' : 'block serving again', {
        node: nodeName,
        pool: block.spec.pool,
        block: block.spec.cidr,
      });
    }

    for (const block of plan.release) {
      const outcome = await releaseBlockIfEmpty(state.resources, block.metadata.name);
      if (outcome === 'released') {
        state.expect(block.metadata.name, undefined);
        metrics.blocksReleased.inc({ pool: block.spec.pool });
        log.info('released block', { node: nodeName, pool: block.spec.pool, block: block.spec.cidr });
      }
    }

    await removeCrashedClaims(options, nodeName, now);

    if (node && plan.unselected && !unselected.has(nodeName)) {
      await events.record(
        node,
        'Warning',
        'NoPoolSelectsNode',
        'no allocatable IPPool selects this node: pods here cannot get an address',
      );
    }
    if (node && plan.unselected) unselected.add(nodeName);
    else unselected.delete(nodeName);
    metrics.unselectedNodes.set(unselected.size);
    const remaining = state.blocksOfNode(nodeName).length;
    if (!node && remaining === 0) metrics.nodeBlocks.remove({ node: nodeName });
    else metrics.nodeBlocks.set({ node: nodeName }, remaining);

    // After a claim the node may still be short (a burst of pods); look again once the write is visible.
    if (plan.claim.length > 0) return requeueAfter(100);
    if (waitingOnPods || (!node && remaining > 0)) return requeueAfter(options.leakGraceMs);
    return done;
  };
}

/**
 * Affinities of this node with no block: a claim that crashed before creating its block, or one whose
 * block was deleted by hand. Informers of different resources are not ordered with each other, so an
 * affinity must be old and its block confirmed absent by a direct read before it goes.
 */
async function removeCrashedClaims(
  options: NodeReconcilerOptions,
  nodeName: string,
  now: Date,
): Promise<void> {
  const { state } = options;
  const blockNames = new Set(state.allBlocks().map((block: IPAMBlock) => block.metadata.name));
  for (const affinity of state.wellFormedAffinities()) {
    if (affinity.spec.node !== nodeName || blockNames.has(affinity.metadata.name)) continue;
    const age = now.getTime() - Date.parse(affinity.metadata.creationTimestamp ?? '');
    if (!(age >= options.staleClaimMs)) continue;
    if (cidrToResourceName(parseCidr(affinity.spec.cidr)) !== affinity.metadata.name) continue;
    try {
      await state.resources.blocks.get(affinity.metadata.name);
      continue;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    try {
      await state.resources.affinities.delete(affinity.metadata.name, {
        ...(affinity.metadata.resourceVersion !== undefined
          ? { resourceVersion: affinity.metadata.resourceVersion }
          : {}),
      });
      options.log.info('removed an affinity with no block', {
        node: nodeName,
        block: affinity.spec.cidr,
        state: affinity.spec.state,
      });
    } catch (error) {
      if (!isNotFound(error) && !isConflict(error)) throw error;
    }
  }
}
