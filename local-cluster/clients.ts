import { type IpamResources, ipamResources } from '../allocator/index.js';
import {
  KubeClient,
  type KubeClientOptions,
  type Lease,
  type Node,
  type Pod,
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

/**
 * Creates a Pod of each name in `namespace`, bound to `node` (it never runs: no kubelet here), with
 * `annotations`: the pods whose ADDs a test sends, as the node agent's cache of the node's pods sees them.
 */
export async function createPods(
  client: KubeClient,
  options: {
    readonly node: string;
    readonly namespace: string;
    readonly names: Iterable<string>;
    readonly annotations?: Readonly<Record<string, string>>;
  },
): Promise<void> {
  const pods = new ResourceClient<Pod & { spec: { containers: unknown[] } }>(client, coreResources.pods);
  for (const name of options.names) {
    await pods.create({
      metadata: { name, namespace: options.namespace, annotations: { ...options.annotations } },
      spec: { nodeName: options.node, containers: [{ name: 'app', image: 'registry.invalid/app' }] },
    });
  }
}

/** Deletes the Pods a test created; those already gone are fine. */
export async function removePods(
  client: KubeClient,
  namespace: string,
  names: Iterable<string>,
): Promise<void> {
  const pods = new ResourceClient<Pod>(client, coreResources.pods);
  for (const name of names) await pods.delete(name, { namespace }).catch(() => undefined);
}
