/**
 * The chart as a user installs it: `helm install` onto a local cluster of two real nodes (rack=0 and
 * rack=1, each in network and mount namespaces of its own, as kind's nodes are) with the project's own
 * images imported into each node's containerd, and nothing of ours on the nodes beforehand: the CNI
 * DaemonSet's installer puts the forwarder and the conflist there. The cluster has no kube-proxy, so the
 * chart's `apiServer` points the operator and the agents at the API server. The first install has a pool
 * for rack 0 only; the upgrade adds rack 1's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IpamResources, ipamResources } from '../allocator/index.js';
import type { Allocation } from '../api/index.js';
import { pluginName } from '../common/index.js';
import { cidrContainsAddress, parseAddress, parseCidr } from '../ipam/index.js';
import { KubeClient, loadConnection } from '../kube/index.js';
import { eventually } from '../local-cluster/eventually.js';
import { LocalCluster } from '../local-cluster/node/cluster.js';
import { nodeFolder } from '../local-cluster/node/namespaces.js';
import { importProjectImages, projectImages } from '../local-cluster/node/project-images.js';
import { type PodJson, createDeployment, podsOf, readyPods } from '../local-cluster/node/workloads.js';
import { chartDir, helmSync } from './testing.js';

const release = 'tipam';
const namespace = 'topology-ipam';
const racks = [
  { node: 'rack-0-node-0', rack: '0', cidr: '10.77.0.0/24' },
  { node: 'rack-1-node-0', rack: '1', cidr: '10.77.1.0/24' },
] as const;
const [rack0, rack1] = racks;
const operatorName = `${release}-topology-ipam-operator`;
const daemonSetName = `${release}-topology-ipam-cni`;
const conflistFile = '10-topology-ipam.conflist';

let cluster: LocalCluster | undefined;
let resources: IpamResources;
let imageValues: Record<string, unknown>;

function started(): LocalCluster {
  if (cluster === undefined) throw new Error('no cluster');
  return cluster;
}

const kubectl = (args: readonly string[], input?: string): string => started().kubectl(args, input);

/** `repository:tag` as the chart's image values, never pulled (there is no registry). */
function imageOf(reference: string): { repository: string; tag: string; pullPolicy: 'Never' } {
  const colon = reference.lastIndexOf(':');
  if (colon <= reference.lastIndexOf('/')) throw new Error(`${reference} has no tag`);
  return { repository: reference.slice(0, colon), tag: reference.slice(colon + 1), pullPolicy: 'Never' };
}

/**
 * The values of this cluster: the API server's address (no kube-proxy), the images, the node folders
 * every node has at the same path, the agent's socket beside them (never the default path on this shared
 * host), and a pool per rack in `poolRacks`.
 */
function values(poolRacks: readonly (typeof racks)[number][], logLevel: string): Record<string, unknown> {
  return {
    apiServer: started().plane.server,
    operator: { ...(imageValues.operator as object), logLevel },
    cni: {
      ...(imageValues.cni as object),
      binDir: `${nodeFolder}/cni/bin`,
      confDir: `${nodeFolder}/cni/net.d`,
      agent: { socket: `${nodeFolder}/run/agent.sock`, logLevel },
    },
    ippools: {
      perLabelValue: {
        label: 'rack',
        cidrs: Object.fromEntries(poolRacks.map(({ rack, cidr }) => [rack, cidr])),
        spec: { blockSize: 28 },
      },
    },
  };
}

function helm(command: 'install' | 'upgrade', chartValues: Record<string, unknown>): void {
  const result = helmSync(
    started().plane.binaries.helm,
    [
      command,
      release,
      chartDir,
      '--namespace',
      namespace,
      ...(command === 'install' ? ['--create-namespace'] : []),
    ],
    { values: chartValues, kubeconfig: started().plane.kubeconfigPath },
  );
  if (!result.ok) throw new Error(result.stderr);
}

/** Waits until a workload's rollout is complete. */
async function rolledOut(workload: string): Promise<void> {
  await eventually(
    () =>
      kubectl(['rollout', 'status', '-n', namespace, workload, '--timeout=5s']).includes('successfully') ||
      undefined,
    { timeoutMs: 180_000, intervalMs: 1000 },
  );
}

