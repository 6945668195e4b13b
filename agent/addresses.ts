/**
 * The node's addresses: ADD, DEL, CHECK, GC and STATUS as the agent serves them, from its cache and
 * through the block writer (group commit).
 *
 * Steady state (a block of the node has room): an ADD reads nothing (its pod and namespace come from the
 * agent's caches: `workloads.ts`) and joins the next write of that block; a DEL likewise. Requests for
 * one attachment (handle) run one after the other, so a runtime's retried ADD waits for the first and
 * then finds its address instead of taking a second one.
 *
 * When the node's blocks are full, one request at a time takes the slow path (the others wait for it
 * and then find room in what it claimed): reuse of cooled-down addresses, a further block
 * (`claimBlock`), or, unless strictAffinity, an address borrowed from another node's block.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type IpamResources, claimBlock, claimThisBlock } from '../allocator/index.js';
import { errorMessage } from '../common/index.js';
import {
  type Allocation,
  type AllocationOwner,
  type IPAMBlock,
  type IPPool,
  type ParsedPool,
  type ReservationSet,
  blockUsage,
  formatPassOver,
  isPendingBlock,
  labels,
  mayClaimAnotherBlock,
  parsePool,
  passOverReason,
  releaseInvalidHandles,
  releaseWhere,
  reservedOrdinals,
  unclearedReason,
} from '../api/index.js';
import {
  type Cidr,
  type IpFamily,
  addressOrdinal,
  addressToString,
  blockContaining,
  cidrContainsAddress,
  cidrToResourceName,
  safeParseCidr,
} from '../ipam/index.js';
import { ApiError, isConflict, isNotFound } from '../kube/index.js';
import { type NetworkConfig, handleOf, isHandleOfNetwork, legacyHandleOf } from '../cni/config.js';
import { CniError } from '../cni/errors.js';
import {
  type CandidatePool,
  assignInBlock,
  assignRequestedInBlock,
  assignedIp,
  assignedIpViaGateway,
  blockCidr,
  blocksToAssignFrom,
  candidatePools,
  findHandle,
  sortBlocks,
  wellFormedBlocks,
} from '../cni/plan.js';
import {
  type PoolSelection,
  type RequestedAddress,
  type Workload,
  annotationError,
  requestedAddresses,
  selectPools,
} from '../cni/pool-annotations.js';
import { type AssignedIp, type IpamResult, addressesOfResult } from '../cni/result.js';
import type { CommandBackend, CommandRequest } from '../cni/run.js';
import { BlockContendedError, type BlockChange, BlockGoneError, type BlockWriter } from './block-writer.js';
import type { BorrowIndex } from './borrowed.js';
import type { NodeCache } from './node-cache.js';
import { type WorkloadSource, readWorkload } from './workloads.js';

const handleOfRequest = (request: CommandRequest): string =>
  handleOf(request.config.name, request.env.containerId, request.env.ifname);

/**
 * The unescaped handle an earlier version recorded for this attachment, when it differs from today's (a
 * component holds '.' or '%'); `undefined` otherwise.
 */
function legacyHandleOfRequest(request: CommandRequest): string | undefined {
  const { config, env } = request;
  const legacy = legacyHandleOf(config.name, env.containerId, env.ifname);
  return legacy === handleOfRequest(request) ? undefined : legacy;
}

/** The attachment's handles with a possible record: today's, and the legacy one if it differs. */
function recordedHandles(request: CommandRequest): string[] {
  const legacy = legacyHandleOfRequest(request);
  return [handleOfRequest(request), ...(legacy === undefined ? [] : [legacy])];
}

/**
 * Which allocations are this attachment's: its handle, or its legacy handle when the pod recorded on
 * the allocation (if any) is the request's. A legacy handle may have been shared by two attachments;
 * the pod check keeps a DEL of one from releasing the other's address. ADD never adopts a legacy record.
 */
function attachmentHolds(request: CommandRequest): (allocation: Allocation) => boolean {
  const handle = handleOfRequest(request);
  const legacy = legacyHandleOfRequest(request);
  const { podNamespace, podName } = request.env.args;
  const samePod = (allocation: Allocation): boolean =>
    (allocation.namespace === undefined ||
      podNamespace === undefined ||
      allocation.namespace === podNamespace) &&
    (allocation.pod === undefined || podName === undefined || allocation.pod === podName);
  return (allocation) =>
    allocation.handle === handle || (allocation.handle === legacy && samePod(allocation));
}

