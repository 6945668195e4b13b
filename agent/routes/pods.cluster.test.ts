/**
 * Pods reach pods on other nodes through the agents' routes, on the real kernel and API server: three
 * "nodes" (network namespaces on one bridge, see testing.ts), each with its agent syncing routes into its
 * namespace, and two "pods" per node (namespaces given a veth and an address by Debian's ptp plugin, with
 * this IPAM and its link_local_gateway through the forwarder, as the chart's conflist does). The pool has
 * two blocks, so the third node's pods borrow addresses from the others' blocks (strictAffinity off).
 * Every pod pings every other one (one bounded ping each), and "the world" (one more namespace on the
 * nodes' segment, which has no route to the pods) through its default route, masqueraded by its node's
 * agent (natOutgoing); once a node's pods are gone and its block released, the block's routes are gone
 * everywhere.
 *
 * Nothing is routed by hand: ptp puts 169.254.1.1 on each pod's host-side veth with a /32 to the pod, and
 * in the pod the pool via 169.254.1.1; it also turns on forwarding in the node's namespace. The chained
 * topology-ipam-routes, run after ptp as the chart's conflist lists it, adds the pod's default route via
 * 169.254.1.1. Needs root, iproute2, nftables, ping and /usr/lib/cni/ptp; no traffic leaves the
 * namespaces, which are removed whatever happens.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { IpamResources } from '../../allocator/index.js';
import { labels } from '../../api/index.js';
import {
  type InstalledPlugin,
  agentSocket,
  chainedRoutesPlugin,
  debianPlugins,
  environmentFor,
  installPlugin,
  missingNamespacePrerequisites,
  removePlugin,
} from '../../cni/testing.js';
import { cidrToResourceName, parseCidr } from '../../ipam/index.js';
import { KubeClient, loadConnection } from '../../kube/index.js';
import { removePoolAndBlocks } from '../../local-cluster/cleanup.js';
import { type AdminClients, adminClients, removeNodes } from '../../local-cluster/clients.js';
import { clusterTestContext } from '../../local-cluster/context.js';
import { createAllocatablePool } from '../../local-cluster/pools.js';
import { type RunningAgent, startAgent } from '../agent.js';
import { recordSources, seenSources } from '../nat/testing.js';
import { routeProtocol } from './plan.js';
import { type NodeSegment, createNodeSegment, createSegmentNodes, ip } from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const tag = `tp${process.pid % 100_000}`;
const octet = randomInt(100, 250);
const nodeCount = 3;
const nodeName = (index: number) => `${prefix}-n${index + 1}`;
const nodeNames = Array.from({ length: nodeCount }, (_, index) => nodeName(index));
/** The namespace after the nodes' on their segment: no Node, no agent, no route to the pods. */
const world = nodeCount;
/** Two /26 blocks for three nodes: the last node to ask borrows. */
const pool = { name: `${prefix}-pool`, cidr: `10.${octet}.0.0/25` };
const network = `${prefix}-pods`;
const gateway = '169.254.1.1';

interface Pod {
  readonly node: number;
  readonly netns: string;
  readonly containerId: string;
  address: string;
}
const pods: Pod[] = Array.from({ length: nodeCount * 2 }, (_, index) => ({
  node: Math.floor(index / 2),
  netns: `${tag}-p${index + 1}`,
  containerId: `c${index + 1}`,
  address: '',
}));

let segment: NodeSegment | undefined;
let plugin: InstalledPlugin | undefined;
let admin: AdminClients | undefined;
let resources: IpamResources;
const agents: RunningAgent[] = [];
const podNamespaces: string[] = [];

const nodes = (): NodeSegment => {
  if (segment === undefined) throw new Error('the node namespaces were not made');
  return segment;
};
const installed = (): InstalledPlugin => {
  if (plugin === undefined) throw new Error('the plugin is not installed');
  return plugin;
};

