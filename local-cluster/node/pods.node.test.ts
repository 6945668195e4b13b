/**
 * Real pods on a real node of a local cluster: a kubelet and containerd registered against a control
 * plane with a controller-manager and a scheduler, the pod network set up by this project's installer
 * code, forwarder and node agent. Pods come from Deployments and the scheduler places them. Proves that
 * a pod waits, with the reason in its events, until a pool selects its node; that its address then comes
 * from its rack's pool and is recorded on a block under the pod's handle; that pods on the node reach
 * each other; and that deleting them releases their addresses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IpamResources, ipamResources } from '../../allocator/index.js';
import type { Allocation } from '../../api/index.js';
import { cidrContainsAddress, parseAddress, parseCidr } from '../../ipam/index.js';
import { KubeClient, loadConnection } from '../../kube/index.js';
import { eventually } from '../eventually.js';
import { createAllocatablePool } from '../pools.js';
import { LocalCluster } from './cluster.js';
import { networkName } from './node.js';
import { type PodJson, createDeployment, podsOf, readyPods } from './workloads.js';

const nodeName = 'rack-0-node-0';
const pool = { name: 'rack-0', cidr: '10.77.0.0/24' };

let cluster: LocalCluster | undefined;
let resources: IpamResources;

function started(): LocalCluster {
  if (cluster === undefined) throw new Error('no cluster');
  return cluster;
}

const kubectl = (args: readonly string[], input?: string): string => started().kubectl(args, input);

/** Waits until the Deployment's pod is Ready and returns it. */
async function readyPod(app: string): Promise<PodJson> {
  const [pod] = await readyPods(started(), app);
  if (pod === undefined) throw new Error(`no pod of ${app}`);
  return pod;
}

/** The sandbox containerd made for the pod: its id is the container id CNI was called with. */
function sandboxOf(podUid: string): string {
  const node = cluster?.nodes[0];
  if (node === undefined) throw new Error('no node');
  for (const id of node.ctr(['containers', 'list', '--quiet']).split('\n').filter(Boolean)) {
    const info = JSON.parse(node.ctr(['containers', 'info', id])) as { Labels?: Record<string, string> };
    if (
      info.Labels?.['io.cri-containerd.kind'] === 'sandbox' &&
      info.Labels['io.kubernetes.pod.uid'] === podUid
    )
      return id;
  }
  throw new Error(`no sandbox for pod ${podUid}`);
}

async function allocations(): Promise<Allocation[]> {
  const blocks = (await resources.blocks.list()).items;
  return blocks.flatMap((block) => block.spec.allocations);
}

beforeAll(async () => {
  cluster = await LocalCluster.start({ nodes: [{ name: nodeName, labels: { rack: '0' } }] });
  resources = ipamResources(new KubeClient(loadConnection(cluster.plane.kubeconfigPath)));
});

afterAll(() => {
  cluster?.stop();
});

describe('a real node', () => {
  it('registers with its rack label', () => {
    const labels = JSON.parse(
      kubectl(['get', 'node', nodeName, '-o', 'jsonpath={.metadata.labels}']),
    ) as Record<string, string>;
    expect(labels.rack).toBe('0');
  });

  it("runs pods with addresses from the rack's pool, reachable from each other, released on delete", async () => {
    // Before any pool selects the node, the reason is in the pod's events, where `kubectl describe` shows it.
    createDeployment(started(), 'server', ['sleep', '3600']);
    await eventually(
      () =>
        kubectl(['get', 'events', '--field-selector', 'involvedObject.kind=Pod', '-o', 'json']).includes(
          `no IPv4 pool selects node ${nodeName}`,
        ) || undefined,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    await createAllocatablePool(resources, {
      metadata: { name: pool.name },
      spec: { cidr: pool.cidr, blockSize: 28, nodeSelector: 'rack == "0"' },
    });
    const server = await readyPod('server');
    expect(server.spec.nodeName).toBe(nodeName);
    const ip = server.status?.podIP ?? '';
    expect(cidrContainsAddress(parseCidr(pool.cidr), parseAddress(ip))).toBe(true);

    const blocks = (await resources.blocks.list()).items;
    const holder = blocks.find((block) =>
      block.spec.allocations.some((allocation) => allocation.pod === server.metadata.name),
    );
    expect(holder && cidrContainsAddress(parseCidr(holder.spec.cidr), parseAddress(ip))).toBe(true);
    expect(
      holder?.spec.allocations.find((allocation) => allocation.pod === server.metadata.name),
    ).toMatchObject({
      handle: `${networkName}.${sandboxOf(server.metadata.uid)}.eth0`,
      namespace: 'default',
      podUID: server.metadata.uid,
      node: nodeName,
    });

    // Ready only once its ping got answers: the probe reads the file written after a successful ping.
    createDeployment(
      started(),
      'client',
      ['sh', '-c', `ping -c 3 -W 5 ${ip} && touch /tmp/reached && exec sleep 3600`],
      { readyWhen: '/tmp/reached' },
    );
    const client = await readyPod('client');
    expect(client.status?.podIP).not.toBe(ip);

    kubectl(['delete', 'deployment', 'server', 'client', '--wait=true', '--timeout=90s']);
    const left = (): number => podsOf(started(), 'server').length + podsOf(started(), 'client').length;
    await eventually(() => (left() === 0 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    await eventually(
      async () =>
        (await allocations()).some((allocation) => allocation.node === nodeName) ? undefined : true,
      { timeoutMs: 60_000 },
    );
  });
});