/** Retries per request, whatever the time left: a storm of conflicts is reported, not ridden out. */
export const maxRetries = 30;

/** Conflicts, a block gone or contended, and the API server asking to slow down (429). */
const isRetryable = (error: unknown): boolean =>
  error instanceof BlockGoneError ||
  error instanceof BlockContendedError ||
  isConflict(error) ||
  (error instanceof ApiError && error.status === 429);

/** What a retryable failure was, for the error that ends the retries. */
function retryCause(error: unknown): string {
  if (error instanceof BlockGoneError) return 'block gone';
  if (error instanceof BlockContendedError) return 'block contended';
  if (error instanceof ApiError) return `${error.status} ${error.reason}`;
  return 'error';
}

/** Runs `attempt` until it succeeds, retrying conflicts and 429s with jitter, bounded by count and time. */
export async function withRetries<T>(deadline: number, what: string, attempt: () => Promise<T>): Promise<T> {
  const causes = new Map<string, number>();
  for (let failures = 1; ; failures++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isRetryable(error)) throw error;
      const cause = retryCause(error);
      causes.set(cause, (causes.get(cause) ?? 0) + 1);
      const delay = Math.random() * Math.min(200, 5 * 2 ** failures);
      const outOfTime = Date.now() + delay > deadline;
      if (outOfTime || failures >= maxRetries) {
        const counts = [...causes].map(([text, count]) => `${count} × ${text}`).join(', ');
        throw new CniError(
          {
            kind: 'try-again',
            reason:
              `${what}: gave up after ${failures} failed attempts, the node's blocks changing or the API server asking to wait (${counts}; ` +
              `${outOfTime ? 'out of time (ipam.timeout_seconds)' : `at most ${maxRetries} attempts`}); ` +
              `the last: ${errorMessage(error)}`,
          },
          { cause: error },
        );
      }
      await sleep(delay);
    }
  }
}

/** How many full blocks of its own a claim may resume before the slow path gives up on the pool. */
const maxFullClaims = 8;

/** The chosen block had no free address when the change applied: try another. */
class BlockFullError extends Error {
  override readonly name = 'BlockFullError';
}

interface AssignSettings {
  readonly owner: AllocationOwner;
  readonly cooldownSeconds: number;
  readonly reservations: ReservationSet;
}

/**
 * The change that assigns the owner an address in a block served to `servedNode`. Applied to a fresh
 * read after a conflict, it refuses a block that changed hands meanwhile (released, claimed by another
 * node, still pending) rather than assign from it.
 */
function assignIn(servedNode: string, settings: AssignSettings): BlockChange<number> {
  return (block) => {
    const cidr = blockCidr(block);
    if (cidr === undefined || isPendingBlock(block) || block.spec.node !== servedNode) {
      throw new BlockGoneError(`block ${block.metadata.name} no longer serves node ${servedNode}`);
    }
    const outcome = assignInBlock(block, cidr, settings.owner, {
      now: new Date(),
      cooldownSeconds: settings.cooldownSeconds,
      reservations: settings.reservations,
    });
    if (outcome.kind === 'full') {
      const state = block.spec.draining === true ? 'draining' : 'full';
      throw new BlockFullError(`block ${block.metadata.name} is ${state}`);
    }
    return outcome.kind === 'assigned'
      ? { spec: outcome.spec, value: outcome.allocation.ordinal }
      : { value: outcome.allocation.ordinal };
  };
}

/**
 * The change that assigns the owner exactly `ordinal` of a block served to `servedNode` (a requested
 * address); refused, naming what holds the address, when it is taken or reserved.
 */
