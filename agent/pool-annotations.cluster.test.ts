/**
 * Pool and address selection by annotation on a real API server: the pod's `ipv4pools` annotation wins,
 * then its namespace's, then the network configuration's `ipam.pools`; Calico's annotation names work
 * unchanged; an annotated pool serves even where its nodeSelector excludes the node; a bad annotation
 * fails the ADD with an error naming it, where it was found and the pod; a requested address is given
 * exactly or refused (taken, in no pool, reserved, outside its namespaceSelector); a namespaceSelector pool serves only its namespaces; a Manual pool only pods that
 * ask for it; and a steady-state ADD of an annotated pod reads nothing (the agent's caches).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { type AdminClients, adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import { createAllocatablePool } from '../local-cluster/pools.js';
import { type Namespace, type Pod, ResourceClient, coreResources } from '../kube/index.js';
import type { RunningAgent } from './agent.js';
import { type AgentAnswer, askIpam, startSyncedAgent } from './testing.js';

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
  /** The lowest addresses: its block comes first on the node, so only its namespaceSelector keeps others out. */
  tenant: { name: `${prefix}-tenant`, third: 0, selects: prefix, namespaceSelector: 'tenant == "a"' },
  manual: { name: `${prefix}-manual`, third: 5, selects: prefix, assignmentMode: 'Manual' },
} as const;
type PoolKey = keyof typeof pools;
const cidrOf = (pool: (typeof pools)[PoolKey]) => `10.${octet}.${pool.third}.0/26`;
const plain = `${prefix}-plain`;
const annotated = `${prefix}-annotated`;
const broken = `${prefix}-broken`;
const tenantA = `${prefix}-tenant-a`;
const oursAddrs = 'ipam.topology-ipam.dev/ipAddrs';
const calicoAddrs = 'cni.projectcalico.org/ipAddrs';
const ours = 'ipam.topology-ipam.dev/ipv4pools';
const calico = 'cni.projectcalico.org/ipv4pools';

let dir: string;
let admin: AdminClients;
let namespaces: ResourceClient<Namespace>;
let pods: ResourceClient<Pod & { spec: { containers: unknown[] } }>;
let agent: RunningAgent;

/** A pod bound to the agent's node, or (`bound` false) to none, so that its cache never holds it. */
async function createPod(
  namespace: string,
  name: string,
  annotations: Record<string, string> = {},
  bound = true,
) {
  await pods.create({
    metadata: { name, namespace, annotations },
    spec: {
      ...(bound ? { nodeName: node } : {}),
      containers: [{ name: 'app', image: 'example.invalid/app' }],
    },
  });
}

