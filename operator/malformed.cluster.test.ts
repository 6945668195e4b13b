/**
 * Objects the API server stored before its CRDs were as strict as they are now (or that an older version
 * wrote): the operator must skip and report each one, and keep converging everything else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BlockAffinity, type IPAMBlock, type IPReservation, labels as apiLabels } from '../api/index.js';
import { cidrToResourceName, parseCidr } from '../ipam/index.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import { withLooseCrds } from '../local-cluster/loose-crds.js';
import { jsonLogger } from '../runtime/index.js';
import { createMetrics } from './metrics.js';
import { testOperator } from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const { client, resources, nodes } = adminClients(cluster.kubeconfig);
const shutdown = new AbortController();
const metrics = createMetrics();
const p = cluster.prefix;
const poolName = `${p}-pool`;
const nodeA = `${p}-node-a`;
const nodeB = `${p}-node-b`;
const anHourAgo = new Date(Date.now() - 3_600_000).toISOString();
let running: Promise<unknown> | undefined;

const blockLabels = (node: string) => ({ [apiLabels.node]: node, [apiLabels.pool]: poolName });
const nameOf = (cidr: string) => cidrToResourceName(parseCidr(cidr));

/** Node A's valid block, holding an address whose pod is long gone: the operator must still free it. */
const validBlock: IPAMBlock = {
  metadata: { name: nameOf('10.93.0.0/26'), labels: blockLabels(nodeA) },
  spec: {
    cidr: '10.93.0.0/26',
    pool: poolName,
    node: nodeA,
    allocations: [
      {
        ordinal: 5,
        handle: 'net.gone.eth0',
        namespace: 'default',
        pod: `${p}-gone`,
        node: nodeA,
        assignedAt: anHourAgo,
      },
    ],
    cooling: [],
  },
};
/** Named to list before the valid block (a LIST is in name order), so a reconcile meets it first. */
const garbageBlock: IPAMBlock = {
  metadata: { name: `0-${p}-garbage`, labels: blockLabels(nodeA) },
  spec: { cidr: 'garbage', pool: poolName, node: nodeA, allocations: [], cooling: [] },
};
/** Node B's only block: a real CIDR of the pool, with ordinals outside it and one held twice. */
const outOfRangeBlock: IPAMBlock = {
  metadata: { name: nameOf('10.93.0.64/26'), labels: blockLabels(nodeB) },
  spec: {
    cidr: '10.93.0.64/26',
    pool: poolName,
    node: nodeB,
    allocations: [
      { ordinal: 100, handle: 'net.a.eth0', node: nodeB, assignedAt: anHourAgo },
      { ordinal: 7, handle: 'net.b.eth0', node: nodeB, assignedAt: anHourAgo },
      { ordinal: 7, handle: 'net.c.eth0', node: nodeB, assignedAt: anHourAgo },
    ],
    cooling: [{ ordinal: 3, releasedAt: 'later' }],
  },
};
/** A reservation with one well-formed entry and two that are neither an address nor a CIDR. */
const reservation: IPReservation = {
  metadata: { name: `${p}-reservation` },
  spec: { reservedCIDRs: ['10.93.1.5', 'garbage', '10.93.1.0/33'] },
};
const garbageAffinity: BlockAffinity = {
  metadata: { name: `${p}-garbage-affinity`, labels: blockLabels(nodeA) },
  spec: { node: nodeA, cidr: 'garbage', pool: poolName, state: 'pending' },
};

beforeAll(async () => {
  cluster.kubectl(['create', 'namespace', p]);
  await withLooseCrds(cluster, async () => {
    for (const block of [garbageBlock, outOfRangeBlock, validBlock]) await resources.blocks.create(block);
    await resources.affinities.create({
      metadata: { name: validBlock.metadata.name, labels: blockLabels(nodeA) },
      spec: { node: nodeA, cidr: validBlock.spec.cidr, pool: poolName, state: 'confirmed' },
    });
    await resources.affinities.create(garbageAffinity);
    await resources.reservations.create(reservation);
  });

  await createNodes(nodes, [nodeA, nodeB], { [p]: 'yes' });
  await resources.pools.create({
    metadata: { name: poolName },
    spec: { cidr: '10.93.0.0/24', blockSize: 26, nodeSelector: `has(${p})` },
  });
  const operator = testOperator({
    client,
    namespace: p,
    log: jsonLogger({ level: process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'error' }),
    metrics,
    staleClaimMs: 1_000,
  });
  running = operator.run(shutdown.signal);
}, 180_000);

afterAll(async () => {
  shutdown.abort();
  await running;
  await resources.affinities.delete(garbageAffinity.metadata.name).catch(() => undefined);
  await resources.reservations.delete(reservation.metadata.name).catch(() => undefined);
  await removePoolAndBlocks(resources, poolName);
  await removeNodes(nodes, [nodeA, nodeB]);
  cluster.tryKubectl(['delete', 'namespace', p, '--wait=false']);
  client.close();
});

