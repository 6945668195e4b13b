/**
 * The node agent on the real API server, asked over its socket as the forwarder asks it: steady-state
 * requests read nothing, concurrent ADDs share writes (group commit) and never share an address, and a
 * batch whose write the API server refuses answers none of its callers with an address.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpamResources } from '../allocator/index.js';
import { type IPAMBlock, labels } from '../api/index.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import {
  type AdminClients,
  adminClients,
  createNodes,
  createPods,
  removeNodes,
  removePods,
} from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import { createAllocatablePool } from '../local-cluster/pools.js';
import type { RunningAgent } from './agent.js';
import { type AgentAnswer, askAgent, startSyncedAgent } from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const node = `${prefix}-node`;
const pool = `${prefix}-pool`;
const octet = randomInt(100, 250);
const network = `${prefix}-net`;
/** The pods of the ADDs whose requests are counted: the agent's cache holds them, as a node's pods. */
const countedPods = ['first', ...Array.from({ length: 40 }, (_, i) => `burst-${i}`)].map((id) => `pod-${id}`);
let dir: string;
let admin: AdminClients;
let resources: IpamResources;
let agent: RunningAgent;

const config = (ipam: Record<string, unknown> = {}) => ({
  cniVersion: '1.1.0',
  name: network,
  type: 'bridge',
  ipam: { type: 'topology-ipam', ...ipam },
});

const env = (command: string, containerId: string) => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: containerId,
  CNI_NETNS: `/var/run/netns/${containerId}`,
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  CNI_ARGS: `K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-${containerId}`,
});

const ask = (command: string, containerId: string): Promise<AgentAnswer> =>
  askAgent(agent.socketPath, env(command, containerId), config());

function addressOf(answer: AgentAnswer): string {
  expect(answer.exitCode, answer.stdout).toBe(0);
  const [ip] = (answer.json?.ips ?? []) as { address: string }[];
  if (!ip) throw new Error(`no address in ${answer.stdout}`);
  return ip.address;
}

const nodeBlocks = async (): Promise<IPAMBlock[]> =>
  (await resources.blocks.list({ labelSelector: `${labels.node}=${node}` })).items;

const counts = () => ({ ...agent.client.counts });
const delta = (before: ReturnType<typeof counts>) => {
  const after = agent.client.counts;
  return {
    reads: after.GET - before.GET,
    writes:
      after.POST +
      after.PUT +
      after.PATCH +
      after.DELETE -
      (before.POST + before.PUT + before.PATCH + before.DELETE),
  };
};

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-agent-'));
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  await createNodes(admin.nodes, [node], { 'topology-ipam.test/agent': prefix });
  await createAllocatablePool(resources, {
    metadata: { name: pool },
    spec: {
      cidr: `10.${octet}.0.0/24`,
      blockSize: 26,
      nodeSelector: `topology-ipam.test/agent == "${prefix}"`,
    },
  });
  await createPods(admin.client, { node, namespace: 'default', names: countedPods });
  agent = await startSyncedAgent(cluster.kubeconfig, node, path.join(dir, 'agent.sock'));
});

