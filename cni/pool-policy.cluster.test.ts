/**
 * The node side applies the same pool policy as the operator (api/pool-policy.ts): a pool whose spec
 * the operator's rules reject gives no block, even while its status still says Allocatable (written by an
 * operator of an earlier version, or before the spec's generation was looked at). The CRD cannot check a
 * selector; `global()` parses but the operator refuses it in a nodeSelector.
 */
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpamResources } from '../allocator/index.js';
import { labels } from '../api/index.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { type AdminClients, adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { createAllocatablePool } from '../local-cluster/pools.js';
import { type InstalledPlugin, bridgeNetwork, installPlugin, invokePlugin, removePlugin } from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const node = `${prefix}-node`;
const poolName = `${prefix}-global`;

let plugin: InstalledPlugin;
let admin: AdminClients | undefined;
let resources: IpamResources;

beforeAll(async () => {
  plugin = await installPlugin({ kubeconfig: cluster.kubeconfig });
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  await createNodes(admin.nodes, [node]);
}, 120_000);

afterAll(async () => {
  if ((plugin as InstalledPlugin | undefined) !== undefined) await removePlugin(plugin);
  if (admin === undefined) return;
  await removePoolAndBlocks(resources, poolName);
  await removeNodes(admin.nodes, [node]);
  admin.client.close();
});

describe('the pool policy on the node side', () => {
  it('claims no block from a pool whose spec is invalid, though its status still says Allocatable', async () => {
    await createAllocatablePool(resources, {
      metadata: { name: poolName },
      spec: { cidr: `10.${randomInt(1, 99)}.${randomInt(0, 255)}.0/24`, nodeSelector: 'global()' },
    });
    const outcome = await invokePlugin(plugin, {
      command: 'ADD',
      containerId: `${prefix}-c0`,
      config: bridgeNetwork(plugin, { name: `${prefix}-net`, node }),
    });
    expect(outcome.exitCode, outcome.stdout).toBe(1);
    expect(outcome.json?.code).toBe(101);
    expect(String(outcome.json?.details)).toContain(`${poolName}: invalid spec: spec.nodeSelector`);
    const claimed = await resources.blocks.list({ labelSelector: `${labels.node}=${node}` });
    expect(claimed.items).toEqual([]);
  });
});
