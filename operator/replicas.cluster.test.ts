import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPendingBlock, labels as apiLabels } from '../api/index.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { type OperatorProcess, startOperatorProcess } from '../local-cluster/operator-process.js';

const cluster = clusterTestContext(import.meta.url);
const { client, resources, nodes, leases } = adminClients(cluster.kubeconfig);
const p = cluster.prefix;
const leaseName = `${p}-lease`;

/** A real operator process, as its Deployment would run it (less the webhook, tested on its own). */
const startReplica = (name: string): OperatorProcess =>
  startOperatorProcess(name, {
    KUBECONFIG: cluster.kubeconfig,
    POD_NAMESPACE: p,
    WEBHOOK_ENABLED: 'false',
    HEALTH_PORT: '0',
    LEASE_NAME: leaseName,
    LEASE_DURATION_SECONDS: '3',
    RENEW_DEADLINE_SECONDS: '2',
    RETRY_PERIOD_SECONDS: '0.5',
  });

const nodeNames = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `${p}-n${from + i}`);
/** Blocks whose claim completed: confirmed, and so is their affinity (the claim's last write). */
const blockCount = async () => {
  const selector = `${apiLabels.pool}=${p}-pool`;
  const blocks = (await resources.blocks.list({ labelSelector: selector })).items;
  const confirmed = new Set(
    (await resources.affinities.list({ labelSelector: selector })).items
      .filter((affinity) => affinity.spec.state === 'confirmed')
      .map((affinity) => affinity.metadata.name),
  );
  return blocks.filter((block) => !isPendingBlock(block) && confirmed.has(block.metadata.name)).length;
};

let replicas: OperatorProcess[] = [];

beforeAll(async () => {
  cluster.kubectl(['create', 'namespace', p]);
  await resources.pools.create({
    metadata: { name: `${p}-pool` },
    spec: { cidr: '10.123.0.0/16', nodeSelector: `has(${p})` },
  });
  await createNodes(nodes, nodeNames(0, 10), { [p]: 'yes' });
});

afterAll(async () => {
  await removeNodes(nodes, nodeNames(0, 15));
  for (const replica of replicas) replica.process.kill('SIGKILL');
  await removePoolAndBlocks(resources, `${p}-pool`);
  client.close();
});

describe('two operator replicas', () => {
  it('elect one leader, give each node one block with no duplicate, and hand over when the leader is killed', async () => {
    replicas = [startReplica(`${p}-a`), startReplica(`${p}-b`)];
    await eventually(async () => ((await blockCount()) === 10 ? true : undefined), { timeoutMs: 60_000 });

    const lease = await leases.get(leaseName, p);
    const leader = replicas.find((replica) => replica.name === lease.spec.holderIdentity);
    const follower = replicas.find((replica) => replica !== leader);
    if (!leader || !follower) throw new Error(`lease held by ${String(lease.spec.holderIdentity)}`);
    expect(leader.logs.some((line) => line.includes('"became leader"'))).toBe(true);
    expect(follower.logs.some((line) => line.includes('"became leader"'))).toBe(false);
    expect(follower.logs.some((line) => line.includes('"claimed block"'))).toBe(false);

    const blocks = (await resources.blocks.list({ labelSelector: `${apiLabels.pool}=${p}-pool` })).items;
    expect(new Set(blocks.map((block) => block.spec.cidr)).size).toBe(10);
    expect(new Set(blocks.map((block) => block.spec.node))).toEqual(new Set(nodeNames(0, 10)));
    const affinities = (await resources.affinities.list({ labelSelector: `${apiLabels.pool}=${p}-pool` }))
      .items;
    for (const block of blocks) {
      const affinity = affinities.find((candidate) => candidate.metadata.name === block.metadata.name);
      expect(affinity?.spec).toMatchObject({ node: block.spec.node, state: 'confirmed' });
    }

    // kill -9: no chance to release the lease; the follower waits out its duration, then leads.
    leader.process.kill('SIGKILL');
    await leader.exited;
    for (const name of nodeNames(10, 15)) await nodes.create({ metadata: { name, labels: { [p]: 'yes' } } });
    await eventually(async () => ((await blockCount()) === 15 ? true : undefined), { timeoutMs: 60_000 });
    const takenOver = await leases.get(leaseName, p);
    expect(takenOver.spec.holderIdentity).toBe(follower.name);
    expect(takenOver.spec.leaseTransitions).toBe((lease.spec.leaseTransitions ?? 0) + 1);
    const after = (await resources.blocks.list({ labelSelector: `${apiLabels.pool}=${p}-pool` })).items;
    expect(new Set(after.map((block) => block.spec.cidr)).size).toBe(15);

    // A clean stop releases the lease so a successor need not wait.
    follower.process.kill('SIGTERM');
    expect(await follower.exited).toBe(0);
    const released = await leases.get(leaseName, p);
    expect(released.spec.holderIdentity ?? null).toBeNull();
  });
});
