/**
 * IPReservations on the node agent and the real API server: a reserved address is never handed out, and
 * an address reserved while a pod holds it stays with that pod, then is not handed out again once
 * released (even with no cool-down, when it would otherwise be the only address left).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpamResources } from '../allocator/index.js';
import { isReserved, labels } from '../api/index.js';
import { parseAddress } from '../ipam/index.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { type AdminClients, adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import { createAllocatablePool } from '../local-cluster/pools.js';
import type { RunningAgent } from './agent.js';
import { type AgentAnswer, addressOf, askIpam, startSyncedAgent } from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const node = `${prefix}-node`;
const net = `100.64.${randomInt(0, 256)}`;
// One /28 block and nothing else: 14 usable addresses, .1 to .14.
const pool = { name: `${prefix}-pool`, cidr: `${net}.0/28` };
const reservations = { before: `${prefix}-before`, later: `${prefix}-later` };
let dir: string;
let admin: AdminClients;
let resources: IpamResources;
let agent: RunningAgent;

const request = (command: 'ADD' | 'DEL', containerId: string): Promise<AgentAnswer> =>
  askIpam(agent.socketPath, {
    command,
    containerId,
    network: `${prefix}-net`,
    // No cool-down: a released address could be handed out again at once, but for its reservation.
    ipam: { pools: [pool.name], cooldown_seconds: 0 },
  });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-reservations-'));
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  await createNodes(admin.nodes, [node], { 'topology-ipam.test/reservations': prefix });
  await createAllocatablePool(resources, {
    metadata: { name: pool.name },
    spec: {
      cidr: pool.cidr,
      blockSize: 28,
      nodeSelector: `topology-ipam.test/reservations == "${prefix}"`,
    },
  });
  // An address and a CIDR written with host bits set, as Calico accepts them.
  await resources.reservations.create({
    metadata: { name: reservations.before },
    spec: { reservedCIDRs: [`${net}.1`, `${net}.3/31`] },
  });
  agent = await startSyncedAgent(cluster.kubeconfig, node, path.join(dir, 'agent.sock'));
});

afterAll(async () => {
  await agent.stop(5_000);
  for (const name of Object.values(reservations))
    await resources.reservations.delete(name).catch(() => undefined);
  await removePoolAndBlocks(resources, pool.name);
  await removeNodes(admin.nodes, [node]);
  admin.client.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('IPReservations on the node agent', () => {
  it('skips reserved addresses', async () => {
    expect(addressOf(await request('ADD', 'first'))).toBe(`${net}.4/28`);
    expect(addressOf(await request('ADD', 'second'))).toBe(`${net}.5/28`);
  });

  it('keeps an address reserved while held, and does not hand it out again once released', async () => {
    const rest: string[] = [];
    for (let i = 0; i < 9; i++) rest.push(addressOf(await request('ADD', `fill-${i}`)));
    expect(rest).toEqual(Array.from({ length: 9 }, (_, i) => `${net}.${6 + i}/28`));

    await resources.reservations.create({
      metadata: { name: reservations.later },
      spec: { reservedCIDRs: [`${net}.5`] },
    });
    await eventually(() => isReserved(agent.cache.reservations(), parseAddress(`${net}.5`)) || undefined);
    // Reserving takes nothing away: a repeated ADD of its holder answers the same address.
    expect(addressOf(await request('ADD', 'second'))).toBe(`${net}.5/28`);

    expect((await request('DEL', 'second')).exitCode).toBe(0);
    const refused = await request('ADD', 'after-release');
    expect(refused.exitCode, refused.stdout).not.toBe(0);
    expect(refused.stdout).toContain('no IPv4 address left');
    const [block] = (await resources.blocks.list({ labelSelector: `${labels.pool}=${pool.name}` })).items;
    expect(block?.spec.allocations.map((a) => a.ordinal)).not.toContain(5);
  });
});