function assignRequestedIn(
  servedNode: string,
  owner: AllocationOwner,
  requested: { readonly ordinal: number; readonly text: string; readonly pod: string },
): BlockChange<number> {
  return (block) => {
    const cidr = blockCidr(block);
    if (cidr === undefined || isPendingBlock(block) || block.spec.node !== servedNode) {
      throw new BlockGoneError(`block ${block.metadata.name} no longer serves node ${servedNode}`);
    }
    const outcome = assignRequestedInBlock(block, cidr, owner, requested.ordinal, new Date());
    const refuse = (reason: string) =>
      new CniError({ kind: 'address-unavailable', address: requested.text, pod: requested.pod, reason });
    switch (outcome.kind) {
      case 'assigned':
        return { spec: outcome.spec, value: requested.ordinal };
      case 'existing':
        return { value: requested.ordinal };
      case 'reserved':
        throw refuse(
          `${requested.text} is the network or broadcast address of block ${block.spec.cidr}, which is never assigned`,
        );
      case 'taken': {
        const { by } = outcome;
        const pod = by.pod === undefined ? '' : ` (pod ${by.namespace ?? '?'}/${by.pod})`;
        throw refuse(`${requested.text} is already in use by handle ${by.handle}${pod}`);
      }
      case 'holds-another':
        throw refuse(
          `this attachment already holds ${assignedIp(block, outcome.allocation.ordinal).address} in block ${block.spec.cidr}`,
        );
      case 'full':
        throw new BlockFullError(`block ${block.metadata.name} is full`);
    }
  };
}

/** The change that releases what `holds` matches; nothing matched, nothing written. */
function releaseIn(holds: (allocation: Allocation) => boolean): BlockChange<number> {
  return (block) => {
    const outcome = releaseWhere(block.spec, holds, new Date());
    return outcome.released.length === 0
      ? { value: 0 }
      : { spec: outcome.spec, value: outcome.released.length };
  };
}

interface Placed {
  readonly block: IPAMBlock;
  readonly ordinal: number;
}

export interface NodeAddressesOptions {
  readonly node: string;
  readonly resources: IpamResources;
  readonly cache: NodeCache;
  readonly writer: BlockWriter;
  readonly borrowed: BorrowIndex;
  /** The pods and namespaces, for their pool and address annotations and the namespaces' labels. */
  readonly workloads: WorkloadSource;
}

