/**
 * A pool whose nodeSelector excludes a node, asked for there by pods' annotations (Calico's precedence),
 * with the operator and the node agent running: the operator keeps the block the agent claimed for them
 * serving instead of draining it, says so in an Event on the node, so later pods asking for the pool share
 * that block; once they are gone the block drains and is released like any other.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IPAMBlock, labels } from '../api/index.js';
import type { RunningAgent } from '../agent/agent.js';
import { type AgentAnswer, askIpam, startSyncedAgent } from '../agent/testing.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { adminClients, createNodes, createPods, removeNodes, removePods } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import { testOperator } from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const p = cluster.prefix;
const { client, resources, nodes } = adminClients(cluster.kubeconfig);
const node = `${p}-node`;
const octet = randomInt(100, 250);
const home = { name: `${p}-home`, cidr: `10.${octet}.0.0/24`, rack: 'home' };
const away = { name: `${p}-away`, cidr: `10.${octet}.1.0/24`, rack: 'away' };
const podNames = ['first', 'second'];
const shutdown = new AbortController();
let running: Promise<unknown>;
let agent: RunningAgent;
let dir: string;

const request = (command: 'ADD' | 'DEL', pod: string): Promise<AgentAnswer> =>
  askIpam(agent.socketPath, {
    command,
    containerId: pod,
    network: `${p}-net`,
    cniArgs: `K8S_POD_NAMESPACE=${p};K8S_POD_NAME=${pod}`,
  });

const awayBlocks = async (): Promise<IPAMBlock[]> =>
  (await resources.blocks.list({ labelSelector: `${labels.pool}=${away.name}` })).items;

const nodeEvents = () => cluster.eventsAbout(node);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-requested-'));
  cluster.kubectl(['create', 'namespace', p]);
  await createNodes(nodes, [node], { [p]: home.rack });
  for (const pool of [home, away]) {
    await resources.pools.create({
      metadata: { name: pool.name },
      spec: { cidr: pool.cidr, blockSize: 28, nodeSelector: `${p} == "${pool.rack}"` },
    });
  }
  await createPods(client, {
    node,
    namespace: p,
    names: podNames,
    annotations: { 'cni.projectcalico.org/ipv4pools': `["${away.name}"]` },
  });
  // Leaks are not what this file is about: the collector keeps away from its addresses.
  running = testOperator({ client, namespace: p, leakGraceMs: 600_000 }).run(shutdown.signal);
  // The operator hands the node its home block once both pools are cleared.
  await eventually(
    async () => {
      const pools = await Promise.all([home, away].map((pool) => resources.pools.get(pool.name)));
      const cleared = pools.every((pool) =>
        pool.status?.conditions?.some((c) => c.type === 'Allocatable' && c.status === 'True'),
      );
      const held = await resources.blocks.list({ labelSelector: `${labels.node}=${node}` });
      return cleared && held.items.length > 0 ? true : undefined;
    },
    { timeoutMs: 60_000 },
  );
  agent = await startSyncedAgent(cluster.kubeconfig, node, path.join(dir, 'agent.sock'));
}, 120_000);

afterAll(async () => {
  await agent.stop(5_000);
  shutdown.abort();
  await running;
  for (const pool of [home, away]) await removePoolAndBlocks(resources, pool.name);
  await removePods(client, p, podNames);
  await removeNodes(nodes, [node]);
  cluster.tryKubectl(['delete', 'namespace', p, '--wait=false']);
  client.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a pool asked for outside its nodeSelector, with the operator running', () => {
  it('keeps the block claimed for it serving, says so in an Event, and later pods share it', async () => {
    const first = await request('ADD', 'first');
    expect(first.exitCode, first.stdout).toBe(0);
    const [claimed, ...others] = await awayBlocks();
    expect(others).toEqual([]);
    expect(claimed?.spec.node).toBe(node);
    // The operator has reconciled the node with the pod's address in the block once it says so.
    await eventually(() => (nodeEvents().includes('PoolRequestedOutsideNodeSelector') ? true : undefined));
    expect(nodeEvents()).toContain(
      `IPPool "${away.name}" gives addresses on this node although its nodeSelector (${p} == "${away.rack}") does not select it: pod ${p}/first asks for the pool explicitly`,
    );
    expect((await awayBlocks())[0]?.spec.draining).not.toBe(true);

    const second = await request('ADD', 'second');
    expect(second.exitCode, second.stdout).toBe(0);
    const blocks = await awayBlocks();
    expect(blocks.map((block) => block.metadata.name)).toEqual([claimed?.metadata.name]);
    expect(blocks[0]?.spec.allocations.map((allocation) => allocation.pod).sort()).toEqual(podNames);
  });

  it('drains and releases the block once no pod asking for the pool holds an address there', async () => {
    for (const pod of podNames) expect((await request('DEL', pod)).exitCode).toBe(0);
    await eventually(async () => ((await awayBlocks()).length === 0 ? true : undefined));
  });
});
