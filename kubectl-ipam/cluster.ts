/** The plugin's I/O: connect as kubectl does, read a snapshot, write blocks and the IPAMConfig. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type IpamResources, ipamResources } from '../allocator/index.js';
import {
  type IPAMBlock,
  type IPAMConfig,
  type IPAMConfigSpec,
  type IPPool,
  type IPReservation,
  ipamConfigName,
  labels,
  releaseWhere,
} from '../api/index.js';
import { type Result, cidrToResourceName, cidrToString, parseCidr } from '../ipam/index.js';
import {
  type KubeObject,
  type Node,
  ApiError,
  type ObjectList,
  type ObjectMeta,
  type Pod,
  KubeClient,
  ResourceClient,
  coreResources,
  isAlreadyExists,
  isConflict,
  isGone,
  isNotFound,
  loadConnection,
} from '../kube/index.js';
import type { Connect } from './args.js';
import { type ReleaseTarget, type Verdict, judgeRelease } from './release.js';
import type { AddressView, ClusterIdentity, Snapshot } from './snapshot.js';
import { type SplitOutcome, childPool, newPoolOf, planSplit, splitChildren } from './split.js';

/** The kubeconfig kubectl would use: --kubeconfig, else the first file of $KUBECONFIG, else ~/.kube/config. */
export function kubeconfigPath(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (flag !== undefined) return flag;
  const listed = (env.KUBECONFIG ?? '')
    .split(path.delimiter)
    .find((file) => file !== '' && fs.existsSync(file));
  if (listed !== undefined) return listed;
  const home = path.join(os.homedir(), '.kube', 'config');
  return fs.existsSync(home) ? home : undefined;
}

function withPoolLabel(metadata: ObjectMeta, pool: string): ObjectMeta {
  return { ...metadata, labels: { ...metadata.labels, [labels.pool]: pool } };
}

function ignoreNotFound(error: unknown): void {
  if (!isNotFound(error)) throw error;
}

/** As kubectl's --chunk-size: objects per page of a list; 0 reads each list in one response. */
export const defaultChunkSize = 500;

/** A list's progress: how many objects of `what` have arrived so far (once per page). */
export type Progress = (what: string, count: number) => void;

/**
 * Every object of a list, read a page of `chunkSize` at a time with `limit` and `continue` as kubectl
 * does, so a large cluster is not sent in one response. The pages are one consistent read (the API server
 * serves them all at the first page's revision); when that revision has been compacted away meanwhile
 * (410 Gone) the list starts over, as kubectl's pager does.
 */
export async function listAll<T extends KubeObject>(
  resource: ResourceClient<T>,
  options: { readonly what: string; readonly chunkSize: number; readonly labelSelector?: string },
  progress: Progress = () => undefined,
): Promise<T[]> {
  for (let attempt = 1; ; attempt++) {
    const items: T[] = [];
    let next: string | undefined;
    try {
      do {
        const page = await resource.client.request<ObjectList<T>>('GET', resource.path(), {
          query: {
            labelSelector: options.labelSelector,
            limit: options.chunkSize > 0 ? options.chunkSize : undefined,
            continue: next,
          },
        });
        items.push(...page.items);
        progress(options.what, items.length);
        next = page.metadata.continue === '' ? undefined : page.metadata.continue;
      } while (next !== undefined);
      return items;
    } catch (error) {
      if (!isGone(error) || next === undefined || attempt >= 3) throw error;
    }
  }
}

export class Cluster {
  readonly resources: IpamResources;
  private readonly pods: ResourceClient<Pod>;

  private constructor(
    readonly client: KubeClient,
    private readonly chunkSize: number,
  ) {
    this.resources = ipamResources(client);
    this.pods = new ResourceClient<Pod>(client, coreResources.pods);
  }

  static connect(connect: Connect, env: NodeJS.ProcessEnv): Cluster {
    const connection = loadConnection(kubeconfigPath(connect.kubeconfig, env), connect.context);
    return new Cluster(
      new KubeClient(connection, { userAgent: 'kubectl-ipam' }),
      connect.chunkSize ?? defaultChunkSize,
    );
  }

  private list<T extends KubeObject>(
    resource: ResourceClient<T>,
    what: string,
    progress?: Progress,
    labelSelector?: string,
  ): Promise<T[]> {
    return listAll(
      resource,
      { what, chunkSize: this.chunkSize, ...(labelSelector === undefined ? {} : { labelSelector }) },
      progress,
    );
  }

  close(): void {
    this.client.close();
  }

