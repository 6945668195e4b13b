import { type IpamResources, ipamResources } from '../allocator/index.js';
import {
  KubeClient,
  type KubeClientOptions,
  type Lease,
  type Node,
  ResourceClient,
  coreResources,
  loadConnection,
} from '../kube/index.js';

/** What a cluster test sets up and checks with, as the cluster's administrator. */
export interface AdminClients {
  readonly client: KubeClient;
  readonly resources: IpamResources;
  readonly nodes: ResourceClient<Node>;
  readonly leases: ResourceClient<Lease>;
}

/** One client on `kubeconfig` and the resource clients over it; `client.close()` when done. */
export function adminClients(kubeconfig: string, options?: KubeClientOptions): AdminClients {
  const client = new KubeClient(loadConnection(kubeconfig), options);
  return {
    client,
    resources: ipamResources(client),
    nodes: new ResourceClient<Node>(client, coreResources.nodes),
    leases: new ResourceClient<Lease>(client, coreResources.leases),
  };
}

/** Creates a Node of each name, all with `labels` when given (tests select them by a label of theirs). */
export async function createNodes(
  nodes: ResourceClient<Node>,
  names: Iterable<string>,
  labels?: Readonly<Record<string, string>>,
): Promise<void> {
  for (const name of names) {
    await nodes.create({ metadata: labels === undefined ? { name } : { name, labels: { ...labels } } });
  }
}

/** Deletes the Nodes a test created; those already gone are fine. */
export async function removeNodes(nodes: ResourceClient<Node>, names: Iterable<string>): Promise<void> {
  for (const name of names) await nodes.delete(name).catch(() => undefined);
}
