/**
 * The plugin's I/O: ADD, DEL, CHECK, GC and STATUS against the API server.
 *
 * Steady state (the node holds a block with room): an ADD is one LIST of the node's blocks (by label) and
 * one PUT of the block it assigns from, carrying the resourceVersion it read (compare-and-swap). A DEL is
 * the same LIST and one PUT of the block holding the handle (none if nothing is held). A conflict means
 * someone else wrote the block in between: re-read and retry, with jitter, until the deadline.
 *
 * Only when the node's blocks are full does an ADD read more: the IPAMConfig (cool-down, limits), the
 * pools and the node's labels, then claims a further block (`claimBlock`) or, unless strictAffinity,
 * borrows an address from another node's block.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type IPAMBlock,
  type IPPool,
  type IpamResources,
  claimBlock,
  isPendingBlock,
} from '../allocator/index.js';
import {
  type Allocation,
  type IPAMConfigSpec,
  ipamConfigName,
  ipamConfigSpecSchema,
  labels,
  specProblems,
} from '../api/index.js';
import { type AllocationOwner, type IpFamily, releaseInvalidHandles, releaseWhere } from '../ipam/index.js';
import { ApiError, type Node, ResourceClient, coreResources, isConflict, isNotFound } from '../kube/index.js';
import type { BorrowRecords } from './borrowed.js';
import { type NetworkConfig, handleOf, isHandleOfNetwork, legacyHandleOf } from './config.js';
import type { CniEnv } from './env.js';
import { CniError } from './errors.js';
import {
  type Placement,
  assignedIp,
  blockCidr,
  candidatePools,
  findHandle,
  placeInBlocks,
  wellFormedBlocks,
} from './plan.js';
import { type AssignedIp, type IpamResult, addressesOfResult } from './result.js';

export interface Invocation {
  readonly env: CniEnv;
  readonly config: NetworkConfig;
  readonly node: string;
  readonly resources: IpamResources;
  readonly borrowed: BorrowRecords;
  /** Epoch ms after which no retry starts. */
  readonly deadline: number;
  readonly now?: () => Date;
}

const nowOf = (invocation: Invocation): Date => invocation.now?.() ?? new Date();
const handleOfInvocation = (invocation: Invocation): string =>
  handleOf(invocation.config.name, invocation.env.containerId, invocation.env.ifname);

/**
 * The unescaped handle an earlier version recorded for this attachment, when it differs from today's (a
 * component holds '.' or '%'); `undefined` otherwise.
 */
function legacyHandleOfInvocation(invocation: Invocation): string | undefined {
  const { config, env } = invocation;
  const legacy = legacyHandleOf(config.name, env.containerId, env.ifname);
  return legacy === handleOfInvocation(invocation) ? undefined : legacy;
}

/**
 * Which allocations are this attachment's: its handle, or its legacy handle when the pod recorded on
 * the allocation (if any) is the invocation's. A legacy handle may have been shared by two attachments;
 * the pod check keeps a DEL of one from releasing the other's address. ADD never adopts a legacy record.
 */
function attachmentHolds(invocation: Invocation): (allocation: Allocation) => boolean {
  const handle = handleOfInvocation(invocation);
  const legacy = legacyHandleOfInvocation(invocation);
  const { podNamespace, podName } = invocation.env.args;
  const samePod = (allocation: Allocation): boolean =>
    (allocation.namespace === undefined ||
      podNamespace === undefined ||
      allocation.namespace === podNamespace) &&
    (allocation.pod === undefined || podName === undefined || allocation.pod === podName);
  return (allocation) =>
    allocation.handle === handle || (allocation.handle === legacy && samePod(allocation));
}

/** Retries per invocation, whatever the time left: a storm of conflicts is reported, not ridden out. */
export const maxRetries = 30;

/** A block vanished or changed under us: re-read and start over. */
class StaleRead extends Error {
  override readonly name = 'StaleRead';
}

/** Conflicts, and the API server asking to slow down (429: priority and fairness, or storage initialising). */
const isRetryable = (error: unknown): boolean =>
  error instanceof StaleRead || isConflict(error) || (error instanceof ApiError && error.status === 429);