/** Runs `command` in the network namespace, asynchronously: its exit status and output together. */
function inNamespace(
  netns: string,
  command: readonly string[],
  options: { readonly env?: NodeJS.ProcessEnv; readonly input?: string } = {},
): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, ...command], {
      ...(options.env === undefined ? {} : { env: options.env }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('error', reject);
    child.on('close', (status) => {
      resolve({ status, output });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Runs Debian's ptp plugin in the node's namespace, as that node's runtime would (asynchronously: the
 * agents serving its forwarder run in this process), then on ADD the chained topology-ipam-routes with
 * ptp's result, as the chart's conflist lists them.
 */
async function ptpPlugin(
  command: 'ADD' | 'DEL',
  pod: Pod,
): Promise<{ status: number | null; output: string }> {
  const config = {
    cniVersion: '1.0.0',
    name: network,
    type: 'ptp',
    ipMasq: false,
    ipam: {
      type: 'topology-ipam',
      nodename: nodeName(pod.node),
      pools: [pool.name],
      link_local_gateway: true,
      agent_socket: agentSocket(installed(), nodeName(pod.node)),
    },
  };
  const env = {
    ...environmentFor(installed(), { command, containerId: pod.containerId, config: {} }),
    CNI_NETNS: `/var/run/netns/${pod.netns}`,
    CNI_PATH: `${installed().binDir}:${debianPlugins}`,
  };
  const main = await inNamespace(nodes().netns(pod.node), [`${debianPlugins}/ptp`], {
    env,
    input: JSON.stringify(config),
  });
  if (command === 'DEL' || main.status !== 0) return main;
  const chained = chainedRoutesPlugin(installed(), { cniVersion: '1.0.0', name: network }, main.output);
  return inNamespace(nodes().netns(pod.node), [chained.executable], { env, input: chained.stdin });
}

/** One bounded ping from `from` to `to`. */
const ping = (from: Pod, to: Pod | string) =>
  inNamespace(from.netns, ['ping', '-c', '1', '-W', '2', typeof to === 'string' ? to : to.address]);

/** Our routes in the node's namespace under the pool, as `dst kind [via]` lines, sorted. */
function ourRoutes(node: number): string[] {
  return ip('-n', nodes().netns(node), '-4', 'route', 'show', 'proto', String(routeProtocol))
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.includes(`10.${octet}.`))
    .sort();
}

beforeAll(async () => {
  const missing = missingNamespacePrerequisites();
  if (spawnSync('nft', ['--version']).status !== 0) missing.push('nft (apt-get install nftables)');
  if (missing.length > 0) throw new Error(`the pod routes test needs: ${missing.join('; ')}`);
  segment = createNodeSegment(tag, nodeCount + 1, octet);
  recordSources(nodes().netns(world));
  for (const pod of pods) {
    ip('netns', 'add', pod.netns);
    podNamespaces.push(pod.netns);
  }
  plugin = await installPlugin({ kubeconfig: cluster.kubeconfig });
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  await createSegmentNodes(admin, nodes(), nodeNames, { labels: { 'topology-ipam.test/pods': prefix } });
  await createAllocatablePool(resources, {
    metadata: { name: pool.name },
    spec: {
      cidr: pool.cidr,
      blockSize: 26,
      nodeSelector: `topology-ipam.test/pods == "${prefix}"`,
      natOutgoing: true,
    },
  });
  for (let node = 0; node < nodeCount; node++) {
    const agent = await startAgent({
      node: nodeName(node),
      client: new KubeClient(loadConnection(cluster.kubeconfig), { userAgent: 'topology-ipam-agent' }),
      socketPath: agentSocket(installed(), nodeName(node)),
      routes: { netns: nodes().netns(node), resyncMs: 1_000 },
      natOutgoing: { netns: nodes().netns(node), resyncMs: 1_000 },
    });
    agents.push(agent);
    await agent.cache.synced;
    await agent.natOutgoing?.sync.firstSync;
  }
}, 120_000);

afterAll(async () => {
  if (plugin !== undefined)
    for (const pod of pods) if (pod.address !== '') await ptpPlugin('DEL', pod).catch(() => undefined);
  await Promise.all(agents.map((agent) => agent.stop(5_000)));
  if (plugin !== undefined) await removePlugin(plugin);
  for (const netns of podNamespaces) {
    try {
      ip('netns', 'del', netns);
    } catch {
      // Gone already.
    }
  }
  segment?.remove();
  if (admin === undefined) return;
  await removePoolAndBlocks(resources, pool.name);
  await removeNodes(admin.nodes, nodeNames);
  admin.client.close();
}, 60_000);

describe('pods on three nodes, routed by the agents', () => {
  it('every pod pings every other pod, also one with a borrowed address', async () => {
    // One node after the other: the first two claim the pool's two blocks, the third borrows.
    for (const pod of pods) {
      const added = await ptpPlugin('ADD', pod);
      expect(added.status, added.output).toBe(0);
      const result = JSON.parse(added.output) as { ips: { address: string; gateway?: string }[] };
      expect(result.ips.map((each) => [each.address.split('/')[1], each.gateway])).toEqual([['25', gateway]]);
      pod.address = result.ips[0]?.address.split('/')[0] ?? '';
      // What ptp made of the result: the pod's /32 and the gateway on the node's side of its veth.
      const toPod = ip('-n', nodes().netns(pod.node), '-o', 'route', 'get', pod.address);
      const hostVeth = /dev (\S+)/.exec(toPod)?.[1] ?? '';
      expect(hostVeth).toMatch(/^veth/);
      expect(ip('-n', nodes().netns(pod.node), '-o', 'addr', 'show', 'dev', hostVeth)).toContain(
        `${gateway}/32`,
      );
    }
    const blocks = await resources.blocks.list({ labelSelector: `${labels.pool}=${pool.name}` });
    const borrowed = blocks.items.flatMap((block) =>
      block.spec.allocations.filter((allocation) => allocation.node !== block.spec.node),
    );
    expect(borrowed.map((allocation) => allocation.node)).toEqual([nodeName(2), nodeName(2)]);

    // The borrowed addresses' host routes are there on the other nodes once the agents have synced.
    for (const node of [0, 1])
      await vi.waitFor(
        () => {
          const routes = ourRoutes(node);
          for (const pod of pods.filter((each) => each.node === 2))
            expect(
              routes.filter((line) => line.startsWith(`${pod.address} via ${nodes().v4(2)} `)),
            ).toHaveLength(1);
        },
        { timeout: 10_000, interval: 100 },
      );
    const failures: string[] = [];
    for (const from of pods)
      for (const to of pods) {
        if (from === to) continue;
        const answer = await ping(from, to);
        if (answer.status !== 0) failures.push(`${from.netns} → ${to.address}: ${answer.output.trim()}`);
      }
    expect(failures).toEqual([]);
  });

  it("every pod reaches the world through its default route alone, as its node's address (natOutgoing)", async () => {
    const worldAddress = nodes().v4(world);
    seenSources(nodes().netns(world));
    const failures: string[] = [];
    for (const pod of pods) {
      // The pod's only way out: no route of its own covers the world's segment.
      const podRoutes = ip('-n', pod.netns, '-4', 'route')
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '');
      expect(podRoutes).toContain(`default via ${gateway} dev eth0`);
      expect(ip('-n', pod.netns, '-4', '-o', 'route', 'get', worldAddress)).toContain(
        `via ${gateway} dev eth0`,
      );
      const answer = await ping(pod, worldAddress);
      if (answer.status !== 0) failures.push(`${pod.netns} → ${worldAddress}: ${answer.output.trim()}`);
      // The world has no route to the pods: the reply came back because the request left masqueraded.
      expect(seenSources(nodes().netns(world))).toEqual([nodes().v4(pod.node)]);
    }
    expect(failures).toEqual([]);
  });

  it("a node's block released: its routes are gone everywhere", async () => {
    // The block of the first node from which the third borrowed nothing (the pods of both go, if not).
    const blocks = await resources.blocks.list({ labelSelector: `${labels.pool}=${pool.name}` });
    const owned = blocks.items.find((block) => block.spec.node === nodeName(0));
    if (owned === undefined) throw new Error('the first node holds no block');
    const inBlock = new Set(owned.spec.allocations.map((allocation) => allocation.handle));
    for (const pod of pods) {
      if (pod.node !== 0 && !inBlock.has(`${network}.${pod.containerId}.eth0`)) continue;
      const deleted = await ptpPlugin('DEL', pod);
      expect(deleted.status, deleted.output).toBe(0);
      pod.address = '';
    }
    // As the operator releases an empty block: its affinity, then the block.
    await resources.affinities.delete(cidrToResourceName(parseCidr(owned.spec.cidr)));
    await resources.blocks.delete(owned.metadata.name);
    for (let node = 0; node < nodeCount; node++)
      await vi.waitFor(
        () => {
          const routes = ourRoutes(node);
          expect(routes.filter((line) => line.includes(owned.spec.cidr))).toEqual([]);
          // And no host route for an address of it either.
          const gone = pods.filter((pod) => pod.address === '');
          expect(routes.filter((line) => gone.some((pod) => line.startsWith(`${pod.address} `)))).toEqual([]);
        },
        { timeout: 10_000, interval: 100 },
      );
  });
});