async function allocations(): Promise<Allocation[]> {
  return (await resources.blocks.list()).items.flatMap((block) => block.spec.allocations);
}

const inCidr = (cidr: string, ip: string | undefined): boolean =>
  ip !== undefined && cidrContainsAddress(parseCidr(cidr), parseAddress(ip));

/** Every pod's address and allocation, by pod name: what a restart or an upgrade must leave as it is. */
async function addressesOf(
  pods: readonly PodJson[],
): Promise<Record<string, { ip: string | undefined; handle: string | undefined }>> {
  const held = await allocations();
  return Object.fromEntries(
    pods.map((pod) => {
      const allocation = held.find((candidate) => candidate.podUID === pod.metadata.uid);
      return [pod.metadata.name, { ip: pod.status?.podIP, handle: allocation?.handle }];
    }),
  );
}

beforeAll(async () => {
  // First: a cold build takes minutes (CI builds the images before the tests), a cached one seconds.
  const built = await projectImages();
  cluster = await LocalCluster.start({
    nodes: racks.map(({ node, rack }) => ({ name: node, labels: { rack } })),
    podNetwork: 'chart',
  });
  for (const node of cluster.nodes) importProjectImages(node, built);
  imageValues = {
    operator: { image: imageOf(built.images.operator) },
    cni: { image: imageOf(built.images.cni) },
  };
  resources = ipamResources(new KubeClient(loadConnection(cluster.plane.kubeconfigPath)));
  helm('install', values([rack0], 'info'));
  await rolledOut(`daemonset/${daemonSetName}`);
  await rolledOut(`deployment/${operatorName}`);
});

afterAll(() => {
  cluster?.stop();
});