export class NodeAddresses implements CommandBackend {
  private readonly node: string;
  /** The last request queued per handle: the next one waits for it. */
  private readonly handleTails = new Map<string, Promise<unknown>>();
  /** The slow path in progress, if any: one at a time per node. */
  private slowTail: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: NodeAddressesOptions) {
    this.node = options.node;
  }

  /** Runs `body` after every earlier request of the same handle has finished. */
  private serially<T>(handle: string, body: () => Promise<T>): Promise<T> {
    const previous = this.handleTails.get(handle) ?? Promise.resolve();
    const run = previous.then(body, body);
    const tail = run.catch(() => undefined);
    this.handleTails.set(handle, tail);
    void tail.then(() => {
      if (this.handleTails.get(handle) === tail) this.handleTails.delete(handle);
    });
    return run;
  }

  private oneSlowPathAtATime<T>(body: () => Promise<T>): Promise<T> {
    const run = this.slowTail.then(body, body);
    this.slowTail = run.catch(() => undefined);
    return run;
  }

  private checkNode(config: NetworkConfig): void {
    const { nodename } = config.ipam;
    if (nodename !== undefined && nodename !== this.node) {
      throw new CniError({
        kind: 'invalid-config',
        path: 'ipam.nodename',
        reason: `ipam.nodename is "${nodename}", but the agent on this socket serves node "${this.node}": point ipam.agent_socket at that node's agent, or drop ipam.nodename`,
      });
    }
  }

  /** The blocks named in the handle's borrow record (usually none: then no request). */
  private async lentBlocks(handle: string): Promise<IPAMBlock[]> {
    const blocks: IPAMBlock[] = [];
    for (const name of this.options.borrowed.blocksOf(handle)) {
      const block = await this.blockOrNone(name);
      if (block !== undefined) blocks.push(block);
    }
    return wellFormedBlocks(blocks);
  }

  private ownerOf(request: CommandRequest): AllocationOwner {
    const { podNamespace, podName, podUID } = request.env.args;
    return {
      handle: handleOfRequest(request),
      node: this.node,
      ...(podNamespace === undefined ? {} : { namespace: podNamespace }),
      ...(podName === undefined ? {} : { pod: podName }),
      ...(podUID === undefined ? {} : { podUID }),
    };
  }

  add(request: CommandRequest): Promise<IpamResult> {
    this.checkNode(request.config);
    const { config } = request;
    const handle = handleOfRequest(request);
    return this.serially(handle, async () => {
      /** What this request assigned (not what an earlier ADD of the attachment did). */
      const assignedHere: Placed[] = [];
      const workloadOf = this.workloadOf(request);
      try {
        const ips = await withRetries(request.deadline, 'ADD', async () => {
          const known = [...this.options.cache.blocks(), ...(await this.lentBlocks(handle))];
          const result: AssignedIp[] = [];
          for (const family of config.ipam.families) {
            let placed = await this.stillHeld(known, handle, family);
            if (placed === undefined) {
              const workload = await workloadOf();
              const requested = requestedAddresses(workload, config.ipam.families).get(family);
              placed =
                requested === undefined
                  ? await this.assign(request, family, selectPools(family, workload, config.ipam.pools))
                  : await this.assignRequested(request, requested, workload);
              assignedHere.push(placed);
            }
            result.push(
              config.ipam.linkLocalGateway
                ? assignedIpViaGateway(placed.block, placed.ordinal, this.poolCidr(placed.block.spec.pool))
                : assignedIp(placed.block, placed.ordinal),
            );
          }
          return result;
        });
        return { ips, routes: config.ipam.routes, ...(config.ipam.dns ? { dns: config.ipam.dns } : {}) };
      } catch (error) {
        // Both families or neither: release what this request assigned before failing (an address an
        // earlier ADD answered stays: the pod may be using it; the runtime's DEL releases it).
        await Promise.all(
          assignedHere.map(({ block, ordinal }) =>
            this.options.writer
              .submit(
                block.metadata.name,
                releaseIn((allocation) => allocation.handle === handle && allocation.ordinal === ordinal),
                block,
              )
              .catch(() => undefined),
          ),
        );
        throw error;
      }
    });
  }

  /**
   * The request's pod and namespace, read once for the request at its first new address (a repeated ADD
   * reads neither): from the caches, else one read each.
   */
  private workloadOf(request: CommandRequest): () => Promise<Workload | undefined> {
    let workload: Promise<Workload | undefined> | undefined;
    const { podNamespace, podName, podUID } = request.env.args;
    return () =>
      (workload ??= readWorkload(this.options.workloads, {
        namespace: podNamespace,
        name: podName,
        uid: podUID,
      }));
  }

  /** Each pool parsed once per version of its object. */
  private readonly parsedPools = new WeakMap<IPPool, ParsedPool>();

  private parsed(pool: IPPool): ParsedPool & { readonly object: IPPool } {
    let parsed = this.parsedPools.get(pool);
    if (parsed === undefined) {
      parsed = parsePool(pool);
      this.parsedPools.set(pool, parsed);
    }
    return { ...parsed, object: pool };
  }

  /**
   * The pools whose blocks of this node may not give `pools`' request an address: by the pool policy, a
   * Manual pool unless named, a pool whose nodeSelector does not select the node unless an annotation
   * names it (the operator keeps such a block serving while requested pods hold addresses in it), and a
   * pool whose namespaceSelector does not select the pod's namespace.
   */
  private excludedPools(pools: PoolSelection): Set<string> {
    const nodeLabels = this.options.cache.nodeLabels();
    const excluded = new Set<string>();
    for (const object of this.options.cache.pools()) {
      const pool = this.parsed(object);
      const why = passOverReason(pool, {
        labels: nodeLabels ?? {},
        named: pools.refs.length > 0,
        selectorWaived: pools.source.kind === 'annotation' || nodeLabels === undefined,
        namespaceLabels: pools.namespaceLabels,
        // Whether the operator still clears the pool decides claims, not the blocks the node holds.
        uncleared: undefined,
      });
      if (why !== undefined) excluded.add(pool.name);
    }
    return excluded;
  }

  /**
   * The address of `family` the handle holds, as the API server holds it now. The cache may lag a release
   * made elsewhere (the operator's leak collection, another agent during an upgrade): answering a
   * repeated ADD from it could hand out an address that is free again. One read, for repeated ADDs only.
   */
  private async stillHeld(
    known: readonly IPAMBlock[],
    handle: string,
    family: IpFamily,
  ): Promise<Placed | undefined> {
    const cached = findHandle(known, handle, family);
    if (!cached) return undefined;
    let fresh: IPAMBlock;
    try {
      fresh = await this.options.cache.read(cached.block.metadata.name);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return undefined;
      throw error;
    }
    const held = findHandle(wellFormedBlocks([fresh]), handle, family);
    return held ? { block: held.block, ordinal: held.outcome.allocation.ordinal } : undefined;
  }

  /** The CIDR of the pool named, if the cache holds it. */
  private poolCidr(name: string): Cidr | undefined {
    const pool = this.options.cache.pools().find((each) => each.metadata.name === name);
    const cidr = pool === undefined ? undefined : safeParseCidr(pool.spec.cidr);
    return cidr?.ok ? cidr.value : undefined;
  }

  private async assign(request: CommandRequest, family: IpFamily, pools: PoolSelection): Promise<Placed> {
    const settings: AssignSettings = {
      owner: this.ownerOf(request),
      cooldownSeconds:
        request.config.ipam.cooldownSeconds ?? this.options.cache.settings().releaseCooldownSeconds,
      reservations: this.options.cache.reservations(),
    };
    return (
      (await this.assignOnNode(family, settings, pools)) ??
      this.oneSlowPathAtATime(
        async () =>
          // Whoever took the slow path before us may have claimed room for us too.
          (await this.assignOnNode(family, settings, pools)) ?? this.assignSlowly(family, settings, pools),
      )
    );
  }

  /**
   * Assigns the pod exactly the address it requested, in the block of the pool that contains it: the
   * node's block, or the block claimed now, or (unless strictAffinity) another node's block, borrowed.
   * The pool serves whatever its nodeSelector (the pod asked for the address), but not outside its
   * namespaceSelector, nor when disabled, being deleted, not cleared or not for workloads.
   */
  private async assignRequested(
    request: CommandRequest,
    requested: RequestedAddress,
    workload: Workload | undefined,
  ): Promise<Placed> {
    const { cache, resources, writer } = this.options;
    const { address, source } = requested;
    const text = addressToString(address);
    const refuse = (reason: string) =>
      new CniError({ kind: 'address-unavailable', address: text, pod: source.pod, reason });
    const pools = cache.pools().map((object) => this.parsed(object));
    const pool = pools.find(
      (candidate) => candidate.valid && cidrContainsAddress(candidate.valid.cidr, address),
    );
    if (pool?.valid === undefined) {
      const names = pools.map((candidate) => `${candidate.name} (${candidate.cidrText})`);
      throw annotationError(
        source,
        `${source.annotation} asks for ${text}, which is in no IPPool; pools: ${names.length === 0 ? 'none' : names.join(', ')}`,
      );
    }
    const why = passOverReason(pool, {
      labels: cache.nodeLabels() ?? {},
      named: true,
      selectorWaived: true,
      namespaceLabels: workload?.namespaceLabels,
      uncleared: unclearedReason(pool.object),
    });
    if (why !== undefined) throw refuse(`its pool ${pool.name} cannot give it: ${formatPassOver(why)}`);
    const reservations = cache.reservationsCovering(address);
    if (reservations.length > 0)
      throw refuse(`${text} is reserved by IPReservation ${reservations.join(', ')}`);
    const { spec, cidr: poolCidr } = pool.valid;
    const blockRange = blockContaining(poolCidr, spec.blockSize, address);
    const ordinal = blockRange === undefined ? undefined : addressOrdinal(blockRange, address);
    if (blockRange === undefined || ordinal === undefined)
      throw refuse(`${text} is outside pool ${pool.name}`);
    const name = cidrToResourceName(blockRange);
    let block = cache.cached(name) ?? (await this.blockOrNone(name));
    if (block === undefined || isPendingBlock(block)) {
      const settings = cache.settings();
      // The request's pool is the one holding the address: the limit counts its blocks, as Calico counts
      // the blocks of a request's pools.
      const limit = mayClaimAnotherBlock({
        family: poolCidr.family,
        pools: [pool.name],
        nodeBlocks: cache.blocks(),
        maxBlocksPerHost: settings.maxBlocksPerHost,
      });
      const unclaimable = !settings.autoAllocateBlocks
        ? 'autoAllocateBlocks is off'
        : limit.allowed
          ? undefined
          : limit.why;
      if (unclaimable !== undefined) {
        throw refuse(`its block ${name} is no node's, and this node may not claim it: ${unclaimable}`);
      }
      const claim = await this.oneSlowPathAtATime(() =>
        claimThisBlock(resources, { node: this.node, poolName: pool.name, cidr: blockRange }),
      );
      if (claim.block !== undefined) cache.remember(claim.block);
      else if (claim.overlaps.length > 0)
        throw refuse(`its block cannot be claimed: ${claim.overlaps.join('; ')}`);
      // Taken by another node meanwhile: borrowed from it below.
      block = claim.block ?? (await this.blockOrNone(name));
      if (block === undefined) throw new BlockGoneError(`block ${name} went while being claimed`);
    }
    const served = block.spec.node;
    if (served !== this.node) {
      if (cache.settings().strictAffinity) {
        throw refuse(
          `its block ${block.spec.cidr} is node ${served}'s, and strictAffinity forbids borrowing`,
        );
      }
      // Recorded before the block is written: a crash in between leaves a record that costs one read.
      this.options.borrowed.add(handleOfRequest(request), name);
    }
    const committed = await writer.submit(
      name,
      assignRequestedIn(served, this.ownerOf(request), { ordinal, text, pod: source.pod }),
      served === this.node ? undefined : block,
    );
    return { block: committed.block, ordinal: committed.value };
  }

  private async blockOrNone(name: string): Promise<IPAMBlock | undefined> {
    try {
      return await this.options.resources.blocks.get(name);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Tries the node's blocks with room in address order; undefined when every one is full. */
  private async assignOnNode(
    family: IpFamily,
    settings: AssignSettings,
    pools: PoolSelection,
  ): Promise<Placed | undefined> {
    const eligible = blocksToAssignFrom(this.options.cache.blocks(), {
      node: this.node,
      family,
      refs: pools.refs,
      excludedPools: this.excludedPools(pools),
    });
    for (const block of eligible) {
      try {
        const committed = await this.options.writer.submit(
          block.metadata.name,
          assignIn(this.node, settings),
        );
        return { block: committed.block, ordinal: committed.value };
      } catch (error) {
        if (!(error instanceof BlockFullError) && !(error instanceof BlockGoneError)) throw error;
      }
    }
    return undefined;
  }

  /** No block of the node has room: claim a further block, else borrow (unless strictAffinity). */
  private async assignSlowly(
    family: IpFamily,
    settings: AssignSettings,
    pools: PoolSelection,
  ): Promise<Placed> {
    const { cache, resources, writer } = this.options;
    const node = this.node;
    const clusterSettings = cache.settings();
    const nodeLabels = cache.nodeLabels();
    if (nodeLabels === undefined) {
      throw new CniError({
        kind: 'invalid-config',
        path: 'ipam.nodename',
        reason: `there is no Node "${node}" in the API server; the agent's NODE_NAME must be this node's Kubernetes name`,
      });
    }
    const candidates = candidatePools(cache.pools(), pools.refs, node, nodeLabels, family, pools);
    const nodeBlocks = cache.blocks().filter((block) => block.spec.node === node);
    const poolBlocks = new Map<string, Promise<IPAMBlock[]>>();
    const blocksOfPool = (pool: string): Promise<IPAMBlock[]> => {
      let read = poolBlocks.get(pool);
      if (read === undefined) {
        read = resources.blocks.list({ labelSelector: `${labels.pool}=${pool}` }).then((l) => l.items);
        poolBlocks.set(pool, read);
      }
      return read;
    };
    const notes: string[] = [];
    for (const pool of candidates) {
      if (!clusterSettings.autoAllocateBlocks) break;
      const limit = mayClaimAnotherBlock({
        family,
        pools: candidates.map((candidate) => candidate.name),
        nodeBlocks,
        maxBlocksPerHost: clusterSettings.maxBlocksPerHost,
      });
      if (!limit.allowed) {
        notes.push(limit.why);
        continue;
      }
      const held = nodeBlocks.filter((b) => b.spec.pool === pool.name).flatMap((b) => blockCidr(b) ?? []);
      const taken = new Set((await blocksOfPool(pool.name)).map((b) => b.metadata.name));
      const placed = await this.claimAndAssign(pool, { held, taken, settings, notes });
      if (placed) return placed;
    }
    if (!clusterSettings.autoAllocateBlocks) notes.push('autoAllocateBlocks is off');
    if (!clusterSettings.strictAffinity) {
      for (const pool of candidates) {
        const others = sortBlocks(wellFormedBlocks(await blocksOfPool(pool.name))).filter(
          (b) => b.spec.node !== node && !isPendingBlock(b) && blockCidr(b)?.family === family,
        );
        for (const lender of others) {
          // Recorded before the block is written: a crash in between leaves a record that costs one read.
          this.options.borrowed.add(settings.owner.handle, lender.metadata.name);
          try {
            const committed = await writer.submit(
              lender.metadata.name,
              assignIn(lender.spec.node, settings),
              lender,
            );
            return { block: committed.block, ordinal: committed.value };
          } catch (error) {
            if (!(error instanceof BlockFullError) && !(error instanceof BlockGoneError)) throw error;
          }
        }
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

  /**
   * Claims a further block of `pool` and assigns from it. A claim may resume a block the node already
   * holds (one its cache and the pool's list have yet to show, or one a crashed claim left behind): when
   * that block has no room, it is added to what is taken and the claim goes on to the next block.
   */
  private async claimAndAssign(
    pool: CandidatePool,
    attempt: {
      readonly held: Cidr[];
      readonly taken: Set<string>;
      readonly settings: AssignSettings;
      readonly notes: string[];
    },
  ): Promise<Placed | undefined> {
    const { cache, resources, writer } = this.options;
    for (let resumedFull = 0; resumedFull < maxFullClaims; resumedFull++) {
      const { block: claimed, overlaps } = await claimBlock(resources, {
        node: this.node,
        poolName: pool.name,
        poolCidr: pool.cidr,
        blockSize: pool.blockSize,
        held: attempt.held,
        taken: attempt.taken,
        reservations: attempt.settings.reservations,
      });
      if (!claimed) {
        attempt.notes.push(
          overlaps.length > 0
            ? `pool ${pool.name} has no unclaimed block that overlaps no other pool's block (${overlaps.slice(0, 3).join('; ')})`
            : `pool ${pool.name} has no unclaimed block`,
        );
        return undefined;
      }
      cache.remember(claimed);
      try {
        const committed = await writer.submit(claimed.metadata.name, assignIn(this.node, attempt.settings));
        return { block: committed.block, ordinal: committed.value };
      } catch (error) {
        if (!(error instanceof BlockFullError)) throw error;
        attempt.taken.add(claimed.metadata.name);
        const cidr = blockCidr(claimed);
        if (cidr) attempt.held.push(cidr);
      }
    }
    attempt.notes.push(
      `pool ${pool.name}: ${maxFullClaims} claims in a row resumed full blocks of this node`,
    );
    return undefined;
  }

  /** Releases the attachment's addresses wherever they are: the node's blocks and any it borrowed from. */
  private async release(request: CommandRequest): Promise<void> {
    const handles = recordedHandles(request);
    const holds = attachmentHolds(request);
    await withRetries(request.deadline, 'DEL', async () => {
      const lent: IPAMBlock[] = [];
      for (const handle of handles) lent.push(...(await this.lentBlocks(handle)));
      const holding = [...this.options.cache.blocks(), ...lent].filter((block) =>
        block.spec.allocations.some(holds),
      );
      await Promise.all(
        holding.map((block) => this.options.writer.submit(block.metadata.name, releaseIn(holds), block)),
      );
    });
    for (const handle of handles) this.options.borrowed.remove(handle);
  }

  del(request: CommandRequest): Promise<void> {
    this.checkNode(request.config);
    return this.serially(handleOfRequest(request), () => this.release(request));
  }

  /** CHECK: every configured family has an address recorded for the handle, matching the previous result. */
  async check(request: CommandRequest): Promise<void> {
    this.checkNode(request.config);
    const previous = addressesOfResult(request.config.prevResult);
    const handle = handleOfRequest(request);
    const legacy = legacyHandleOfRequest(request);
    const blocks = [...this.options.cache.blocks()];
    for (const recordedHandle of recordedHandles(request))
      blocks.push(...(await this.lentBlocks(recordedHandle)));
    const holds = attachmentHolds(request);
    const recorded: string[] = [];
    for (const family of request.config.ipam.families) {
      const legacyPlacement = legacy === undefined ? undefined : findHandle(blocks, legacy, family);
      const placement =
        findHandle(blocks, handle, family) ??
        (legacyPlacement && holds(legacyPlacement.outcome.allocation) ? legacyPlacement : undefined);
      if (!placement) {
        throw new CniError({
          kind: 'not-recorded',
          handle,
          reason: `no IPv${family} address is recorded for ${handle} in the blocks of node ${this.node}`,
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
  async gc(request: CommandRequest): Promise<void> {
    this.checkNode(request.config);
    const { config } = request;
    const node = this.node;
    const valid = new Set(
      (config.validAttachments ?? []).flatMap((a) => [
        handleOf(config.name, a.containerID, a.ifname),
        legacyHandleOf(config.name, a.containerID, a.ifname),
      ]),
    );
    // An attachment being added or deleted right now may be missing from the runtime's list: its
    // handle, with a request queued or running here, is left alone (the node lock used to order them).
    const busy = (handle: string): boolean => this.handleTails.has(handle);
    const stale = this.options.borrowed
      .handles()
      .filter((handle) => isHandleOfNetwork(handle, config.name) && !valid.has(handle) && !busy(handle));
    const invalid = (allocation: Allocation): boolean =>
      allocation.node === node &&
      isHandleOfNetwork(allocation.handle, config.name) &&
      !valid.has(allocation.handle) &&
      !busy(allocation.handle);
    await withRetries(request.deadline, 'GC', async () => {
      for (const handle of stale) {
        for (const block of await this.lentBlocks(handle)) {
          await this.options.writer.submit(
            block.metadata.name,
            releaseIn((allocation) => allocation.handle === handle),
            block,
          );
        }
        this.options.borrowed.remove(handle);
      }
      await Promise.all(
        this.options.cache
          .blocks()
          .filter(
            (block) => releaseInvalidHandles(block.spec, valid, invalid, new Date()).released.length > 0,
          )
          .map((block) => this.options.writer.submit(block.metadata.name, releaseIn(invalid))),
      );
    });
  }

  /**
   * STATUS: ready to serve ADD once the caches are synced and current, a pool selects the node for every
   * configured family, and an address can be had: a free one in the node's blocks, or a further block
   * may be claimed, or borrowing is allowed.
   */
  // eslint-disable-next-line @typescript-eslint/require-await -- async: every refusal becomes a rejection
  async status(request: CommandRequest): Promise<void> {
    this.checkNode(request.config);
    const { cache } = this.options;
    const unavailable = (reason: string) => new CniError({ kind: 'not-available', reason });
    const health = cache.health();
    if (!health.ready) {
      throw unavailable(
        `the topology-ipam agent of node ${this.node} is not in sync with the API server: ${health.reasons.join('; ')}`,
      );
    }
    let settings;
    try {
      settings = cache.settings();
    } catch (error) {
      throw unavailable(errorMessage(error));
    }
    const labels = cache.nodeLabels();
    if (labels === undefined) throw unavailable(`there is no Node "${this.node}" in the API server`);
    for (const family of request.config.ipam.families) {
      let candidates;
      try {
        candidates = candidatePools(cache.pools(), request.config.ipam.pools, this.node, labels, family);
      } catch (error) {
        if (error instanceof CniError && error.failure.kind === 'no-pool-for-node') {
          throw unavailable(error.message);
        }
        throw error;
      }
      if (!settings.strictAffinity || this.hasFreeAddress(request, family)) continue;
      const claimable =
        candidates.length > 0 &&
        settings.autoAllocateBlocks &&
        mayClaimAnotherBlock({
          family,
          pools: candidates.map((pool) => pool.name),
          nodeBlocks: cache.blocks(),
          maxBlocksPerHost: settings.maxBlocksPerHost,
        }).allowed;
      if (!claimable) {
        throw unavailable(
          `no IPv${family} address can be assigned on node ${this.node}: its blocks are full, ` +
            `${settings.autoAllocateBlocks ? `it holds maxBlocksPerHost IPv${family} blocks` : 'autoAllocateBlocks is off'}, and strictAffinity forbids borrowing`,
        );
      }
    }
  }

  private hasFreeAddress(request: CommandRequest, family: IpFamily): boolean {
    const now = new Date();
    const cooldownSeconds =
      request.config.ipam.cooldownSeconds ?? this.options.cache.settings().releaseCooldownSeconds;
    return this.options.cache.blocks().some((block) => {
      const cidr = blockCidr(block);
      if (cidr?.family !== family || block.spec.node !== this.node || block.spec.draining === true)
        return false;
      const reserved = reservedOrdinals(cidr, this.options.cache.reservations());
      return blockUsage(block.spec, { now, cooldownSeconds, reserved }).free > 0;
    });
  }

  /** Everyone's work in flight: ended on shutdown. */
  async settled(): Promise<void> {
    await Promise.all([...this.handleTails.values()]);
    await this.options.writer.drained();
  }
}
