/**
 * natOutgoing on the real kernel, from the real API server: a "node" network namespace holding a bridge
 * with two "pods" (namespaces given their addresses by Debian's bridge plugin and this IPAM), one in
 * natOutgoing pools (IPv4 and IPv6), one in a pool without; and "the world", a fourth namespace on the
 * node's other link that records the source of every ping it receives (an nftables set of its own).
 * The node's agent keeps its table from the pools and Node addresses. Needs root, iproute2, nftables,
 * ping and /usr/lib/cni/bridge; no packet leaves the namespaces, which are removed whatever happens.
 */
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { IpamResources } from '../../allocator/index.js';
import { type LogFields, callbackLogger } from '../../common/index.js';
import { KubeClient, type RequestOptions, type WatchEvent, loadConnection } from '../../kube/index.js';
import { type AdminClients, adminClients, createNodes, removeNodes } from '../../local-cluster/clients.js';
import { removePoolAndBlocks } from '../../local-cluster/cleanup.js';
import { clusterTestContext } from '../../local-cluster/context.js';
import { createAllocatablePool } from '../../local-cluster/pools.js';
import {
  type InstalledPlugin,
  agentSocket,
  environmentFor,
  installPlugin,
  removePlugin,
} from '../../cni/testing.js';
import { type RunningAgent, startAgent } from '../agent.js';
import { parseTable } from './nft-json.js';
import { natSetNames } from './plan.js';
import type { InstalledTable } from './table.js';
import { nft, recordSources, seenSources } from './testing.js';

const debianPlugins = '/usr/lib/cni';
const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const tag = `tn${process.pid % 100_000}`;
const ns = {
  node: `${tag}-node`,
  world: `${tag}-world`,
  natPod: `${tag}-pa`,
  plainPod: `${tag}-pb`,
} as const;
const bridge = `${tag}br`;
const octet = randomInt(100, 250);
const hex = octet.toString(16);
const nodeName = `${prefix}-node`;
const node = { v4: `172.30.${octet}.1`, v6: `fd00:${hex}::1` };
const world = { v4: `172.30.${octet}.2`, v6: `fd00:${hex}::2` };
const pools = {
  nat4: { name: `${prefix}-nat4`, cidr: `10.${octet}.0.0/24`, natOutgoing: true },
  nat6: { name: `${prefix}-nat6`, cidr: `fd10:${hex}::/120`, natOutgoing: true },
  plain4: { name: `${prefix}-plain4`, cidr: `10.${octet}.1.0/24`, natOutgoing: false },
};
/** The pods' gateway: addresses of the node's bridge, as Calico's 169.254.1.1. */
const gateway = { v4: '169.254.1.1', v6: 'fe80::1' };
const foreignTable = ['ip', 'topology-ipam'] as const;

let plugin: InstalledPlugin | undefined;
let admin: AdminClients | undefined;
let resources: IpamResources;
let agent: RunningAgent | undefined;
const podIps = { natPod: { v4: '', v6: '' }, plainPod: { v4: '', v6: '' } };

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', stdio: 'pipe' });
function missingPrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (network namespaces and a bridge are created)');
  if (spawnSync(`${debianPlugins}/bridge`, []).error !== undefined)
    missing.push(`${debianPlugins}/bridge (apt-get install containernetworking-plugins)`);
  if (spawnSync('nft', ['--version']).status !== 0) missing.push('nft (apt-get install nftables)');
  if (spawnSync('ping', ['-V']).status !== 0) missing.push('ping (apt-get install iputils-ping)');
  return missing;
}

async function startNodeAgent(): Promise<RunningAgent> {
  if (plugin === undefined) throw new Error('the plugin is not installed');
  // An hour between resyncs: a change the test makes reaches the table through the watches alone.
  agent = await startAgent({
    node: nodeName,
    client: new KubeClient(loadConnection(cluster.kubeconfig), { userAgent: 'topology-ipam-agent' }),
    socketPath: agentSocket(plugin, nodeName),
    natOutgoing: { netns: ns.node, resyncMs: 3_600_000 },
  });
  await agent.natOutgoing?.sync.firstSync;
  return agent;
}

