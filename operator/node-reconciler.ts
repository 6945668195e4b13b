import { claimBlock, releaseBlockIfEmpty } from '../allocator/index.js';
import {
  type IPAMBlock,
  isPendingBlock,
  labels as apiLabels,
  releaseWhere,
  requestsPool,
} from '../api/index.js';
import { blockRegion, cidrToResourceName, parseCidr, safeParseCidr } from '../ipam/index.js';
import { type InformerHealth, type Node, type Pod, isConflict, isNotFound } from '../kube/index.js';
import type { ClusterState, MalformedObject } from './cluster-state.js';
import { type ReconcileResult, done, requeueAfter } from './controller.js';
import type { EventRecorder } from '../runtime/index.js';
import type { Logger } from '../common/index.js';
import type { OperatorMetrics } from './metrics.js';
import {
  type HandleAddress,
  type HandleLeak,
  type PodLookup,
  handleLeaks,
  leakGraceEnd,
  podHandles,
} from '../api/index.js';
import { planNode } from './plan/node.js';
import type { PoolView } from './plan/pools.js';

/**
 * The blocks holding an address of a live pod (the same UID) that asks for the block's pool by its own or
 * its namespace's annotation (see `NodePlanInput.requestedBlocks`), each with the first such pod.
 */
function requestedBlocks(
  state: ClusterState,
  pools: readonly PoolView[],
  blocks: readonly IPAMBlock[],
): Map<string, string> {
  const byName = new Map(pools.map((pool) => [pool.name, pool]));
  const found = new Map<string, string>();
  for (const block of blocks) {
    const cidr = byName.get(block.spec.pool)?.cidr;
    if (cidr === undefined) continue;
    const requesting = block.spec.allocations.find(({ namespace, pod: name, podUID }) => {
      if (namespace === undefined || name === undefined) return false;
      const pod = state.pod(namespace, name);
      if (pod === undefined || (podUID !== undefined && pod.metadata.uid !== podUID)) return false;
      const annotations = state.namespaces.get(namespace)?.metadata.annotations;
      return requestsPool({ name: block.spec.pool, cidr }, pod.metadata.annotations, annotations);
    });
    if (requesting !== undefined) {
      found.set(block.metadata.name, `${requesting.namespace ?? ''}/${requesting.pod ?? ''}`);
    }
  }
  return found;
}

export interface NodeReconcilerOptions {
  readonly state: ClusterState;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly metrics: OperatorMetrics;
  /** Reports the objects skipped because they do not parse (see `malformedReporter`). */
  readonly reportMalformed: (found: readonly MalformedObject[]) => Promise<void>;
  /**
   * Overrides the IPAMConfig's leakGracePeriodSeconds: for tests, which share one API server and must not
   * change its cluster-wide IPAMConfig.
   */
  readonly leakGraceMs?: number;
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
  const pause = leakCollectionPause(options);
  /** `node/pool` pairs already announced: one Event while a requested pool serves outside its selector. */
  const announced = new Set<string>();

  /**
   * A Normal Event on the node for each pool that gives addresses there only because pods ask for it
   * explicitly (Calico's precedence: an explicitly requested pool is used whatever its nodeSelector).
   */
  async function announceRequestedOutsideSelector(
    node: Node,
    pools: readonly PoolView[],
    blocks: readonly IPAMBlock[],
    requested: ReadonlyMap<string, string>,
  ): Promise<void> {
    const labels = node.metadata.labels ?? {};
    const byName = new Map(pools.map((pool) => [pool.name, pool]));
    const current = new Map<string, { pool: PoolView; pod: string }>();
    for (const block of blocks) {
      const pod = requested.get(block.metadata.name);
      const pool = byName.get(block.spec.pool);
      if (pod === undefined || pool?.valid === undefined || pool.valid.selector.matches(labels)) continue;
      current.set(`${node.metadata.name}/${pool.name}`, { pool, pod });
    }
    for (const key of announced) {
      if (key.startsWith(`${node.metadata.name}/`) && !current.has(key)) announced.delete(key);
    }
    for (const [key, { pool, pod }] of current) {
      if (announced.has(key)) continue;
      announced.add(key);
      await events.record(
        node,
        'Normal',
        'PoolRequestedOutsideNodeSelector',
        `IPPool "${pool.name}" gives addresses on this node although its nodeSelector ` +
          `(${pool.valid?.spec.nodeSelector ?? ''}) does not select it: pod ${pod} asks for the pool ` +
          'explicitly (an annotation), and an explicitly requested pool is used whatever its nodeSelector',
      );
    }
  }
  const suspicions: Suspicions = new Map();

