/**
 * Replacing the agent (a `helm upgrade` rolls the DaemonSet: the old pod gets SIGTERM, then the new one
 * starts) while pods keep starting: every ADD, retried by the runtime on code 11 as the kubelet does,
 * ends with an address; no other failure, no address twice, every address recorded under its handle.
 */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpamResources } from '../allocator/index.js';
import { labels } from '../api/index.js';
import {
  type InstalledPlugin,
  installPlugin,
  removePlugin,
  startAgentProcess,
  startPlugin,
} from '../cni/testing.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { type AdminClients, adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { createAllocatablePool } from '../local-cluster/pools.js';
import type { ComponentProcess } from '../local-cluster/operator-process.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const node = `${prefix}-node`;
const pool = `${prefix}-pool`;
let plugin: InstalledPlugin;
let admin: AdminClients;
let resources: IpamResources;
const running: ComponentProcess[] = [];

const config = {
  cniVersion: '1.0.0',
  name: `${prefix}-net`,
  type: 'bridge',
  ipam: { type: 'topology-ipam', nodename: node },
};

/** One pod's ADD as the kubelet drives it: retried while the answer is code 11; the codes seen. */
async function addLikeTheKubelet(containerId: string): Promise<{ address: string; codes: number[] }> {
  const codes: number[] = [];
  for (;;) {
    const outcome = await startPlugin(plugin, { command: 'ADD', containerId, config }).outcome;
    if (outcome.exitCode === 0) {
      const [ip] = (outcome.json?.ips ?? []) as { address: string }[];
      return { address: ip?.address ?? '', codes };
    }
    const code = Number(outcome.json?.code);
    codes.push(code);
    if (code !== 11) return { address: '', codes };
    await sleep(100);
  }
}

beforeAll(async () => {
  plugin = await installPlugin({ kubeconfig: cluster.kubeconfig });
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  await createNodes(admin.nodes, [node], { 'topology-ipam.test/upgrade': prefix });
  await createAllocatablePool(resources, {
    metadata: { name: pool },
    spec: {
      cidr: `10.${randomInt(100, 250)}.0.0/22`,
      blockSize: 26,
      nodeSelector: `topology-ipam.test/upgrade == "${prefix}"`,
    },
  });
});

afterAll(async () => {
  for (const agent of running) agent.process.kill('SIGKILL');
  await removePlugin(plugin);
  await removePoolAndBlocks(resources, pool);
  await removeNodes(admin.nodes, [node]);
  admin.client.close();
});

describe('replacing the node agent while pods start', () => {
  it('fails no ADD beyond retried code 11s, and gives no address twice', async () => {
    const old = await startAgentProcess(plugin, node);
    running.push(old);
    const pods = Array.from({ length: 60 }, (_, i) => `pod-${i}`);
    // Pods start in a steady trickle while the agent is replaced.
    const adds = pods.map(async (pod, i) => {
      await sleep(i * 100);
      return addLikeTheKubelet(pod);
    });
    await sleep(1500);
    old.process.kill('SIGTERM');
    expect(await old.exited).toBe(0);
    running.push(await startAgentProcess(plugin, node));
    const outcomes = await Promise.all(adds);

    for (const outcome of outcomes) expect(outcome.codes.filter((code) => code !== 11)).toEqual([]);
    const addresses = outcomes.map((outcome) => outcome.address);
    expect(addresses.every((address) => address !== '')).toBe(true);
    expect(new Set(addresses).size).toBe(pods.length);
    const blocks = (await resources.blocks.list({ labelSelector: `${labels.node}=${node}` })).items;
    const recorded = new Set(blocks.flatMap((block) => block.spec.allocations.map((a) => a.handle)));
    for (const pod of pods) expect(recorded.has(`${prefix}-net.${pod}.eth0`)).toBe(true);
    // The replacement was seen: some ADD met the gap between the two agents.
    expect(outcomes.some((outcome) => outcome.codes.includes(11))).toBe(true);
  });
});