/** Debian's bridge plugin run in the node's namespace, as a runtime there would; not blocking the agent. */
function bridgePlugin(command: 'ADD' | 'DEL', pod: keyof typeof podIps, ipam: Record<string, unknown>) {
  if (plugin === undefined) throw new Error('the plugin is not installed');
  const env = {
    ...environmentFor(plugin, { command, containerId: pod, config: {} }),
    CNI_NETNS: `/var/run/netns/${ns[pod]}`,
    CNI_PATH: `${plugin.binDir}:${debianPlugins}`,
  };
  const config = {
    cniVersion: '1.0.0',
    name: `${prefix}-nat`,
    type: 'bridge',
    bridge,
    isGateway: false,
    ipMasq: false,
    ipam: { type: 'topology-ipam', nodename: nodeName, agent_socket: agentSocket(plugin, nodeName), ...ipam },
  };
  const child = spawn('ip', ['netns', 'exec', ns.node, `${debianPlugins}/bridge`], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(JSON.stringify(config));
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (status) => {
      resolve({ status, stdout, stderr });
    }),
  );
}

const ipamOf = {
  natPod: { ipv4_pools: [pools.nat4.name], ipv6_pools: [pools.nat6.name], assign_ipv6: true },
  plainPod: { ipv4_pools: [pools.plain4.name] },
};

/** Adds the pod, then what the main plugin of a routed network would: routes via the bridge both ways. */
async function addPod(pod: keyof typeof podIps): Promise<void> {
  const added = await bridgePlugin('ADD', pod, ipamOf[pod]);
  expect(added.status, added.stdout + added.stderr).toBe(0);
  const result = JSON.parse(added.stdout) as { ips: { address: string }[] };
  for (const { address } of result.ips) {
    const bare = address.split('/')[0] ?? '';
    if (bare.includes(':')) {
      podIps[pod].v6 = bare;
      ip('-n', ns.node, '-6', 'route', 'add', `${bare}/128`, 'dev', bridge);
      ip('-n', ns[pod], '-6', 'route', 'add', 'default', 'via', gateway.v6, 'dev', 'eth0');
    } else {
      podIps[pod].v4 = bare;
      ip('-n', ns.node, 'route', 'add', `${bare}/32`, 'dev', bridge);
      ip('-n', ns[pod], 'route', 'add', gateway.v4, 'dev', 'eth0', 'scope', 'link');
      ip('-n', ns[pod], 'route', 'add', 'default', 'via', gateway.v4, 'dev', 'eth0');
    }
  }
}

/** One bounded ping; whether a reply came does not matter to what the receiver records. */
function ping(from: string, to: string): boolean {
  return spawnSync('ip', ['netns', 'exec', from, 'ping', '-c', '1', '-W', '2', to]).status === 0;
}

const ourTable = (): InstalledTable =>
  parseTable(nft(ns.node, ['-j', 'list', 'table', 'inet', 'topology-ipam']));
/** Read without blocking the event loop, which the in-process agent shares with the test. */
const ourTableNow = async (): Promise<InstalledTable> => {
  const { stdout } = await promisify(execFile)('ip', [
    'netns',
    'exec',
    ns.node,
    'nft',
    '-j',
    'list',
    'table',
    'inet',
    'topology-ipam',
  ]);
  return parseTable(stdout);
};
const elementsOf = (table: InstalledTable, name: string) =>
  table.sets.find((set) => set.name === name)?.elements ?? [];
/** The handle of our table: a replace deletes and re-adds it, so an unchanged handle means no write. */
const ourHandle = () =>
  (
    JSON.parse(nft(ns.node, ['-j', 'list', 'tables', 'inet'])) as {
      nftables: { table?: { name: string; handle: number } }[];
    }
  ).nftables.find((entry) => entry.table?.name === 'topology-ipam')?.table?.handle;
const foreignSnapshot = () => nft(ns.node, ['-j', 'list', 'table', ...foreignTable]);