describe('malformed objects stored before the CRDs were strict', () => {
  it("do not stop the operator freeing a leaked address in the node's valid block", async () => {
    const freed = await eventually(
      async () => {
        const block = await resources.blocks.get(validBlock.metadata.name);
        return block.spec.allocations.length === 0 ? block : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(freed.spec.cooling.map((entry) => entry.ordinal)).toEqual([5]);
  });

  it('do not stop a node whose only block is malformed getting a well-formed block, past the bad one', async () => {
    const claimed = await eventually(
      async () => {
        const blocks = (await resources.blocks.list({ labelSelector: `${apiLabels.node}=${nodeB}` })).items;
        const others = blocks.filter((block) => block.metadata.name !== outOfRangeBlock.metadata.name);
        return others.length > 0 ? others : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(claimed.map((block) => block.spec.cidr)).toEqual(['10.93.0.128/26']);
  });

  it('are each reported by a Warning Event naming what is wrong, and counted in a metric', async () => {
    const expected = new Map([
      [garbageBlock.metadata.name, 'spec.cidr: "garbage" is not a valid CIDR'],
      [
        outOfRangeBlock.metadata.name,
        'spec.allocations[0].ordinal: ordinal 100 is outside the block 10.93.0.64/26',
      ],
      [garbageAffinity.metadata.name, 'spec.cidr: "garbage" is not a valid CIDR'],
    ]);
    const events = await eventually(
      () => {
        const ours = cluster
          .events('reason=Malformed')
          .filter((event) => expected.has(event.involvedObject.name));
        return ours.length >= expected.size ? ours : undefined;
      },
      { timeoutMs: 60_000 },
    );
    for (const event of events) {
      expect(event.type).toBe('Warning');
      expect(event.message).toContain(expected.get(event.involvedObject.name));
    }
    expect(
      events.find((event) => event.involvedObject.name === outOfRangeBlock.metadata.name)?.message,
    ).toContain('spec.allocations[2].ordinal: ordinal 7 is listed twice');
    const gauge = await metrics.registry.getSingleMetric('topology_ipam_malformed_objects')?.get();
    const count = (kind: string) => gauge?.values.find((value) => value.labels.kind === kind)?.value;
    expect(count('IPAMBlock')).toBe(2);
    expect(count('BlockAffinity')).toBe(1);
  });

  it('an IPReservation with entries that do not parse: a Warning Event on it naming each entry and why, and counted', async () => {
    const event = await eventually(
      () => cluster.events(`reason=Malformed,involvedObject.name=${reservation.metadata.name}`)[0],
      { timeoutMs: 60_000 },
    );
    expect(event).toMatchObject({ type: 'Warning', involvedObject: { kind: 'IPReservation' } });
    expect(event.message).toMatch(
      /^entries skipped by the operator and the node agents until fixed: spec\.reservedCIDRs\[1\]: "garbage" is not a valid IP address: .+; spec\.reservedCIDRs\[2\]: "10\.93\.1\.0\/33" is not a valid CIDR: /,
    );
    const gauge = await metrics.registry.getSingleMetric('topology_ipam_malformed_objects')?.get();
    expect(gauge?.values.find((value) => value.labels.kind === 'IPReservation')?.value).toBe(1);
  });

  it('an IPReservation with entries that do not parse: EntriesValid False in its status, True once fixed', async () => {
    const entriesValid = async () =>
      (await resources.reservations.get(reservation.metadata.name)).status?.conditions?.find(
        (condition) => condition.type === 'EntriesValid',
      );
    const invalid = await eventually(entriesValid, { timeoutMs: 60_000 });
    expect(invalid).toMatchObject({ status: 'False', reason: 'MalformedEntries' });
    expect(invalid.message).toMatch(/^spec\.reservedCIDRs\[1\]: "garbage" .+; spec\.reservedCIDRs\[2\]: /);
    const current = await resources.reservations.get(reservation.metadata.name);
    await resources.reservations.replace({ ...current, spec: { reservedCIDRs: ['10.93.1.5'] } });
    const valid = await eventually(
      async () => ((await entriesValid())?.status === 'True' ? entriesValid() : undefined),
      { timeoutMs: 60_000 },
    );
    expect(valid).toMatchObject({ reason: 'EntriesParse', message: '' });
  });

  it('are left as they are: neither deleted nor rewritten', async () => {
    const block = await resources.blocks.get(outOfRangeBlock.metadata.name);
    expect(block.spec).toEqual(outOfRangeBlock.spec);
    const affinity = await resources.affinities.get(garbageAffinity.metadata.name);
    expect(affinity.spec).toEqual(garbageAffinity.spec);
  });
});
