/**
 * End to end: Debian's `ptp` plugin (containernetworking-plugins) with this plugin as its `ipam` (the
 * forwarder, asking the node's agent) and `link_local_gateway`, then the chained `topology-ipam-routes`
 * (the forwarder under its second name), as the chart's conflist has them. The "node" is a network
 * namespace made here, with two "pod" namespaces: ptp gives each pod a veth, its IPv4 and IPv6 addresses
 * with the pools' prefix lengths, routes via the link-local gateways, and the node a /32 (/128) to each
 * pod and the gateways on the host-side veths; the chained plugin adds each pod's default routes via the
 * gateways, which ptp cannot; the pods ping each other through the node, over both families. Needs root,
 * iproute2, ping and /usr/lib/cni/ptp: without them the test fails saying what to install, it is never
 * skipped.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpamResources } from '../../allocator/index.js';
import { labels } from '../../api/index.js';
import { type AdminClients, adminClients, createNodes, removeNodes } from '../../local-cluster/clients.js';
import { clusterTestContext } from '../../local-cluster/context.js';
import {
  type InstalledPlugin,
  agentSocket,
  chainedRoutesPlugin,
  debianPlugins,
  environmentFor,
  installPlugin,
  missingNamespacePrerequisites,
  removePlugin,
  startAgentProcess,
} from '../testing.js';
import { linkLocalGateways } from '../result.js';
import type { ComponentProcess } from '../../local-cluster/operator-process.js';
import { removePoolAndBlocks } from '../../local-cluster/cleanup.js';
import { createAllocatablePool } from '../../local-cluster/pools.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const suffix = randomBytes(3).toString('hex');
const nodeNetns = `tptp-${suffix}-node`;
const pods = [`tptp-${suffix}-a`, `tptp-${suffix}-b`] as const;
const node = `${prefix}-node`;
const octet = randomInt(100, 250);
const pools = [
  { name: `${prefix}-v4`, cidr: `10.${octet}.${randomInt(0, 255)}.0/24`, blockSize: 26 },
  { name: `${prefix}-v6`, cidr: `fd00:${octet.toString(16)}::/120`, blockSize: 122 },
];

let installed: InstalledPlugin | undefined;
let admin: AdminClients | undefined;
let agent: ComponentProcess | undefined;
let resources: IpamResources;
const made: string[] = [];

function plugin(): InstalledPlugin {
  if (!installed) throw new Error('the plugin is not installed');
  return installed;
}

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', stdio: 'pipe' });

/**
 * Runs Debian's ptp plugin in the node's namespace as a runtime would, with the forwarder on CNI_PATH,
 * then on ADD the chained plugin with ptp's result as prevResult, as the chart's conflist lists them.
 */
function ptpPlugin(command: 'ADD' | 'DEL', containerId: string, netns: string) {
  const network = { cniVersion: '1.0.0', name: `${prefix}-e2e` };
  const ptp = {
    ...network,
    type: 'ptp',
    ipMasq: false,
    ipam: {
      type: 'topology-ipam',
      nodename: node,
      pools: pools.map((pool) => pool.name),
      assign_ipv6: true,
      link_local_gateway: true,
      agent_socket: agentSocket(plugin(), node),
    },
  };
  const env = {
    ...environmentFor(plugin(), { command, containerId, config: {} }),
    CNI_NETNS: `/var/run/netns/${netns}`,
    CNI_PATH: `${plugin().binDir}:${debianPlugins}`,
  };
  const run = (binary: string, input: string) =>
    spawnSync('ip', ['netns', 'exec', nodeNetns, binary], { env, input, encoding: 'utf8' });
  const main = run(`${debianPlugins}/ptp`, JSON.stringify(ptp));
  if (command === 'DEL' || main.status !== 0)
    return { status: main.status, stdout: main.stdout, stderr: main.stderr };
  const { executable, stdin } = chainedRoutesPlugin(plugin(), network, main.stdout);
  const chained = run(executable, stdin);
  return { status: chained.status, stdout: chained.stdout, stderr: `${main.stdout}${chained.stderr}` };
}

const ping = (from: string, address: string) =>
  spawnSync('ip', ['netns', 'exec', from, 'ping', '-c', '1', '-W', '2', address], { encoding: 'utf8' });

