/** The plugin's I/O: connect as kubectl does, read a snapshot, write blocks and the IPAMConfig. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type IpamResources, ipamResources } from '../allocator/index.js';
import {
  type IPAMBlock,
  type IPAMConfig,
  type IPAMConfigSpec,
  ipamConfigName,
  releaseWhere,
} from '../api/index.js';
import { cidrToResourceName, parseCidr } from '../ipam/index.js';
import {
  type KubeObject,
  type Node,
  type Pod,
  KubeClient,
  ResourceClient,
  coreResources,
  isConflict,
  isNotFound,
  loadConnection,
} from '../kube/index.js';
import type { Connect } from './args.js';
import { type ReleaseTarget, type Verdict, judgeRelease } from './release.js';
import type { AddressView, ClusterIdentity, Snapshot } from './snapshot.js';

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

/** The items of one list, told to `progress` as they arrive. */
async function itemsOf<T>(
  what: string,
  list: Promise<{ items: T[] }>,
  progress: (done: string) => void,
): Promise<T[]> {
  const { items } = await list;
  progress(`${String(items.length)} ${what}`);
  return items;
}

export class Cluster {
  readonly resources: IpamResources;
  private readonly pods: ResourceClient<Pod>;

  private constructor(readonly client: KubeClient) {
    this.resources = ipamResources(client);
    this.pods = new ResourceClient<Pod>(client, coreResources.pods);
  }

  static connect(connect: Connect, env: NodeJS.ProcessEnv): Cluster {
    const connection = loadConnection(kubeconfigPath(connect.kubeconfig, env), connect.context);
    return new Cluster(new KubeClient(connection, { userAgent: 'kubectl-ipam' }));
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

  /** Reads the pools, blocks and IPAMConfig; `progress` hears of each list as it arrives. */
  async addressView(progress: (done: string) => void = () => undefined): Promise<AddressView> {
    // The pools first: a 404 there means the CRDs are missing, and says so before anything else fails.
    const pools = await itemsOf('pools', this.resources.pools.list(), progress);
    const [blocks, config] = await Promise.all([
      itemsOf('blocks', this.resources.blocks.list(), progress),
      this.config(),
    ]);
    return { pools, blocks, config };
  }

  /** Reads everything `check` needs (large clusters take a while: every pod is listed). */
  async snapshot(progress: (done: string) => void = () => undefined): Promise<Snapshot> {
    const view = await this.addressView(progress);
    const [cluster, affinities, nodes, pods] = await Promise.all([
      this.identity(),
      itemsOf('affinities', this.resources.affinities.list(), progress),
      itemsOf('nodes', new ResourceClient<Node>(this.client, coreResources.nodes).list(), progress),
      itemsOf('pods', this.pods.list(), progress),
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
