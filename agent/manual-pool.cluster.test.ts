/**
 * A Manual pool serves only the networks that name it: once the node holds a block of it (for a network
 * that named it), a network that names no pool must still get its addresses from the Automatic pools.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpamResources } from '../allocator/index.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { type AdminClients, adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { createAllocatablePool } from '../local-cluster/pools.js';
import type { RunningAgent } from './agent.js';
import { type AgentAnswer, addressOf, askIpam, startSyncedAgent } from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const node = `${prefix}-node`;
const octet = randomInt(100, 250);
const pools = {
  manual: { name: `${prefix}-manual`, cidr: `10.${octet}.1.0/26`, assignmentMode: 'Manual' },
  automatic: { name: `${prefix}-auto`, cidr: `10.${octet}.2.0/26`, assignmentMode: 'Automatic' },
} as const;
let dir: string;
let admin: AdminClients;
let resources: IpamResources;
let agent: RunningAgent;

const add = (containerId: string, ipam: Record<string, unknown>): Promise<AgentAnswer> =>
  askIpam(agent.socketPath, { command: 'ADD', containerId, network: `${prefix}-net`, ipam });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-manual-'));
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  await createNodes(admin.nodes, [node], { 'topology-ipam.test/manual': prefix });
  for (const pool of Object.values(pools)) {
    await createAllocatablePool(resources, {
      metadata: { name: pool.name },
      spec: {
        cidr: pool.cidr,
        blockSize: 28,
        assignmentMode: pool.assignmentMode,
        nodeSelector: `topology-ipam.test/manual == "${prefix}"`,
      },
    });
  }
  agent = await startSyncedAgent(cluster.kubeconfig, node, path.join(dir, 'agent.sock'));
});

afterAll(async () => {
  await agent.stop(5_000);
  for (const pool of Object.values(pools)) await removePoolAndBlocks(resources, pool.name);
  await removeNodes(admin.nodes, [node]);
  admin.client.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a Manual pool on the node agent', () => {
  it('gives addresses only to the networks that name it, even from a block the node holds', async () => {
    const named = addressOf(await add('named', { pools: [pools.manual.name] }));
    expect(named.startsWith(`10.${octet}.1.`)).toBe(true);
    const unnamed = addressOf(await add('unnamed', {}));
    expect(unnamed.startsWith(`10.${octet}.2.`), unnamed).toBe(true);
  });
});
