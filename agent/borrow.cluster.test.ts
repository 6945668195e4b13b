/**
 * Borrowing, on the real API server: a node whose pool has no block left borrows an address from another
 * node's block (strictAffinity off), and a new agent, starting with nothing on disk, finds that address
 * again from the API server: a repeated ADD returns it and DEL releases it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpamResources } from '../allocator/index.js';
import { labels } from '../api/index.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { type AdminClients, adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { createAllocatablePool } from '../local-cluster/pools.js';
import type { RunningAgent } from './agent.js';
import { type AgentAnswer, type IpamRequest, addressOf, askIpam, startSyncedAgent } from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const nodes = { owner: `${prefix}-owner`, borrower: `${prefix}-borrower` };
const pool = `${prefix}-pool`;
const network = `${prefix}-net`;
let dir: string;
let admin: AdminClients;
let resources: IpamResources;
const agents = new Map<string, RunningAgent>();

const start = async (node: string): Promise<RunningAgent> => {
  const socket = path.join(dir, `${node.endsWith('owner') ? 'owner' : 'borrower'}.sock`);
  const agent = await startSyncedAgent(cluster.kubeconfig, node, socket);
  agents.set(node, agent);
  return agent;
};

const ask = (node: string, command: IpamRequest['command'], containerId: string): Promise<AgentAnswer> => {
  const agent = agents.get(node);
  if (!agent) throw new Error(`no agent for ${node}`);
  return askIpam(agent.socketPath, { command, containerId, network });
};

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-borrow-'));
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  await createNodes(admin.nodes, Object.values(nodes), { 'topology-ipam.test/borrow': prefix });
  // One block in the whole pool: whoever claims it first, the other node can only borrow.
  const octet = randomInt(100, 250);
  await createAllocatablePool(resources, {
    metadata: { name: pool },
    spec: {
      cidr: `10.${octet}.7.0/28`,
      blockSize: 28,
      nodeSelector: `topology-ipam.test/borrow == "${prefix}"`,
    },
  });
  await start(nodes.owner);
  await start(nodes.borrower);
});

afterAll(async () => {
  await Promise.all([...agents.values()].map((agent) => agent.stop(5_000)));
  await removePoolAndBlocks(resources, pool);
  await removeNodes(admin.nodes, Object.values(nodes));
  admin.client.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('borrowing through the agent', () => {
  it('borrows from the other node’s block, and a new agent finds the borrowed address again', async () => {
    addressOf(await ask(nodes.owner, 'ADD', 'owned'));
    const borrowed = addressOf(await ask(nodes.borrower, 'ADD', 'borrowed'));
    addressOf(await ask(nodes.borrower, 'ADD', 'released'));
    const [block] = (await resources.blocks.list({ labelSelector: `${labels.pool}=${pool}` })).items;
    expect(block?.spec.node).toBe(nodes.owner);
    expect(block?.spec.allocations.find((a) => a.handle === `${network}.borrowed.eth0`)?.node).toBe(
      nodes.borrower,
    );

    // The borrower's agent is replaced: nothing on disk, the new one reads the API server. CHECK and
    // DEL come first: an ADD would borrow again and so find the address without the rebuilt index.
    await agents.get(nodes.borrower)?.stop(5_000);
    await start(nodes.borrower);
    const check = await ask(nodes.borrower, 'CHECK', 'borrowed');
    expect(check.exitCode, check.stdout).toBe(0);
    expect((await ask(nodes.borrower, 'DEL', 'released')).exitCode).toBe(0);
    const [after] = (await resources.blocks.list({ labelSelector: `${labels.pool}=${pool}` })).items;
    expect(after?.spec.allocations.map((a) => a.handle).sort()).toEqual(
      [`${network}.borrowed.eth0`, `${network}.owned.eth0`].sort(),
    );
    expect(addressOf(await ask(nodes.borrower, 'ADD', 'borrowed'))).toBe(borrowed);
  });
});