  async identity(): Promise<ClusterIdentity> {
    try {
      const system = await new ResourceClient<KubeObject>(this.client, coreResources.namespaces).get(
        'kube-system',
      );
      return system.metadata.uid === undefined
        ? { server: this.client.server }
        : { server: this.client.server, uid: system.metadata.uid };
    } catch {
      // Not allowed to read namespaces: the server's address identifies the cluster less well, but still.
      return { server: this.client.server };
    }
  }

  /** Reads the pools, blocks and IPAMConfig; `progress` hears of each page as it arrives. */
  async addressView(progress?: Progress): Promise<AddressView> {
    // The pools first: a 404 there means the CRDs are missing, and says so before anything else fails.
    const pools = await this.list(this.resources.pools, 'pools', progress);
    const [blocks, config] = await Promise.all([
      this.list(this.resources.blocks, 'blocks', progress),
      this.config(),
    ]);
    return { pools, blocks, config };
  }

  /**
   * Every IPReservation: read for `show --ip` only, the one view that names them. The API server answers
   * 429 while it sets up a custom resource's storage on the first request to it: waited out, as kubectl does.
   */
  async reservations(): Promise<IPReservation[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.resources.reservations.list()).items;
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 429) || attempt >= 10) throw error;
        await sleep(500);
      }
    }
  }

  /** Reads everything `check` needs (large clusters take a while: every pod is listed). */
  async snapshot(progress?: Progress): Promise<Snapshot> {
    const view = await this.addressView(progress);
    const [cluster, affinities, nodes, pods] = await Promise.all([
      this.identity(),
      this.list(this.resources.affinities, 'affinities', progress),
      this.list(new ResourceClient<Node>(this.client, coreResources.nodes), 'nodes', progress),
      this.list(this.pods, 'pods', progress),
    ]);
    return { ...view, cluster, affinities, nodes, pods };
  }

  async config(): Promise<IPAMConfig | undefined> {
    try {
      return await this.resources.configs.get(ipamConfigName);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Writes the IPAMConfig: an update at the version read, or a create if there was none. */
  async writeConfig(current: IPAMConfig | undefined, spec: Partial<IPAMConfigSpec>): Promise<IPAMConfig> {
    return current === undefined
      ? this.resources.configs.create({ metadata: { name: ipamConfigName }, spec })
      : this.resources.configs.replace({ ...current, spec });
  }

  /**
   * Releases the targets of one block: reads the block and each target's pod afresh, judges each
   * (`judgeRelease`), and writes the block at the version read; on a conflict, all over again.
   */
  async releaseInBlock(
    block: string,
    targets: readonly ReleaseTarget[],
    options: {
      readonly dryRun: boolean;
      readonly releaseHeld: boolean;
      readonly graceMs: number;
      readonly now: () => Date;
    },
  ): Promise<{ target: ReleaseTarget; verdict: Verdict }[]> {
    const name = cidrToResourceName(parseCidr(block));
    for (let attempt = 1; ; attempt++) {
      const fresh = await this.readBlock(name);
      const judged = await Promise.all(
        targets.map(async (target) => ({
          target,
          verdict: judgeRelease(target, fresh, await this.readPod(target), {
            releaseHeld: options.releaseHeld,
            now: options.now().getTime(),
            graceMs: options.graceMs,
          }),
        })),
      );
      const going = judged.filter(({ verdict }) => verdict === 'release').map(({ target }) => target);
      if (fresh === undefined || going.length === 0 || options.dryRun) return judged;
      const { spec } = releaseWhere(
        fresh.spec,
        (allocation) =>
          going.some(
            (target) => target.ordinal === allocation.ordinal && target.handle === allocation.handle,
          ),
        options.now(),
      );
      try {
        await this.resources.blocks.replace({ ...fresh, spec });
        return judged;
      } catch (error) {
        if (!isConflict(error) || attempt >= 8) throw error;
      }
    }
  }

  /**
   * Splits pool `name` into `parts` (see split.ts), or says why not. Each write is a compare-and-swap at
   * the version read (a conflict reads again), and each step is skipped where an earlier run did it.
   */
  async split(name: string, parts: number): Promise<Result<SplitOutcome, string>> {
    const pools = await this.list(this.resources.pools, 'pools');
    const pool = pools.find((candidate) => candidate.metadata.name === name);
    if (pool === undefined) {
      const made = splitChildren(name, pools);
      if (made.length === 0) return { ok: false, error: `IPPool "${name}" not found` };
      // Split by an earlier run, which went as far as the old pool's deletion: nothing left to do.
      const done = made.map((child) => ({
        name: child.metadata.name,
        cidr: child.spec.cidr,
        created: false,
      }));
      return {
        ok: true,
        value: { pool: name, pools: done, disabled: false, blocksMoved: {}, blocksLeft: [] },
      };
    }
    const plan = planSplit(pool, parts, pools);
    if (!plan.ok) return plan;
    const { children } = plan.value;
    const disabled = pool.spec.disabled !== true && (await this.disable(name));
    for (const child of children) if (!child.exists) await this.createPool(childPool(pool, child));
    const blocksMoved: Record<string, number> = {};
    const blocksLeft: string[] = [];
    const inOldPool = `${labels.pool}=${name}`;
    for (const block of await this.list(this.resources.blocks, 'blocks', undefined, inOldPool)) {
      const to = newPoolOf(block, children);
      if (to === undefined) blocksLeft.push(block.spec.cidr);
      else if (await this.moveBlock(block.metadata.name, name, to))
        blocksMoved[to] = (blocksMoved[to] ?? 0) + 1;
    }
    // An affinity follows its block (same name), also one whose block an interrupted run moved.
    const newPools = new Set(children.map((child) => child.name));
    for (const affinity of await this.list(this.resources.affinities, 'affinities', undefined, inOldPool)) {
      const to = (await this.readBlock(affinity.metadata.name))?.spec.pool;
      if (to !== undefined && newPools.has(to)) await this.moveAffinity(affinity.metadata.name, name, to);
    }
    // The operator's finalizer keeps the pool until no block is left in it (one a claim confirms late).
    await this.resources.pools.delete(name).catch(ignoreNotFound);
    return {
      ok: true,
      value: {
        pool: name,
        cidr: pool.spec.cidr,
        disabled,
        pools: children.map((child) => ({
          name: child.name,
          cidr: cidrToString(child.cidr),
          created: !child.exists,
        })),
        blocksMoved,
        blocksLeft,
      },
    };
  }

  /**
   * Creates a new pool of a split. The admission webhook judges overlaps by the pools its informer has
   * seen, which may not show the old pool disabled yet: a refusal is tried again for a few seconds.
   * One made meanwhile by a run racing this one is fine (the next run checks it is the same).
   */
  private async createPool(pool: IPPool): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.resources.pools.create(pool);
        return;
      } catch (error) {
        if (isAlreadyExists(error)) return;
        if (!(error instanceof ApiError && error.status === 422) || attempt >= 20) throw error;
        await sleep(250);
      }
    }
  }

  /** Sets `disabled` on the pool; false if it already was (or is gone). */
  private async disable(name: string): Promise<boolean> {
    return this.rewrite(this.resources.pools, name, (pool) =>
      pool.spec.disabled === true ? undefined : { ...pool, spec: { ...pool.spec, disabled: true } },
    );
  }

  /** Hands a block of pool `from` to pool `to`: its spec.pool and its pool label; its addresses untouched. */
  private moveBlock(name: string, from: string, to: string): Promise<boolean> {
    return this.rewrite(this.resources.blocks, name, (block) =>
      block.spec.pool !== from
        ? undefined
        : { ...block, metadata: withPoolLabel(block.metadata, to), spec: { ...block.spec, pool: to } },
    );
  }

  private moveAffinity(name: string, from: string, to: string): Promise<boolean> {
    return this.rewrite(this.resources.affinities, name, (affinity) =>
      affinity.spec.pool !== from
        ? undefined
        : {
            ...affinity,
            metadata: withPoolLabel(affinity.metadata, to),
            spec: { ...affinity.spec, pool: to },
          },
    );
  }

  /**
   * Reads an object and writes `change(object)` at the version read, again on a conflict; false when
   * there is nothing to change (undefined) or the object is gone.
   */
  private async rewrite<T extends KubeObject>(
    resource: ResourceClient<T>,
    name: string,
    change: (object: T) => T | undefined,
  ): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      let changed: T | undefined;
      try {
        changed = change(await resource.get(name));
        if (changed === undefined) return false;
        await resource.replace(changed);
        return true;
      } catch (error) {
        if (isNotFound(error)) return false;
        if (!isConflict(error) || attempt >= 8) throw error;
      }
    }
  }

  private async readBlock(name: string): Promise<IPAMBlock | undefined> {
    try {
      return await this.resources.blocks.get(name);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private async readPod(target: ReleaseTarget): Promise<Pod | undefined> {
    if (target.namespace === undefined || target.pod === undefined) return undefined;
    try {
      return await this.pods.get(target.pod, target.namespace);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }
}