  return async (nodeName) => {
    const now = clock();
    const node = state.nodes.get(nodeName);
    // Blocks, affinities and the config that do not parse are left out of everything below.
    await options.reportMalformed(state.malformed());
    const config = state.config();
    const graceMs = options.leakGraceMs ?? config.leakGracePeriodSeconds * 1000;
    /** How soon to look again at addresses that could not be judged: the grace, at most a minute. */
    const leakRecheckMs = Math.min(graceMs, 60_000);
    let waitingOnPods = false;
    /** When the first suspected handle leaves its grace period: it can be freed only then. */
    let graceEndsInMs: number | undefined;

    const podsHealth = state.pods.health();
    if (graceMs === 0) {
      // Leak collection is off.
      suspicions.clear();
    } else if (podsHealth.state === 'healthy') {
      const collected = await collectLeaks(options, { nodeName, now, graceMs, suspicions });
      waitingOnPods = collected.retry;
      graceEndsInMs = collected.graceEndsInMs;
    } else if (
      state.blocksOfNode(nodeName).some((b) => b.spec.allocations.some((a) => a.pod !== undefined))
    ) {
      // A stale cache would show live pods as gone: free nothing until it is current, then look again.
      await pause.report(podsHealth, nodeName, node);
      waitingOnPods = true;
    }
    if (podsHealth.state === 'healthy') pause.resume();

    const views = state.poolViews();
    const standings = state.poolStandings(views);
    // A pending block is a claim in progress (or crashed): not the node's until confirmed.
    const blocks = state.blocksOfNode(nodeName).filter((block) => !isPendingBlock(block));
    const requested = requestedBlocks(state, views, blocks);
    const plan = planNode({
      labels: node ? (node.metadata.labels ?? {}) : undefined,
      pools: views,
      standings,
      blocks,
      config,
      now,
      requestedBlocks: new Set(requested.keys()),
      reservations: state.reservedAddresses(),
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
      const { block, overlaps } = await claimBlock(state.resources, {
        node: nodeName,
        poolName: pool.name,
        poolCidr: valid.cidr,
        blockSize: valid.spec.blockSize,
        held,
        taken,
        reservations: state.reservedAddresses(),
      });
      if (overlaps.length > 0) {
        log.warn('blocks not claimed: they overlap blocks of another pool', {
          node: nodeName,
          pool: pool.name,
          overlaps,
        });
      }
      if (!block) {
        if (node)
          await events.record(
            node,
            'Warning',
            'PoolExhausted',
            overlaps.length > 0
              ? `IPPool "${pool.name}" has no free block left for this node: ${overlaps.length} candidate(s) ` +
                  `overlap blocks of other pools (${overlaps.slice(0, 3).join('; ')})`
              : `IPPool "${pool.name}" has no free block left for this node`,
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

    if (node) await announceRequestedOutsideSelector(node, views, blocks, requested);

    await labelRegions(options, nodeName);
    const crashedClaimsRecheckMs = await removeCrashedClaims(options, nodeName, now);

    if (node && plan.unselected && !unselected.has(nodeName)) {
      await events.record(
        node,
        'Warning',
        'NoPoolSelectsNode',
        'no allocatable IPPool selects this node: pods here cannot get an address' +
          (plan.passedOver.length === 0
            ? ' (there is no IPPool)'
            : `; pools passed over: ${plan.passedOver.slice(0, 10).join('; ')}` +
              (plan.passedOver.length > 10 ? `; and ${plan.passedOver.length - 10} more` : '')),
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
    const recheckMs = [
      graceMs > 0 && (waitingOnPods || (!node && remaining > 0)) ? leakRecheckMs : undefined,
      graceEndsInMs === undefined ? undefined : graceEndsInMs + 1,
      crashedClaimsRecheckMs,
    ].filter((ms) => ms !== undefined);
    return recheckMs.length > 0 ? requeueAfter(Math.min(...recheckMs)) : done;
  };
}

/**
 * Blocks written before claims checked for overlaps carry no region label, so a claimer's region list
 * would miss them: label them. Level-triggered, and a no-op once every block has its label.
 */
async function labelRegions(options: NodeReconcilerOptions, nodeName: string): Promise<void> {
  const { state } = options;
  for (const block of state.blocksOfNode(nodeName)) {
    if (block.metadata.labels?.[apiLabels.region] !== undefined) continue;
    const cidr = safeParseCidr(block.spec.cidr);
    if (!cidr.ok) continue;
    const region = cidrToResourceName(blockRegion(cidr.value));
    try {
      const written = await state.resources.blocks.mergePatch(block.metadata.name, {
        metadata: { labels: { [apiLabels.region]: region } },
      });
      state.expect(block.metadata.name, written);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

/** Handles the operator found leaked, by handle: since when, and the node whose reconcile found it. */
type Suspicions = Map<string, { readonly since: number; readonly node: string }>;

/**
 * Frees the addresses whose pods are gone, as Calico does. The cache only proposes: a handle (every
 * address of one pod interface, in this node's blocks or others) is suspected when the cache shows all
 * of its addresses leaked and a direct read of each pod from the API server confirms it; it is freed once
 * it has been suspected for the grace period, after a second direct read confirms it again. Any other
 * answer (the pod exists and may hold the address, or cannot be read) keeps the whole handle, and an
 * unreadable pod is looked at again later (`retry`). Suspicions live in the leader's memory: a new leader
 * starts the grace again. The release is one compare-and-swap write of each block, at the version the
 * leaks were found in.
 */
async function collectLeaks(
  options: NodeReconcilerOptions,
  pass: {
    readonly nodeName: string;
    readonly now: Date;
    readonly graceMs: number;
    readonly suspicions: Suspicions;
  },
): Promise<{ readonly retry: boolean; readonly graceEndsInMs?: number }> {
  const { state, log, metrics } = options;
  const { nodeName, now, graceMs, suspicions } = pass;
  const ofNode = podHandles(state.blocksOfNode(nodeName));
  for (const [handle, suspicion] of suspicions) {
    if (suspicion.node === nodeName && !ofNode.has(handle)) suspicions.delete(handle);
  }
  const cache: PodLookup = (namespace, name) => state.pod(namespace, name);
  // The node's own addresses first, so that every block of the cluster is read only when one is suspect.
  const suspects = [...ofNode].filter(([handle, local]) => {
    const leaked = handleLeaks(local, cache) !== undefined;
    if (!leaked) suspicions.delete(handle);
    return leaked;
  });
  const handles = suspects.length > 0 ? podHandles(state.wellFormedBlocks()) : new Map<string, never>();
  let retry = false;
  let graceEndsAt: number | undefined;
  const due: HandleLeak[][] = [];
  for (const [handle] of suspects) {
    const addresses = handles.get(handle);
    const cached = addresses && handleLeaks(addresses, cache);
    const suspicion = suspicions.get(handle);
    if (!addresses || !cached) {
      suspicions.delete(handle);
      continue;
    }
    const ends =
      suspicion && Math.max(...addresses.map((a) => leakGraceEnd(a.allocation, graceMs, suspicion.since)));
    if (ends !== undefined && ends > now.getTime()) {
      graceEndsAt = Math.min(graceEndsAt ?? ends, ends);
      continue;
    }
    const verdict = await confirmLeak(state, addresses);
    if (verdict === 'pod-unreadable' || verdict === 'pod-holds-address') {
      // An unreadable pod teaches nothing: a suspicion stays, and the handle is read again later.
      if (verdict === 'pod-unreadable') retry = true;
      else suspicions.delete(handle);
      metrics.leaksSpared.inc({ reason: verdict });
      log.info(
        'kept an address the pods cache showed as leaked: a direct read of its pod did not confirm it',
        {
          node: nodeName,
          handle,
          addresses: addresses.map(
            ({ block, allocation }) => `${block.spec.cidr}#${String(allocation.ordinal)}`,
          ),
          pods: [...new Set(cached.map((leak) => `${leak.namespace}/${leak.pod}`))],
          cache: cached.map((leak) => leak.reason),
          read: verdict,
        },
      );
    } else if (suspicion) {
      due.push(verdict);
    } else {
      suspicions.set(handle, { since: now.getTime(), node: nodeName });
      const end = now.getTime() + graceMs;
      graceEndsAt = Math.min(graceEndsAt ?? end, end);
    }
  }
  await release(options, nodeName, due.flat(), now);
  for (const leaks of due) for (const leak of leaks) suspicions.delete(leak.allocation.handle);
  return {
    retry,
    ...(graceEndsAt === undefined || !Number.isFinite(graceEndsAt)
      ? {}
      : { graceEndsInMs: Math.max(0, graceEndsAt - now.getTime()) }),
  };
}

/**
 * Each address of a handle judged on a direct read of its pod: the leaks, or why the handle is kept.
 */
async function confirmLeak(
  state: ClusterState,
  addresses: readonly HandleAddress[],
): Promise<HandleLeak[] | 'pod-unreadable' | 'pod-holds-address'> {
  const fresh = new Map<string, Pod | undefined>();
  for (const { allocation } of addresses) {
    const key = `${allocation.namespace ?? ''}/${allocation.pod ?? ''}`;
    if (fresh.has(key) || allocation.namespace === undefined || allocation.pod === undefined) continue;
    const read = await readPod(state, allocation.namespace, allocation.pod);
    if (read === 'unreadable') return 'pod-unreadable';
    fresh.set(key, read.pod);
  }
  return (
    handleLeaks(addresses, (namespace, name) => fresh.get(`${namespace}/${name}`)) ?? 'pod-holds-address'
  );
}

/** Frees confirmed leaks: one compare-and-swap write of each block that records some. */
async function release(
  options: NodeReconcilerOptions,
  nodeName: string,
  leaks: readonly HandleLeak[],
  now: Date,
): Promise<void> {
  const { state, log, metrics } = options;
  const byBlock = new Map<string, HandleLeak[]>();
  for (const leak of leaks) {
    byBlock.set(leak.block.metadata.name, [...(byBlock.get(leak.block.metadata.name) ?? []), leak]);
  }
  for (const blockLeaks of byBlock.values()) {
    const [first] = blockLeaks;
    if (!first) continue;
    const leaked = new Set(blockLeaks.map((leak) => leak.allocation.handle));
    const { spec } = releaseWhere(first.block.spec, (allocation) => leaked.has(allocation.handle), now);
    const written = await state.resources.blocks.replace({ ...first.block, spec });
    state.expect(first.block.metadata.name, written);
    for (const leak of blockLeaks) {
      metrics.addressesCollected.inc({ reason: leak.reason });
      log.info('freed a leaked address', {
        node: nodeName,
        block: leak.block.spec.cidr,
        ordinal: leak.allocation.ordinal,
        handle: leak.allocation.handle,
        pod: `${leak.namespace}/${leak.pod}`,
        reason: leak.reason,
      });
    }
  }
}

/** The pod as the API server has it now: `{ pod: undefined }` for a 404; 'unreadable' for any other error. */
async function readPod(
  state: ClusterState,
  namespace: string,
  name: string,
): Promise<{ pod: Pod | undefined } | 'unreadable'> {
  try {
    return { pod: await state.readPod(namespace, name) };
  } catch (error) {
    return isNotFound(error) ? { pod: undefined } : 'unreadable';
  }
}

/**
 * Tells an operator why nothing is collected while the pods cache is not current: one log line and the
 * metric when collection pauses and resumes, and one Event per node that holds pod addresses.
 */
function leakCollectionPause(options: NodeReconcilerOptions): {
  report(health: InformerHealth, nodeName: string, node: Node | undefined): Promise<void>;
  resume(): void;
} {
  const { events, log, metrics } = options;
  let paused = false;
  /** What each node was told, to tell it again only when the reason changes (a transient error, then 403). */
  const told = new Map<string, string>();
  // A new leadership starts unpaused: clear what a previous one may have left.
  metrics.leakCollectionPaused.set(0);
  return {
    async report(health, nodeName, node) {
      const why =
        health.state === 'failing'
          ? `listing or watching pods fails (since ${health.since.toISOString()}: ${String(health.error)})`
          : 'the pods cache has not synced yet';
      if (!paused) {
        paused = true;
        metrics.leakCollectionPaused.set(1);
        log.warn('leak collection paused: no address is freed until the pods cache is current', { why });
      }
      if (node && told.get(nodeName) !== why) {
        told.set(nodeName, why);
        await events.record(
          node,
          'Warning',
          'LeakCollectionPaused',
          `addresses of gone pods on this node are not freed while the operator's pods cache is not current: ${why}`,
        );
      }
    },
    resume() {
      if (!paused) return;
      paused = false;
      told.clear();
      metrics.leakCollectionPaused.set(0);
      log.info('leak collection resumed: the pods cache is current again');
    },
  };
}

/**
 * Claims of this node that crashed before they were confirmed: a pending block (created, never checked
 * for overlaps or confirmed) older than the stale-claim bound is deleted at the version seen, so a claimer
 * that wakes up late finds it gone and cannot confirm it. Then affinities of this node with no block: a
 * claim that crashed before creating its block, or one whose block was deleted by hand. Informers of
 * different resources are not ordered with each other, so an affinity must be old and its block confirmed
 * absent by a direct read before it goes. Returns in how many ms a claim still too young to judge becomes
 * stale, if there is one, so the node is looked at again then.
 */
async function removeCrashedClaims(
  options: NodeReconcilerOptions,
  nodeName: string,
  now: Date,
): Promise<number | undefined> {
  const { state } = options;
  let recheckInMs: number | undefined;
  /** Whether an object created at `creationTimestamp` is old enough to be a crashed claim. */
  const isStale = (creationTimestamp: string | undefined): boolean => {
    const age = now.getTime() - Date.parse(creationTimestamp ?? '');
    if (age >= options.staleClaimMs) return true;
    const wait = Number.isNaN(age) ? options.staleClaimMs : options.staleClaimMs - age;
    recheckInMs = Math.min(recheckInMs ?? wait, wait);
    return false;
  };
  for (const block of state.blocksOfNode(nodeName)) {
    if (!isPendingBlock(block) || block.spec.allocations.length > 0) continue;
    if (!isStale(block.metadata.creationTimestamp)) continue;
    try {
      await state.resources.blocks.delete(block.metadata.name, {
        ...(block.metadata.resourceVersion !== undefined
          ? { resourceVersion: block.metadata.resourceVersion }
          : {}),
      });
      state.expect(block.metadata.name, undefined);
      options.log.info('removed a block whose claim was never confirmed', {
        node: nodeName,
        block: block.spec.cidr,
      });
    } catch (error) {
      if (!isNotFound(error) && !isConflict(error)) throw error;
    }
  }
  const blockNames = new Set(state.allBlocks().map((block: IPAMBlock) => block.metadata.name));
  for (const affinity of state.wellFormedAffinities()) {
    if (affinity.spec.node !== nodeName || blockNames.has(affinity.metadata.name)) continue;
    if (!isStale(affinity.metadata.creationTimestamp)) continue;
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
  return recheckInMs;
}