beforeAll(async () => {
  const missing = missingPrerequisites();
  if (missing.length > 0) throw new Error(`the natOutgoing test needs: ${missing.join('; ')}`);
  for (const name of Object.values(ns)) ip('netns', 'add', name);
  for (const name of Object.values(ns)) ip('-n', name, 'link', 'set', 'lo', 'up');
  ip('-n', ns.node, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.world);
  for (const [name, address] of [
    [ns.node, node],
    [ns.world, world],
  ] as const) {
    ip('-n', name, 'addr', 'add', `${address.v4}/24`, 'dev', 'eth0');
    ip('-n', name, 'addr', 'add', `${address.v6}/64`, 'dev', 'eth0', 'nodad');
    ip('-n', name, 'link', 'set', 'eth0', 'up');
  }
  for (const sysctl of ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1'])
    execFileSync('ip', ['netns', 'exec', ns.node, 'sysctl', '-qw', sysctl]);
  recordSources(ns.world);
  recordSources(ns.plainPod);
  // Not ours although named like ours: another family. It must come through untouched.
  nft(
    ns.node,
    ['-f', '-'],
    [
      `table ${foreignTable.join(' ')} {`,
      '\tset theirs { type ipv4_addr; elements = { 203.0.113.7 } }',
      '\tchain postrouting {',
      '\t\ttype nat hook postrouting priority 200; policy accept;',
      '\t\tip saddr @theirs masquerade',
      '\t}',
      '}',
      '',
    ].join('\n'),
  );

  plugin = await installPlugin({ kubeconfig: cluster.kubeconfig });
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  await createNodes(admin.nodes, [nodeName]);
  const created = await admin.nodes.get(nodeName);
  await admin.nodes.replaceStatus({
    ...created,
    status: {
      addresses: [
        { type: 'InternalIP', address: node.v4 },
        { type: 'InternalIP', address: node.v6 },
        { type: 'Hostname', address: nodeName },
      ],
    },
  });
  for (const pool of Object.values(pools))
    await createAllocatablePool(resources, {
      metadata: { name: pool.name },
      spec: { cidr: pool.cidr, natOutgoing: pool.natOutgoing },
    });
  await startNodeAgent();
  await addPod('natPod');
  await addPod('plainPod');
  ip('-n', ns.node, 'addr', 'add', `${gateway.v4}/32`, 'dev', bridge);
  ip('-n', ns.node, 'addr', 'add', `${gateway.v6}/64`, 'dev', bridge, 'nodad');
}, 300_000);

afterAll(async () => {
  if (plugin !== undefined && agent !== undefined)
    for (const pod of ['natPod', 'plainPod'] as const) await bridgePlugin('DEL', pod, ipamOf[pod]);
  await agent?.stop(5_000);
  if (plugin !== undefined) await removePlugin(plugin);
  for (const name of Object.values(ns)) spawnSync('ip', ['netns', 'del', name]);
  if (admin === undefined) return;
  for (const pool of Object.values(pools)) await removePoolAndBlocks(resources, pool.name);
  await removeNodes(admin.nodes, [nodeName]);
  admin.client.close();
});

describe('natOutgoing from the node agent', () => {
  it('puts the pools and node addresses in its table, v4 and v6', () => {
    const table = ourTable();
    expect(agent?.natOutgoing?.sync.lastError).toBeUndefined();
    expect(elementsOf(table, natSetNames(4).sources)).toContain(pools.nat4.cidr);
    expect(elementsOf(table, natSetNames(4).sources)).not.toContain(pools.plain4.cidr);
    expect(elementsOf(table, natSetNames(6).sources)).toContain(pools.nat6.cidr);
    expect(elementsOf(table, natSetNames(4).pools)).toEqual(
      expect.arrayContaining([pools.nat4.cidr, pools.plain4.cidr]),
    );
    expect(elementsOf(table, natSetNames(4).nodes)).toContain(`${node.v4}/32`);
    expect(elementsOf(table, natSetNames(6).nodes)).toContain(`${node.v6}/128`);
  });

  it("masquerades a natOutgoing pod's traffic to the world: the world sees the node's address, v4 and v6", () => {
    seenSources(ns.world);
    expect(ping(ns.natPod, world.v4)).toBe(true);
    expect(ping(ns.natPod, world.v6)).toBe(true);
    expect(seenSources(ns.world)).toEqual([node.v4, node.v6].sort());
  });

  it('leaves pod-to-pod traffic alone, and the traffic of a pool without natOutgoing', () => {
    seenSources(ns.plainPod);
    expect(ping(ns.natPod, podIps.plainPod.v4)).toBe(true);
    expect(seenSources(ns.plainPod)).toEqual([podIps.natPod.v4]);
    seenSources(ns.world);
    // No reply can come back (the world has no route to the pods): the request is what counts.
    ping(ns.plainPod, world.v4);
    expect(seenSources(ns.world)).toEqual([podIps.plainPod.v4]);
  });

  it('follows a pool that turns natOutgoing on, from the watch alone', async () => {
    const changed = Date.now();
    await resources.pools.mergePatch(pools.plain4.name, { spec: { natOutgoing: true } });
    await vi.waitFor(
      async () => {
        expect(elementsOf(await ourTableNow(), natSetNames(4).sources)).toContain(pools.plain4.cidr);
      },
      { timeout: 10_000, interval: 50 },
    );
    // Shown, not asserted (timings are not): the issue asks for within a second.
    console.info(`natOutgoing table updated ${String(Date.now() - changed)} ms after the pool changed`);
    seenSources(ns.world);
    expect(ping(ns.plainPod, world.v4)).toBe(true);
    expect(seenSources(ns.world)).toEqual([node.v4]);
  });

  it('a restarted agent rewrites nothing, and a table not ours is never touched', async () => {
    const before = { handle: ourHandle(), table: ourTable(), foreign: foreignSnapshot() };
    expect(before.handle).toBeDefined();
    await agent?.stop(5_000);
    agent = undefined;
    expect(ourHandle()).toBe(before.handle);
    const restarted = await startNodeAgent();
    await restarted.natOutgoing?.sync.settled();
    expect(restarted.natOutgoing?.sync.lastError).toBeUndefined();
    expect(ourHandle()).toBe(before.handle);
    expect(ourTable()).toEqual(before.table);
    expect(foreignSnapshot()).toBe(before.foreign);
  });
  it('with routes on too, keeps one watch of the Nodes for both; counts a failed sync on /metrics and logs what to do', async () => {
    if (plugin === undefined) throw new Error('the plugin is not installed');
    const nodeWatches: string[] = [];
    class RecordingClient extends KubeClient {
      override watch<T>(
        path: string,
        options: RequestOptions,
        onEvent: (event: WatchEvent<T>) => void,
      ): Promise<void> {
        // The agent's own Node is watched apart, by a field selector.
        if (path.endsWith('/nodes') && options.query?.fieldSelector === undefined) nodeWatches.push(path);
        return super.watch(path, options, onEvent);
      }
    }
    const warnings: LogFields[] = [];
    // A namespace that does not exist: every `ip -n` and `ip netns exec` fails.
    const absent = { netns: `${tag}-absent`, resyncMs: 3_600_000 };
    const both = await startAgent({
      node: nodeName,
      client: new RecordingClient(loadConnection(cluster.kubeconfig), { userAgent: 'topology-ipam-agent' }),
      socketPath: agentSocket(plugin, `${nodeName}-both`),
      routes: absent,
      natOutgoing: absent,
      log: callbackLogger((level, message, fields) => {
        if (level === 'warn' && message.startsWith('natOutgoing table not synced')) warnings.push(fields);
      }),
    });
    try {
      await both.natOutgoing?.sync.firstSync;
      await both.routes?.sync.firstSync;
      expect(both.natOutgoing?.sync.lastError).toMatch(/absent/);
      expect(warnings[0]).toMatchObject({ natOutgoing: true, advice: expect.any(String) as unknown });
      const metrics = await both.metrics.registry.metrics();
      expect(metrics).toMatch(/^topology_ipam_agent_nat_sync_errors_total [1-9]/m);
      expect(metrics).toMatch(/^topology_ipam_agent_route_sync_errors_total [1-9]/m);
      await vi.waitFor(
        () => {
          expect(nodeWatches.length).toBeGreaterThan(0);
        },
        { timeout: 10_000, interval: 50 },
      );
      expect(nodeWatches).toHaveLength(1);
    } finally {
      await both.stop(5_000);
    }
  });
});