/** What a retryable failure was, for the error that ends the retries. */
function retryCause(error: unknown): string {
  if (error instanceof StaleRead) return 'block gone';
  if (error instanceof ApiError) return `${error.status} ${error.reason}`;
  return 'error';
}

/** Runs `attempt` until it succeeds, retrying conflicts and 429s with jitter, bounded by count and time. */
export async function withRetries<T>(
  invocation: Invocation,
  what: string,
  attempt: () => Promise<T>,
): Promise<T> {
  const causes = new Map<string, number>();
  for (let failures = 1; ; failures++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isRetryable(error)) throw error;
      const cause = retryCause(error);
      causes.set(cause, (causes.get(cause) ?? 0) + 1);
      const delay = Math.random() * Math.min(200, 5 * 2 ** failures);
      const outOfTime = Date.now() + delay > invocation.deadline;
      if (outOfTime || failures >= maxRetries) {
        const counts = [...causes].map(([text, count]) => `${count} × ${text}`).join(', ');
        throw new CniError(
          {
            kind: 'try-again',
            reason:
              `${what}: gave up after ${failures} failed attempts, the node's blocks changing or the API server asking to wait (${counts}; ` +
              `${outOfTime ? 'out of time (ipam.timeout_seconds)' : `at most ${maxRetries} attempts`}); ` +
              `the last: ${error instanceof Error ? error.message : String(error)}`,
          },
          { cause: error },
        );
      }
      await sleep(delay);
    }
  }
}

/** The node's well-formed blocks: one LIST by label. */
async function listNodeBlocks(invocation: Invocation): Promise<IPAMBlock[]> {
  const list = await invocation.resources.blocks.list({ labelSelector: `${labels.node}=${invocation.node}` });
  return wellFormedBlocks(list.items);
}