afterAll(async () => {
  await agent.stop(5_000);
  await removePoolAndBlocks(resources, pool);
  await removePods(admin.client, 'default', countedPods);
  await removeNodes(admin.nodes, [node]);
  admin.client.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('the node agent on the real API server', () => {
  it('makes its socket 0600 in a 0700 folder', () => {
    expect(fs.statSync(agent.socketPath).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(agent.socketPath)).mode & 0o777).toBe(0o700);
  });

  it('claims a block on the first ADD of a fresh node with at most 10 requests', async () => {
    const before = counts();
    addressOf(await ask('ADD', 'first'));
    const used = delta(before);
    expect(used.reads + used.writes).toBeLessThanOrEqual(10);
    expect((await nodeBlocks()).map((b) => b.spec.node)).toEqual([node]);
  });

  it('serves 40 concurrent ADDs with no read, far fewer writes than ADDs, and 40 distinct recorded addresses', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
    const before = counts();
    const answers = await Promise.all(ids.map((id) => ask('ADD', id)));
    const used = delta(before);
    const addresses = answers.map(addressOf);
    expect(new Set(addresses).size).toBe(40);
    expect(used.reads).toBe(0);
    expect(used.writes).toBeLessThan(40);
    // Every answered address is recorded under its handle.
    const [block] = await nodeBlocks();
    const recorded = new Map(block?.spec.allocations.map((a) => [a.handle, a.ordinal]));
    for (const id of ids) expect(recorded.has(`${network}.${id}.eth0`)).toBe(true);
  });

  it('answers a repeated ADD with the same address, and concurrent repeats too, confirming it with one read each and writing nothing', async () => {
    const first = addressOf(await ask('ADD', 'again'));
    const before = counts();
    const repeats = await Promise.all(Array.from({ length: 5 }, () => ask('ADD', 'again')));
    expect(repeats.map(addressOf)).toEqual(Array(5).fill(first));
    expect(delta(before)).toEqual({ reads: 5, writes: 0 });
  });

  it('claims a further block when the first is full, once, for a burst that overflows it', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `overflow-${i}`);
    const answers = await Promise.all(ids.map((id) => ask('ADD', id)));
    const addresses = answers.map(addressOf);
    expect(new Set(addresses).size).toBe(30);
    expect(await nodeBlocks()).toHaveLength(2);
  });

  it('answers no caller of a batch whose write the API server refuses, and records none of them', async () => {
    const policy = `${prefix}-refuse-writes`;
    // Any write that adds an allocation to this node's blocks is refused from now on.
    cluster.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'admissionregistration.k8s.io/v1',
            kind: 'ValidatingAdmissionPolicy',
            metadata: { name: policy },
            spec: {
              failurePolicy: 'Fail',
              matchConstraints: {
                resourceRules: [
                  {
                    apiGroups: ['ipam.topology-ipam.dev'],
                    apiVersions: ['*'],
                    operations: ['UPDATE'],
                    resources: ['ipamblocks'],
                  },
                ],
              },
              validations: [
                {
                  expression: `object.metadata.labels['${labels.node}'] != '${node}' || size(object.spec.allocations) <= size(oldObject.spec.allocations)`,
                  message: 'refused by the test',
                },
              ],
            },
          },
          {
            apiVersion: 'admissionregistration.k8s.io/v1',
            kind: 'ValidatingAdmissionPolicyBinding',
            metadata: { name: policy },
            spec: { policyName: policy, validationActions: ['Deny'] },
          },
        ],
      }),
    );
    try {
      // The policy takes effect once the API server has loaded it.
      await eventually(async () => {
        const answer = await ask('ADD', `probe-${Date.now()}`);
        return answer.exitCode === 1 ? answer : undefined;
      });
      const before = (await nodeBlocks()).flatMap((b) => b.spec.allocations.map((a) => a.handle));
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => ask('ADD', `refused-${i}`)));
      for (const answer of answers) {
        expect(answer.exitCode, answer.stdout).toBe(1);
        expect(answer.json).toMatchObject({ code: 103 });
      }
      const after = (await nodeBlocks()).flatMap((b) => b.spec.allocations.map((a) => a.handle));
      expect(after.sort()).toEqual(before.sort());
    } finally {
      cluster.kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', policy]);
    }
    await eventually(async () => ((await ask('ADD', 'after-policy')).exitCode === 0 ? true : undefined));
  });

  it('releases everything on DEL, in shared writes, leaving every block empty', async () => {
    const handles = (await nodeBlocks()).flatMap((b) => b.spec.allocations.map((a) => a.handle));
    const ids = handles.map((handle) => handle.split('.')[1] ?? '');
    const before = counts();
    const answers = await Promise.all(ids.map((id) => ask('DEL', id)));
    for (const answer of answers) expect(answer.exitCode, answer.stdout).toBe(0);
    expect(delta(before).reads).toBe(0);
    for (const block of await nodeBlocks()) expect(block.spec.allocations).toEqual([]);
  });

  it('says on STATUS that it is ready, and why not when no pool selects the node', async () => {
    const status = (ipam: Record<string, unknown>) =>
      askAgent(agent.socketPath, { CNI_COMMAND: 'STATUS', CNI_PATH: '/opt/cni/bin' }, config(ipam));
    expect((await status({})).exitCode).toBe(0);
    const refused = await status({ ipv4_pools: [`${prefix}-nonexistent`] });
    expect(refused.json).toMatchObject({ code: 7 });
    const v6 = await status({ assign_ipv4: false, assign_ipv6: true });
    expect(v6.json).toMatchObject({ code: 50 });
  });
});
