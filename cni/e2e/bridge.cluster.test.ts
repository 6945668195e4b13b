/**
 * End to end: Debian's `bridge` plugin (containernetworking-plugins) with this plugin as its `ipam` (the
 * forwarder, asking the node's agent), in two network namespaces created here. Each namespace gets its
 * address on eth0 from the node's block, and the two ping each other over the bridge. Needs root,
 * iproute2, ping and /usr/lib/cni/bridge: without them the test fails saying what to install, it is never
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
  debianPlugins,
  environmentFor,
  installPlugin,
  missingNamespacePrerequisites,
  removePlugin,
  startAgentProcess,
} from '../testing.js';
import type { ComponentProcess } from '../../local-cluster/operator-process.js';
import { removePoolAndBlocks } from '../../local-cluster/cleanup.js';
import { createAllocatablePool } from '../../local-cluster/pools.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const suffix = randomBytes(3).toString('hex');
const bridge = `tipam${suffix}`; // at most 15 characters
const namespaces = [`tipam-${suffix}-a`, `tipam-${suffix}-b`] as const;
const node = `${prefix}-node`;
const pool = { name: `${prefix}-pool`, cidr: `10.${randomInt(100, 250)}.${randomInt(0, 255)}.0/24` };

let installed: InstalledPlugin | undefined;
let admin: AdminClients | undefined;
let agent: ComponentProcess | undefined;
let resources: IpamResources;

function plugin(): InstalledPlugin {
  if (!installed) throw new Error('the plugin is not installed');
  return installed;
}

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', stdio: 'pipe' });

function networkConfig(): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: `${prefix}-e2e`,
    type: 'bridge',
    bridge,
    isGateway: false,
    ipMasq: false,
    ipam: {
      type: 'topology-ipam',
      nodename: node,
      pools: [pool.name],
      agent_socket: agentSocket(plugin(), node),
    },
  };
}

/** Runs Debian's bridge plugin as a runtime would, with our plugin (the forwarder) on CNI_PATH. */
function bridgePlugin(
  command: 'ADD' | 'DEL' | 'CHECK',
  containerId: string,
  netns: string,
  prevResult?: unknown,
) {
  const env = {
    ...environmentFor(plugin(), { command, containerId, config: {} }),
    CNI_NETNS: `/var/run/netns/${netns}`,
    CNI_PATH: `${plugin().binDir}:${debianPlugins}`,
  };
  const config = prevResult === undefined ? networkConfig() : { ...networkConfig(), prevResult };
  const run = spawnSync(`${debianPlugins}/bridge`, [], {
    env,
    input: JSON.stringify(config),
    encoding: 'utf8',
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

beforeAll(async () => {
  const missing = missingNamespacePrerequisites();
  if (missing.length > 0) throw new Error(`the CNI end-to-end test needs: ${missing.join('; ')}`);
  installed = await installPlugin({ kubeconfig: cluster.kubeconfig });
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  await createNodes(admin.nodes, [node]);
  await createAllocatablePool(resources, {
    metadata: { name: pool.name },
    spec: { cidr: pool.cidr, blockSize: 26 },
  });
  // The node's agent, which the forwarder that bridge runs asks for the addresses: a process of its own,
  // as the DaemonSet runs it (bridge is run synchronously here, which would stall an in-process agent).
  agent = await startAgentProcess(installed, node);
  for (const ns of namespaces) ip('netns', 'add', ns);
}, 120_000);

afterAll(async () => {
  if (installed) {
    for (const [i, ns] of namespaces.entries()) bridgePlugin('DEL', `c${i}`, ns);
    if (agent) {
      agent.process.kill();
      await agent.exited;
    }
    await removePlugin(installed);
  }
  for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns]);
  spawnSync('ip', ['link', 'del', bridge]);
  if (admin === undefined) return;
  await removePoolAndBlocks(resources, pool.name);
  await removeNodes(admin.nodes, [node]);
  admin.client.close();
});

describe("Debian's bridge plugin with topology-ipam as its ipam", () => {
  it('gives each namespace its address on eth0, and they ping each other over the bridge', () => {
    const addresses: string[] = [];
    const results: unknown[] = [];
    for (const [i, ns] of namespaces.entries()) {
      const added = bridgePlugin('ADD', `c${i}`, ns);
      expect(added.status, `${added.stdout}${added.stderr}`).toBe(0);
      const result = JSON.parse(added.stdout) as {
        ips: { address: string }[];
        interfaces: { name: string }[];
      };
      results.push(result);
      const address = result.ips[0]?.address ?? '';
      expect(address).toMatch(/\/26$/);
      expect(ip('-n', ns, '-o', 'addr', 'show', 'dev', 'eth0')).toContain(`inet ${address}`);
      addresses.push(address.split('/')[0] ?? '');
    }
    expect(addresses[0]).not.toBe(addresses[1]);
    const [a, b] = namespaces;
    const ping = spawnSync('ip', ['netns', 'exec', a, 'ping', '-c', '3', '-W', '2', addresses[1] ?? ''], {
      encoding: 'utf8',
    });
    expect(ping.status, ping.stdout + ping.stderr).toBe(0);
    const back = spawnSync('ip', ['netns', 'exec', b, 'ping', '-c', '1', '-W', '2', addresses[0] ?? ''], {
      encoding: 'utf8',
    });
    expect(back.status, back.stdout + back.stderr).toBe(0);

    // The runtime's CHECK goes through bridge to our CHECK, with the previous result. (The bridge's MAC
    // changes as ports join, and bridge's CHECK compares it: only the last result has the current one.)
    const check = bridgePlugin('CHECK', 'c1', b, results[1]);
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  });

  it('DEL through the bridge plugin releases the addresses', async () => {
    for (const [i, ns] of namespaces.entries()) {
      const deleted = bridgePlugin('DEL', `c${i}`, ns);
      expect(deleted.status, `${deleted.stdout}${deleted.stderr}`).toBe(0);
    }
    const blocks = await resources.blocks.list({ labelSelector: `${labels.node}=${node}` });
    expect(blocks.items.flatMap((b) => b.spec.allocations)).toEqual([]);
  });
});