describe('the chart installed with helm on real nodes', () => {
  it('runs the operator: two replicas Ready, one of them leading', () => {
    const deployment = JSON.parse(
      kubectl(['get', 'deployment', '-n', namespace, operatorName, '-o', 'json']),
    ) as {
      status: { readyReplicas?: number };
    };
    expect(deployment.status.readyReplicas).toBe(2);
    const pods = kubectl([
      'get',
      'pods',
      '-n',
      namespace,
      '-l',
      'app.kubernetes.io/component=operator',
      '-o',
      'name',
    ])
      .split('\n')
      .filter(Boolean)
      .map((name) => name.replace('pod/', ''));
    const holder = kubectl([
      'get',
      'lease',
      '-n',
      namespace,
      operatorName,
      '-o',
      'jsonpath={.spec.holderIdentity}',
    ]);
    expect(pods).toContain(holder);
  });

  it('runs the DaemonSet on every node, whose installer put the forwarder and the conflist on the node', () => {
    const daemonSet = JSON.parse(
      kubectl(['get', 'daemonset', '-n', namespace, daemonSetName, '-o', 'json']),
    ) as {
      status: { numberReady?: number };
    };
    expect(daemonSet.status.numberReady).toBe(racks.length);
    for (const node of started().nodes) {
      const forwarder = fs.statSync(path.join(node.paths.cniBinDir, pluginName));
      expect(forwarder.mode & 0o111).not.toBe(0);
      const conflist = JSON.parse(fs.readFileSync(path.join(node.paths.cniNetDir, conflistFile), 'utf8')) as {
        plugins: { type: string; ipam?: Record<string, unknown> }[];
      };
      expect(conflist.plugins[0]).toMatchObject({
        type: 'ptp',
        ipam: { type: pluginName, agent_socket: `${nodeFolder}/run/agent.sock`, link_local_gateway: true },
      });
      // The forwarder hands each command to the agent: no credentials go to the node.
      expect(fs.readdirSync(node.paths.cniNetDir)).toEqual([conflistFile]);
      expect(fs.existsSync(node.paths.agentSocket)).toBe(true);
    }
  });

  it('refuses an overlapping IPPool in its webhook, which the API server reaches through its Service', () => {
    const pool = {
      apiVersion: 'ipam.topology-ipam.dev/v1alpha1',
      kind: 'IPPool',
      metadata: { name: 'overlapping' },
      spec: { cidr: '10.77.0.128/25', nodeSelector: 'all()' },
    };
    expect(() => kubectl(['apply', '-f', '-'], JSON.stringify(pool))).toThrow(/overlaps IPPool/);
    expect(kubectl(['get', 'ippools', '-o', 'name'])).not.toContain('overlapping');
  });

  it('keeps a pod of a node no pool selects waiting, with the reason in kubectl describe pod', async () => {
    createDeployment(started(), 'rack-1', ['sleep', '3600'], { nodeName: rack1.node });
    await eventually(
      () => {
        const [pod] = podsOf(started(), 'rack-1');
        if (pod === undefined) return undefined;
        return (
          kubectl(['describe', 'pod', pod.metadata.name]).includes(
            `no IPv4 pool selects node ${rack1.node}`,
          ) || undefined
        );
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
  });

  it("gives pods of a rack-0 node addresses of rack 0's pool, and they reach each other", async () => {
    createDeployment(started(), 'servers', ['sleep', '3600'], { nodeName: rack0.node, replicas: 3 });
    const servers = await readyPods(started(), 'servers');
    expect(servers.map((pod) => pod.spec.nodeName)).toEqual(servers.map(() => rack0.node));
    const ips = servers.map((pod) => pod.status?.podIP);
    expect(ips.every((ip) => inCidr(rack0.cidr, ip))).toBe(true);
    expect(new Set(ips).size).toBe(ips.length);
    // Ready only once every server answered its pings.
    const pings = ips.map((ip) => `ping -c 2 -W 5 ${ip ?? ''}`).join(' && ');
    createDeployment(started(), 'client', ['sh', '-c', `${pings} && touch /tmp/reached && exec sleep 3600`], {
      nodeName: rack0.node,
      readyWhen: '/tmp/reached',
    });
    const [client] = await readyPods(started(), 'client');
    expect(inCidr(rack0.cidr, client?.status?.podIP)).toBe(true);
  });

  it('upgrades (both workloads rolled) with pods running: no address lost or duplicated; rack 1 gets its pool', async () => {
    const before = await addressesOf(podsOf(started(), 'servers'));
    const rolledFrom = kubectl(['get', 'pods', '-n', namespace, '-o', 'jsonpath={.items[*].metadata.name}']);
    helm('upgrade', values(racks, 'debug'));
    await rolledOut(`daemonset/${daemonSetName}`);
    await rolledOut(`deployment/${operatorName}`);
    const now = kubectl(['get', 'pods', '-n', namespace, '-o', 'jsonpath={.items[*].metadata.name}']).split(
      ' ',
    );
    expect(now.filter((pod) => rolledFrom.split(' ').includes(pod))).toEqual([]);

    const servers = podsOf(started(), 'servers');
    expect(await addressesOf(servers)).toEqual(before);
    // One allocation per pod, and no address twice.
    const owners = (await allocations()).map((allocation) => allocation.podUID);
    expect(owners.filter((uid) => servers.some((pod) => pod.metadata.uid === uid))).toHaveLength(
      servers.length,
    );
    const ips = [...servers, ...podsOf(started(), 'client')].map((pod) => pod.status?.podIP);
    expect(new Set(ips).size).toBe(ips.length);

    const [waiting] = await readyPods(started(), 'rack-1');
    expect(inCidr(rack1.cidr, waiting?.status?.podIP)).toBe(true);
  });

  it('loses nothing when containerd and then the kubelet restart under running pods', async () => {
    const node = started().nodes[0];
    if (node === undefined) throw new Error('no node');
    const before = await addressesOf(podsOf(started(), 'servers'));
    await node.restart('containerd');
    await node.restart('kubelet');
    await eventually(
      () =>
        kubectl([
          'get',
          'node',
          rack0.node,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]) === 'True' || undefined,
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    const servers = await readyPods(started(), 'servers');
    expect(await addressesOf(servers)).toEqual(before);
  });

  it("releases deleted pods' addresses", async () => {
    const uids = ['servers', 'client', 'rack-1'].flatMap((app) =>
      podsOf(started(), app).map((pod) => pod.metadata.uid),
    );
    kubectl(['delete', 'deployment', 'servers', 'client', 'rack-1', '--wait=true', '--timeout=90s']);
    await eventually(
      async () =>
        (await allocations()).some((allocation) => uids.includes(allocation.podUID ?? '')) ? undefined : true,
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
  });
});
