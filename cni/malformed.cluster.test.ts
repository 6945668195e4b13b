/**
 * The real plugin on a node holding blocks that today's CRDs refuse but an older version stored: it must
 * neither crash on them nor hand out or release an address from them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IPAMBlock, labels } from '../api/index.js';
import { cidrContainsAddress, cidrToResourceName, parseAddress, parseCidr } from '../ipam/index.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { withLooseCrds } from '../local-cluster/loose-crds.js';
import { type InstalledPlugin, bridgeNetwork, installPlugin, invokePlugin, removePlugin } from './testing.js';
import { createAllocatablePool } from '../local-cluster/pools.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const { client, resources, nodes } = adminClients(cluster.kubeconfig);
const node = `${prefix}-node`;
const poolName = `${prefix}-pool`;
const blockLabels = { [labels.node]: node, [labels.pool]: poolName };
let plugin: InstalledPlugin | undefined;

/** A "block" as large as a /16 of the pool's range: an address from it could be any real block's. */
const oversizedBlock: IPAMBlock = {
  metadata: { name: cidrToResourceName(parseCidr('10.94.0.0/16')), labels: blockLabels },
  spec: { cidr: '10.94.0.0/16', pool: poolName, node, allocations: [], cooling: [] },
};
const garbageBlock: IPAMBlock = {
  metadata: { name: `${prefix}-garbage`, labels: blockLabels },
  spec: { cidr: 'garbage', pool: poolName, node, allocations: [], cooling: [] },
};

const call = (command: 'ADD' | 'DEL', containerId: string) => {
  if (plugin === undefined) throw new Error('no plugin');
  return invokePlugin(plugin, {
    command,
    containerId,
    config: bridgeNetwork(plugin, { name: `${prefix}-net`, node }),
  });
};

beforeAll(async () => {
  plugin = await installPlugin({ kubeconfig: cluster.kubeconfig });
  await withLooseCrds(cluster, async () => {
    for (const block of [oversizedBlock, garbageBlock]) await resources.blocks.create(block);
  });
  await createNodes(nodes, [node], { [prefix]: 'yes' });
  // No operator runs here: the pool is marked allocatable as it would.
  await createAllocatablePool(resources, {
    metadata: { name: poolName },
    spec: { cidr: '10.94.0.0/24', blockSize: 26, nodeSelector: `has(${prefix})` },
  });
}, 240_000);

afterAll(async () => {
  if (plugin !== undefined) await removePlugin(plugin);
  await removePoolAndBlocks(resources, poolName);
  await removeNodes(nodes, [node]);
  client.close();
});

describe('the plugin on a node with malformed blocks', () => {
  it('assigns from a well-formed block it claims, never from the malformed ones, and releases it', async () => {
    const added = await call('ADD', 'c1');
    expect(added.exitCode, added.stdout + added.stderr).toBe(0);
    const ips = added.json?.ips as { address: string }[] | undefined;
    const address = ips?.[0]?.address ?? '';
    expect(address).toMatch(/\/26$/);
    const holding = (await resources.blocks.list({ labelSelector: `${labels.node}=${node}` })).items.filter(
      (block) => block.spec.allocations.length > 0,
    );
    expect(holding.map((block) => block.spec.cidr)).toEqual(['10.94.0.0/26']);
    expect(cidrContainsAddress(parseCidr('10.94.0.0/26'), parseAddress(address.replace(/\/\d+$/, '')))).toBe(
      true,
    );

    const deleted = await call('DEL', 'c1');
    expect(deleted.exitCode, deleted.stdout + deleted.stderr).toBe(0);
    const released = await resources.blocks.get(cidrToResourceName(parseCidr('10.94.0.0/26')));
    expect(released.spec.allocations).toEqual([]);
  });

  it('leaves the malformed blocks as they were', async () => {
    for (const block of [oversizedBlock, garbageBlock]) {
      expect((await resources.blocks.get(block.metadata.name)).spec).toEqual(block.spec);
    }
  });
});