beforeAll(async () => {
  const missing = missingNamespacePrerequisites();
  if (missing.length > 0) throw new Error(`the CNI end-to-end test needs: ${missing.join('; ')}`);
  installed = await installPlugin({ kubeconfig: cluster.kubeconfig });
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  await createNodes(admin.nodes, [node]);
  for (const pool of pools)
    await createAllocatablePool(resources, {
      metadata: { name: pool.name },
      spec: { cidr: pool.cidr, blockSize: pool.blockSize },
    });
  // A process of its own, as the DaemonSet runs it (ptp is run synchronously here).
  agent = await startAgentProcess(installed, node);
  for (const netns of [nodeNetns, ...pods]) {
    ip('netns', 'add', netns);
    made.push(netns);
  }
  ip('-n', nodeNetns, 'link', 'set', 'lo', 'up');
  // The gateway on each host-side veth answers at once, not after duplicate address detection.
  ip('netns', 'exec', nodeNetns, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.accept_dad=0');
}, 120_000);

afterAll(async () => {
  if (installed) {
    for (const [i, netns] of pods.entries()) ptpPlugin('DEL', `c${i}`, netns);
    if (agent) {
      agent.process.kill();
      await agent.exited;
    }
    await removePlugin(installed);
  }
  for (const netns of made) spawnSync('ip', ['netns', 'del', netns]);
  if (admin === undefined) return;
  for (const pool of pools) await removePoolAndBlocks(resources, pool.name);
  await removeNodes(admin.nodes, [node]);
  admin.client.close();
});

describe("Debian's ptp plugin with topology-ipam and its link-local gateway", () => {
  it('routes each pod through the node, which routes back with a /32 (/128), and they ping each other', () => {
    const addresses: string[][] = [];
    for (const [i, netns] of pods.entries()) {
      const added = ptpPlugin('ADD', `c${i}`, netns);
      expect(added.status, `${added.stdout}${added.stderr}`).toBe(0);
      const result = JSON.parse(added.stdout) as {
        ips: { address: string; gateway?: string }[];
        routes?: { dst: string; gw?: string }[];
      };
      // The chain's result: ptp's, with the default routes the chained plugin added.
      expect(result.routes).toEqual([
        { dst: '0.0.0.0/0', gw: linkLocalGateways[4] },
        { dst: '::/0', gw: linkLocalGateways[6] },
      ]);
      expect(result.ips.map((each) => [each.address.split('/')[1], each.gateway])).toEqual([
        ['24', linkLocalGateways[4]],
        ['120', linkLocalGateways[6]],
      ]);
      const bare = result.ips.map((each) => each.address.split('/')[0] ?? '');
      addresses.push(bare);
      const [v4, v6] = bare;
      const [pool4, pool6] = pools;
      expect(ip('-n', netns, '-4', 'route')).toContain(`${pool4?.cidr} via ${linkLocalGateways[4]} dev eth0`);
      expect(ip('-n', netns, '-6', 'route')).toContain(`${pool6?.cidr} via ${linkLocalGateways[6]} dev eth0`);
      expect(ip('-n', netns, '-6', 'route')).toContain(`default via ${linkLocalGateways[6]} dev eth0`);
      // Calico's routes exactly: the default via the gateway, and the gateway on-link.
      const routes4 = ip('-n', netns, '-4', 'route')
        .split('\n')
        .map((line) => line.trim());
      expect(routes4).toEqual(
        expect.arrayContaining([
          `default via ${linkLocalGateways[4]} dev eth0`,
          `${linkLocalGateways[4]} dev eth0 scope link src ${v4 ?? ''}`,
        ]),
      );
      const toPod = ip('-n', nodeNetns, '-o', 'route', 'get', v4 ?? '');
      const hostVeth = /dev (\S+)/.exec(toPod)?.[1] ?? '';
      expect(hostVeth).toMatch(/^veth/);
      expect(ip('-n', nodeNetns, '-6', '-o', 'route', 'get', v6 ?? '')).toContain(`dev ${hostVeth}`);
      const onVeth = ip('-n', nodeNetns, '-o', 'addr', 'show', 'dev', hostVeth);
      expect(onVeth).toContain(`${linkLocalGateways[4]}/32`);
      expect(onVeth).toContain(`${linkLocalGateways[6]}/128`);
    }
    // ptp turned forwarding on in the node's namespace: nothing here did.
    expect(ip('netns', 'exec', nodeNetns, 'sysctl', '-n', 'net.ipv4.ip_forward').trim()).toBe('1');
    const failures: string[] = [];
    for (const [from, to] of [
      [0, 1],
      [1, 0],
    ] as const)
      for (const address of addresses[to] ?? []) {
        const answer = ping(pods[from], address);
        if (answer.status !== 0)
          failures.push(`${pods[from]} → ${address}: ${answer.stdout}${answer.stderr}`);
      }
    expect(failures).toEqual([]);
  });

  it('DEL through ptp releases the addresses', async () => {
    for (const [i, netns] of pods.entries()) {
      const deleted = ptpPlugin('DEL', `c${i}`, netns);
      expect(deleted.status, `${deleted.stdout}${deleted.stderr}`).toBe(0);
    }
    const blocks = await resources.blocks.list({ labelSelector: `${labels.node}=${node}` });
    expect(blocks.items.flatMap((b) => b.spec.allocations)).toEqual([]);
  });
});