const add = (
  namespace: string,
  pod: string,
  ipam: Record<string, unknown> = { pools: [pools.configured.name] },
): Promise<AgentAnswer> =>
  askIpam(agent.socketPath, {
    command: 'ADD',
    containerId: `${namespace}-${pod}`,
    network: `${prefix}-net`,
    ipam,
    cniArgs: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=${pod}`,
  });

/** The address the agent answered, without its prefix length. */
function addressOf(answer: AgentAnswer): string {
  expect(answer.exitCode, answer.stdout).toBe(0);
  const address = ((answer.json?.ips ?? []) as { address: string }[])[0]?.address ?? '';
  expect(address.startsWith(`10.${octet}.`), address).toBe(true);
  return address.replace(/\/\d+$/, '');
}

/** The pool (its third octet) the pod's address came from. */
async function poolOf(namespace: string, pod: string, ipam?: Record<string, unknown>): Promise<number> {
  return Number(addressOf(await add(namespace, pod, ipam)).split('.')[2]);
}

/** Every automatic pool selecting the node: the network names none. */
const automatic = {};

const counts = () => ({ ...agent.client.counts });
const readsSince = (before: ReturnType<typeof counts>) => agent.client.counts.GET - before.GET;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-annotations-'));
  admin = adminClients(cluster.kubeconfig);
  namespaces = new ResourceClient(admin.client, coreResources.namespaces);
  pods = new ResourceClient(admin.client, coreResources.pods);
  await createNodes(admin.nodes, [node], { [label]: prefix });
  for (const pool of Object.values(pools)) {
    await createAllocatablePool(admin.resources, {
      metadata: { name: pool.name },
      spec: {
        cidr: cidrOf(pool),
        blockSize: 28,
        nodeSelector: `${label} == "${pool.selects}"`,
        ...('namespaceSelector' in pool ? { namespaceSelector: pool.namespaceSelector } : {}),
        ...('assignmentMode' in pool ? { assignmentMode: pool.assignmentMode } : {}),
      },
    });
  }
  await namespaces.create({ metadata: { name: plain } });
  await namespaces.create({
    metadata: { name: annotated, annotations: { [ours]: `["${pools.namespace.name}"]` } },
  });
  await namespaces.create({ metadata: { name: broken, annotations: { [calico]: '["no-such-pool"]' } } });
  await namespaces.create({ metadata: { name: tenantA, labels: { tenant: 'a' } } });
  agent = await startSyncedAgent(cluster.kubeconfig, node, path.join(dir, 'agent.sock'));
});

afterAll(async () => {
  await agent.stop(5_000);
  for (const namespace of [plain, annotated, broken, tenantA])
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

describe('requested addresses (ipAddrs) on the node agent', () => {
  const wanted = (pool: PoolKey, host: number) => `10.${octet}.${pools[pool].third}.${host}`;

  it('gives a pod exactly the address it asks for, recorded in the block that contains it', async () => {
    await createPod(plain, 'fixed', { [oursAddrs]: `["${wanted('pod', 20)}"]` });
    expect(addressOf(await add(plain, 'fixed'))).toBe(wanted('pod', 20));
    const block = await admin.resources.blocks.get(`10-${octet}-${pools.pod.third}-16-28`);
    expect(block.spec.allocations).toContainEqual(
      expect.objectContaining({ ordinal: 4, namespace: plain, pod: 'fixed', node }),
    );
  });

  it("takes Calico's ipAddrs unchanged, claiming the block that holds it, outside the pool's nodeSelector", async () => {
    await createPod(plain, 'calico-fixed', { [calicoAddrs]: `["${wanted('elsewhere', 40)}"]` });
    expect(addressOf(await add(plain, 'calico-fixed'))).toBe(wanted('elsewhere', 40));
    const block = await admin.resources.blocks.get(`10-${octet}-${pools.elsewhere.third}-32-28`);
    expect(block.spec.node).toBe(node);
  });

  it('refuses an address another pod holds, with code 105 naming the holder', async () => {
    await createPod(plain, 'same-address', { [oursAddrs]: `["${wanted('pod', 20)}"]` });
    const answer = await add(plain, 'same-address');
    expect(answer.exitCode).toBe(1);
    expect(answer.json?.code).toBe(105);
    expect(answer.json?.msg).toBe(
      `the address ${wanted('pod', 20)} requested for pod ${plain}/same-address cannot be assigned`,
    );
    expect(String(answer.json?.details)).toContain(
      `is already in use by handle ${prefix}-net.${plain}-fixed.eth0`,
    );
  });

  it('refuses an address in no pool, with code 7 naming the annotation and the pod', async () => {
    await createPod(plain, 'nowhere', { [oursAddrs]: `["10.${octet}.9.9"]` });
    const answer = await add(plain, 'nowhere');
    expect(answer.json?.code).toBe(7);
    expect(answer.json?.msg).toBe(`invalid annotation ${oursAddrs} on pod ${plain}/nowhere`);
    expect(String(answer.json?.details)).toContain(`asks for 10.${octet}.9.9, which is in no IPPool`);
  });

  it('refuses an address an IPReservation covers, naming the reservation', async () => {
    const reservation = `${prefix}-reserved`;
    await admin.resources.reservations.create({
      metadata: { name: reservation },
      spec: { reservedCIDRs: [`${wanted('pod', 30)}/31`] },
    });
    try {
      await createPod(plain, 'reserved', { [oursAddrs]: `["${wanted('pod', 31)}"]` });
      // The agent learns of the reservation from its watch.
      const answer = await eventually(async () => {
        const refused = await add(plain, 'reserved');
        expect(refused.json?.code).toBe(105);
        return refused;
      });
      expect(answer.json?.msg).toBe(
        `the address ${wanted('pod', 31)} requested for pod ${plain}/reserved cannot be assigned`,
      );
      expect(String(answer.json?.details)).toContain(
        `${wanted('pod', 31)} is reserved by IPReservation ${reservation}`,
      );
    } finally {
      await admin.resources.reservations.delete(reservation);
    }
  });

  it("refuses an address of a pool whose namespaceSelector excludes the pod's namespace", async () => {
    await createPod(plain, 'not-a-tenant', { [oursAddrs]: `["${wanted('tenant', 7)}"]` });
    const answer = await add(plain, 'not-a-tenant');
    expect(answer.json?.code).toBe(105);
    expect(String(answer.json?.details)).toContain('namespaceSelector tenant == "a" does not match');
  });
});

describe('namespaceSelector and Manual pools on the node agent', () => {
  it('serves a pod of a namespace its namespaceSelector matches, by annotation or automatically', async () => {
    await createPod(tenantA, 'asks', { [ours]: `["${pools.tenant.name}"]` });
    expect(await poolOf(tenantA, 'asks', automatic)).toBe(pools.tenant.third);
    await createPod(tenantA, 'automatic');
    expect(await poolOf(tenantA, 'automatic', automatic)).toBe(pools.tenant.third);
  });

  it('serves no other namespace, though its block is the lowest the node holds', async () => {
    await createPod(plain, 'automatic');
    expect(await poolOf(plain, 'automatic', automatic)).not.toBe(pools.tenant.third);
    await createPod(plain, 'asks-tenant', { [ours]: `["${pools.tenant.name}"]` });
    const answer = await add(plain, 'asks-tenant', automatic);
    expect(answer.json?.code).toBe(101);
    expect(String(answer.json?.details)).toContain('namespaceSelector tenant == "a" does not match');
  });

  it('gives a Manual pool only to a pod that asks for it', async () => {
    await createPod(plain, 'manual', { [calico]: `["${pools.manual.name}"]` });
    expect(await poolOf(plain, 'manual', automatic)).toBe(pools.manual.third);
    for (const name of ['after-manual-0', 'after-manual-1']) {
      await createPod(plain, name);
      expect(await poolOf(plain, name, automatic)).not.toBe(pools.manual.third);
    }
  });
});

describe('reads', () => {
  it('a steady-state ADD of an annotated pod in the cache reads nothing', async () => {
    await createPod(annotated, 'steady', { [ours]: `["${pools.pod.name}"]` });
    await eventually(() => (agent.workloads.holdsPod(annotated, 'steady') ? true : undefined));
    const before = counts();
    expect(await poolOf(annotated, 'steady')).toBe(pools.pod.third);
    expect(readsSince(before)).toBe(0);
  });

  it('an ADD of a pod the cache does not hold reads the pod once, its namespace coming from the cache', async () => {
    // Not bound to the node, so never in the cache of its pods: as a pod whose watch event is late.
    await createPod(annotated, 'uncached', { [ours]: `["${pools.pod.name}"]` }, false);
    const before = counts();
    expect(await poolOf(annotated, 'uncached')).toBe(pools.pod.third);
    expect(readsSince(before)).toBe(1);
  });
});