/** The blocks named in the handle's borrow record (usually none: then no request). */
async function lentBlocks(invocation: Invocation, handle: string): Promise<IPAMBlock[]> {
  const blocks: IPAMBlock[] = [];
  for (const name of invocation.borrowed.blocksOf(handle)) {
    try {
      blocks.push(await invocation.resources.blocks.get(name));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  return wellFormedBlocks(blocks);
}

/** PUT with the resourceVersion the block was read at; a 404 means it was released meanwhile. */
async function writeBlock(invocation: Invocation, block: IPAMBlock): Promise<IPAMBlock> {
  try {
    return await invocation.resources.blocks.replace(block);
  } catch (error) {
    if (isNotFound(error)) throw new StaleRead(`block ${block.metadata.name} is gone`);
    throw error;
  }
}

/** What the slow path reads once per invocation, whatever the number of retries and families. */
class ClusterView {
  /** Reads in flight or done, by key: `config`, `pools`, `blocks:<pool>`. */
  private readonly reads = new Map<string, Promise<unknown>>();

  constructor(private readonly invocation: Invocation) {}

  /**
   * Reads once per invocation, but never remembers a failure: a retry after a 429 (the API server's
   * watch cache of a resource initialising after a restart) reads again. Keeping the rejected promise
   * made every retry fail at once with the same 429 until the deadline: the "conflict storm" of issue 9.
   */
  private once<T>(key: string, read: () => Promise<T>): Promise<T> {
    const cached = this.reads.get(key) as Promise<T> | undefined;
    if (cached) return cached;
    const promise = read();
    this.reads.set(key, promise);
    promise.catch(() => {
      if (this.reads.get(key) === promise) this.reads.delete(key);
    });
    return promise;
  }

  ipamConfig(): Promise<IPAMConfigSpec> {
    return this.once('config', () =>
      this.invocation.resources.configs.get(ipamConfigName).then(
        (object) => {
          const parsed = ipamConfigSpecSchema.safeParse(object.spec);
          if (parsed.success) return parsed.data;
          // Settings an admin chose (strictAffinity...) are not silently replaced by defaults.
          const problems = specProblems(ipamConfigSpecSchema, object.spec);
          throw new CniError({
            kind: 'invalid-config',
            path: `IPAMConfig ${ipamConfigName}`,
            reason: `the cluster's IPAMConfig does not parse; fix it: ${problems.join('; ')}`,
          });
        },
        (error: unknown) => {
          if (isNotFound(error)) return ipamConfigSpecSchema.parse({});
          throw error;
        },
      ),
    );
  }

  pools(): Promise<{ pools: IPPool[]; labels: Record<string, string> }> {
    const { resources, node } = this.invocation;
    return this.once('pools', () =>
      Promise.all([
        resources.pools.list(),
        new ResourceClient<Node>(resources.client, coreResources.nodes).get(node).catch((error: unknown) => {
          if (!isNotFound(error)) throw error;
          throw new CniError({
            kind: 'invalid-config',
            path: 'ipam.nodename',
            reason: `there is no Node "${node}" in the API server; set ipam.nodename (or nodename_file) to this node's Kubernetes name`,
          });
        }),
      ]).then(([pools, nodeObject]) => ({ pools: pools.items, labels: nodeObject.metadata.labels ?? {} })),
    );
  }

  /** Every block of a pool (to skip taken ones when claiming, and to borrow from). */
  blocksOfPool(pool: string): Promise<IPAMBlock[]> {
    return this.once(`blocks:${pool}`, () =>
      this.invocation.resources.blocks.list({ labelSelector: `${labels.pool}=${pool}` }).then((l) => l.items),
    );
  }

  forget(pool: string): void {
    this.reads.delete(`blocks:${pool}`);
  }

  /** After a conflict: blocks may have changed, the settings and pools hardly. */
  forgetBlocks(): void {
    for (const key of this.reads.keys()) if (key.startsWith('blocks:')) this.reads.delete(key);
  }
}

function ownerOf(invocation: Invocation): AllocationOwner {
  const { podNamespace, podName, podUID } = invocation.env.args;
  return {
    handle: handleOfInvocation(invocation),
    node: invocation.node,
    ...(podNamespace === undefined ? {} : { namespace: podNamespace }),
    ...(podName === undefined ? {} : { pod: podName }),
    ...(podUID === undefined ? {} : { podUID }),
  };
}

/**
 * No block of the node had room under the cool-down known so far: read the cluster's settings and pools,
 * then (in order) reuse cooled-down addresses, claim a new block, borrow from another node's block.
 */
async function placeSlowly(
  invocation: Invocation,
  view: ClusterView,
  nodeBlocks: IPAMBlock[],
  family: IpFamily,
): Promise<Placement> {
  const { config, node, resources } = invocation;
  const settings = await view.ipamConfig();
  const base = {
    family,
    refs: config.ipam.pools,
    owner: ownerOf(invocation),
    now: nowOf(invocation),
    cooldownSeconds: config.ipam.cooldownSeconds ?? settings.releaseCooldownSeconds,
  };
  const cooled = placeInBlocks(nodeBlocks, base);
  if (cooled) return cooled;

  const { pools, labels: nodeLabels } = await view.pools();
  const candidates = candidatePools(pools, config.ipam.pools, node, nodeLabels, family);
  const notes: string[] = [];
  for (const pool of candidates) {
    if (!settings.autoAllocateBlocks) break;
    const held = nodeBlocks.filter((b) => b.spec.pool === pool.name).flatMap((b) => blockCidr(b) ?? []);
    if (settings.maxBlocksPerHost > 0 && held.length >= settings.maxBlocksPerHost) {
      notes.push(`node holds ${held.length} block(s) of ${pool.name}, the maxBlocksPerHost`);
      continue;
    }
    const taken = new Set((await view.blocksOfPool(pool.name)).map((b) => b.metadata.name));
    const { block: claimed, overlaps } = await claimBlock(resources, {
      node,
      poolName: pool.name,
      poolCidr: pool.cidr,
      blockSize: pool.blockSize,
      held,
      taken,
    });
    if (!claimed) {
      notes.push(
        overlaps.length > 0
          ? `pool ${pool.name} has no unclaimed block that overlaps no other pool's block (${overlaps.slice(0, 3).join('; ')})`
          : `pool ${pool.name} has no unclaimed block`,
      );
      continue;
    }
    view.forget(pool.name);
    nodeBlocks.push(claimed);
    const placed = placeInBlocks([claimed], { ...base, refs: [] });
    if (placed) return placed;
  }
  if (!settings.autoAllocateBlocks) notes.push('autoAllocateBlocks is off');
  if (!settings.strictAffinity) {
    for (const pool of candidates) {
      const others = wellFormedBlocks(await view.blocksOfPool(pool.name)).filter(
        (b) => b.spec.node !== node && !isPendingBlock(b),
      );
      const borrowed = placeInBlocks(others, { ...base, refs: [] });
      if (borrowed) return borrowed;
    }
    notes.push("no other node's block has room");
  } else {
    notes.push('strictAffinity forbids borrowing from other nodes');
  }
  throw new CniError({
    kind: 'pool-exhausted',
    node,
    family,
    pools: candidates.map((pool) => pool.name),
    reason: `no IPv${family} address left for node ${node} in pools ${candidates.map((p) => p.name).join(', ')}: ${notes.join('; ')}`,
  });
}

/** Releases what `holds` matches wherever it is among `blocks` (rollback of a failed dual-stack ADD, DEL, GC). */
async function releaseIn(
  invocation: Invocation,
  blocks: readonly IPAMBlock[],
  holds: (allocation: Allocation) => boolean,
): Promise<number> {
  let writes = 0;
  for (const block of blocks) {
    const outcome = releaseWhere(block.spec, holds, nowOf(invocation));
    if (outcome.released.length === 0) continue;
    await writeBlock(invocation, { ...block, spec: outcome.spec });
    writes++;
  }
  return writes;
}

export async function add(invocation: Invocation): Promise<IpamResult> {
  const { config, node } = invocation;
  const handle = handleOfInvocation(invocation);
  const view = new ClusterView(invocation);
  try {
    const ips = await withRetries(invocation, 'ADD', async () => {
      view.forgetBlocks();
      const listed = await listNodeBlocks(invocation);
      const lent = await lentBlocks(invocation, handle);
      // Blocks being released (no node any more) still answer for their handles but take no new ones.
      const nodeBlocks = listed.filter((b) => b.spec.node === node);
      const result: AssignedIp[] = [];
      for (const family of config.ipam.families) {
        const placement =
          findHandle([...listed, ...lent], handle, family) ??
          placeInBlocks(nodeBlocks, {
            family,
            refs: config.ipam.pools,
            owner: ownerOf(invocation),
            now: nowOf(invocation),
            // Until the cluster's cool-down is read (only when needed), no cooling address is reused.
            cooldownSeconds: config.ipam.cooldownSeconds ?? Number.POSITIVE_INFINITY,
          }) ??
          (await placeSlowly(invocation, view, nodeBlocks, family));
        let block = placement.block;
        if (placement.outcome.kind === 'assigned') {
          if (block.spec.node !== node) invocation.borrowed.add(handle, block.metadata.name);
          block = await writeBlock(invocation, { ...block, spec: placement.outcome.spec });
        }
        result.push(assignedIp(block, placement.outcome.allocation.ordinal));
      }
      return result;
    });
    return { ips, routes: config.ipam.routes, ...(config.ipam.dns ? { dns: config.ipam.dns } : {}) };
  } catch (error) {
    // Both families or neither: release whatever this handle holds before failing.
    if (config.ipam.families.length > 1) {
      try {
        await del(invocation);
      } catch {
        // The ADD fails anyway; the runtime follows a failed ADD with a DEL, which releases what is left.
      }
    }
    throw error;
  }
}

/** The attachment's handles with a possible borrow record: today's, and the legacy one if it differs. */
function recordedHandles(invocation: Invocation): string[] {
  const legacy = legacyHandleOfInvocation(invocation);
  return [handleOfInvocation(invocation), ...(legacy === undefined ? [] : [legacy])];
}

/** DEL: releases the handle's addresses in the node's blocks; nothing held is success. */
export async function del(invocation: Invocation): Promise<void> {
  const handles = recordedHandles(invocation);
  await withRetries(invocation, 'DEL', async () => {
    const blocks = await listNodeBlocks(invocation);
    for (const handle of handles) blocks.push(...(await lentBlocks(invocation, handle)));
    await releaseIn(invocation, blocks, attachmentHolds(invocation));
  });
  for (const handle of handles) invocation.borrowed.remove(handle);
}

/** CHECK: every configured family has an address recorded for the handle, matching the previous result. */
export async function check(invocation: Invocation): Promise<void> {
  const previous = addressesOfResult(invocation.config.prevResult);
  const handle = handleOfInvocation(invocation);
  const legacy = legacyHandleOfInvocation(invocation);
  const blocks = await listNodeBlocks(invocation);
  for (const recordedHandle of recordedHandles(invocation))
    blocks.push(...(await lentBlocks(invocation, recordedHandle)));
  const holds = attachmentHolds(invocation);
  const recorded: string[] = [];
  for (const family of invocation.config.ipam.families) {
    const legacyPlacement = legacy === undefined ? undefined : findHandle(blocks, legacy, family);
    const placement =
      findHandle(blocks, handle, family) ??
      (legacyPlacement && holds(legacyPlacement.outcome.allocation) ? legacyPlacement : undefined);
    if (!placement) {
      throw new CniError({
        kind: 'not-recorded',
        handle,
        reason: `no IPv${family} address is recorded for ${handle} in the blocks of node ${invocation.node}`,
      });
    }
    recorded.push(
      assignedIp(placement.block, placement.outcome.allocation.ordinal).address.replace(/\/\d+$/, ''),
    );
  }
  if (previous === undefined) return;
  const missing = recorded.filter((address) => !previous.includes(address));
  const unknown = previous.filter((address) => !recorded.includes(address));
  if (missing.length > 0 || unknown.length > 0) {
    throw new CniError({
      kind: 'not-recorded',
      handle,
      reason: `the previous result (${previous.join(', ')}) does not match the addresses recorded for ${handle} (${recorded.join(', ')})`,
    });
  }
}

/**
 * GC: releases this network's addresses assigned by this node whose attachment is not valid any more.
 * The runtime must say which are valid (`cni.dev/valid-attachments`; run.ts refuses a GC without it).
 * Legacy handles with a '.' in a component cannot be attributed to one network: GC leaves them to DEL.
 */
export async function gc(invocation: Invocation): Promise<number> {
  const { config, node } = invocation;
  const valid = new Set(
    (config.validAttachments ?? []).flatMap((a) => [
      handleOf(config.name, a.containerID, a.ifname),
      legacyHandleOf(config.name, a.containerID, a.ifname),
    ]),
  );
  const stale = invocation.borrowed
    .handles()
    .filter((handle) => isHandleOfNetwork(handle, config.name) && !valid.has(handle));
  return withRetries(invocation, 'GC', async () => {
    let released = 0;
    for (const handle of stale) {
      const lent = await lentBlocks(invocation, handle);
      released += await releaseIn(invocation, lent, (allocation) => allocation.handle === handle);
      invocation.borrowed.remove(handle);
    }
    for (const block of await listNodeBlocks(invocation)) {
      const outcome = releaseInvalidHandles(
        block.spec,
        valid,
        (allocation) => allocation.node === node && isHandleOfNetwork(allocation.handle, config.name),
        nowOf(invocation),
      );
      if (outcome.released.length === 0) continue;
      await writeBlock(invocation, { ...block, spec: outcome.spec });
      released += outcome.released.length;
    }
    return released;
  });
}

/** STATUS: the API server answers and lets the plugin read the node's blocks. */
export async function status(invocation: Invocation): Promise<void> {
  try {
    await listNodeBlocks(invocation);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CniError(
      { kind: 'not-available', reason: `cannot read node ${invocation.node}'s blocks: ${reason}` },
      { cause: error },
    );
  }
}
