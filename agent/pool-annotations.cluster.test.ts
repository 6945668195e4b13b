/**
 * Pool selection by annotation on a real API server: the pod's `ipv4pools` annotation wins, then its
 * namespace's, then the network configuration's `ipam.pools`; Calico's annotation names work unchanged;
 * an annotated pool serves even where its nodeSelector excludes the node; a bad annotation fails the
 * ADD with an error naming it, where it was found and the pod.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { type AdminClients, adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { createAllocatablePool } from '../local-cluster/pools.js';
import { type Namespace, type Pod, ResourceClient, coreResources } from '../kube/index.js';
import type { RunningAgent } from './agent.js';
import { type AgentAnswer, askAgent, startSyncedAgent } from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const node = `${prefix}-node`;
const label = 'topology-ipam.test/annotations';
const octet = randomInt(100, 250);
/** Each pool's addresses start with its own third octet. */
const pools = {
  configured: { name: `${prefix}-configured`, third: 1, selects: prefix },
  pod: { name: `${prefix}-pod`, third: 2, selects: prefix },
  namespace: { name: `${prefix}-namespace`, third: 3, selects: prefix },
  elsewhere: { name: `${prefix}-elsewhere`, third: 4, selects: `${prefix}-other-nodes` },
} as const;
const cidrOf = (pool: (typeof pools)[keyof typeof pools]) => `10.${octet}.${pool.third}.0/26`;
const plain = `${prefix}-plain`;
const annotated = `${prefix}-annotated`;
const broken = `${prefix}-broken`;
const ours = 'ipam.topology-ipam.dev/ipv4pools';
const calico = 'cni.projectcalico.org/ipv4pools';

let dir: string;
let admin: AdminClients;
let namespaces: ResourceClient<Namespace>;
let pods: ResourceClient<Pod & { spec: { containers: unknown[] } }>;
let agent: RunningAgent;

async function createPod(namespace: string, name: string, annotations: Record<string, string> = {}) {
  await pods.create({
    metadata: { name, namespace, annotations },
    spec: { nodeName: node, containers: [{ name: 'app', image: 'example.invalid/app' }] },
  });
}

const add = (namespace: string, pod: string): Promise<AgentAnswer> =>
  askAgent(
    agent.socketPath,
    {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: `${namespace}-${pod}`,
      CNI_NETNS: '/var/run/netns/x',
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/opt/cni/bin',
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=${pod}`,
    },
    {
      cniVersion: '1.0.0',
      name: `${prefix}-net`,
      type: 'bridge',
      ipam: { type: 'topology-ipam', pools: [pools.configured.name] },
    },
  );

/** The pool (its third octet) the pod's address came from. */
async function poolOf(namespace: string, pod: string): Promise<number> {
  const answer = await add(namespace, pod);
  expect(answer.exitCode, answer.stdout).toBe(0);
  const address = ((answer.json?.ips ?? []) as { address: string }[])[0]?.address ?? '';
  expect(address.startsWith(`10.${octet}.`), address).toBe(true);
  return Number(address.split('.')[2]);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-annotations-'));
  admin = adminClients(cluster.kubeconfig);
  namespaces = new ResourceClient(admin.client, coreResources.namespaces);
  pods = new ResourceClient(admin.client, coreResources.pods);
  await createNodes(admin.nodes, [node], { [label]: prefix });
  for (const pool of Object.values(pools)) {
    await createAllocatablePool(admin.resources, {
      metadata: { name: pool.name },
      spec: { cidr: cidrOf(pool), blockSize: 28, nodeSelector: `${label} == "${pool.selects}"` },
    });
  }
  await namespaces.create({ metadata: { name: plain } });
  await namespaces.create({
    metadata: { name: annotated, annotations: { [ours]: `["${pools.namespace.name}"]` } },
  });
  await namespaces.create({ metadata: { name: broken, annotations: { [calico]: '["no-such-pool"]' } } });
  agent = await startSyncedAgent(cluster.kubeconfig, node, path.join(dir, 'agent.sock'));
});

afterAll(async () => {
  await agent.stop(5_000);
  for (const namespace of [plain, annotated, broken])
    await namespaces.delete(namespace).catch(() => undefined);
  for (const pool of Object.values(pools)) await removePoolAndBlocks(admin.resources, pool.name);
  await removeNodes(admin.nodes, [node]);
  admin.client.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('pool selection by annotation on the node agent', () => {
  it('takes the configured pools for a pod and namespace without annotations', async () => {
    await createPod(plain, 'none');
    expect(await poolOf(plain, 'none')).toBe(pools.configured.third);
  });

  it("gives a pod an address from its annotation's pool", async () => {
    await createPod(plain, 'own', { [ours]: `["${pools.pod.name}"]` });
    expect(await poolOf(plain, 'own')).toBe(pools.pod.third);
  });

  it("applies the namespace's annotation to a pod that has none", async () => {
    await createPod(annotated, 'inherits');
    expect(await poolOf(annotated, 'inherits')).toBe(pools.namespace.third);
  });

  it("prefers the pod's annotation to its namespace's", async () => {
    await createPod(annotated, 'overrides', { [ours]: `["${cidrOf(pools.pod)}"]` });
    expect(await poolOf(annotated, 'overrides')).toBe(pools.pod.third);
  });

  it("takes Calico's annotation name unchanged", async () => {
    await createPod(plain, 'calico', { [calico]: `["${pools.pod.name}"]` });
    expect(await poolOf(plain, 'calico')).toBe(pools.pod.third);
  });

  it("uses an annotated pool whose nodeSelector does not select the node (Calico's rule)", async () => {
    await createPod(plain, 'elsewhere', { [ours]: `["${pools.elsewhere.name}"]` });
    expect(await poolOf(plain, 'elsewhere')).toBe(pools.elsewhere.third);
  });

  it('fails the ADD on a pod annotation that is not JSON, naming it, the pod and where it was', async () => {
    await createPod(plain, 'bad-json', { [ours]: pools.pod.name });
    const answer = await add(plain, 'bad-json');
    expect(answer.exitCode).toBe(1);
    expect(answer.json?.code).toBe(7);
    expect(answer.json?.msg).toBe(`invalid annotation ${ours} on pod ${plain}/bad-json`);
    expect(String(answer.json?.details)).toContain('is not JSON');
  });

  it("fails the ADD on a namespace's annotation naming no pool", async () => {
    await createPod(broken, 'victim');
    const answer = await add(broken, 'victim');
    expect(answer.json?.code).toBe(7);
    expect(answer.json?.msg).toBe(`invalid annotation ${calico} on the namespace of pod ${broken}/victim`);
    expect(String(answer.json?.details)).toContain('names pool "no-such-pool", but no IPPool has that name');
  });
});
