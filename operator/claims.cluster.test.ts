/**
 * The operator's side of block claims (ADR 5) on a real API server: a claim that crashed before it was
 * confirmed is collected, and blocks written before claims checked for overlaps get their region label.
 */
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IPAMBlock, isPendingBlock, labels as apiLabels } from '../api/index.js';
import { isNotFound } from '../kube/index.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import { testOperator } from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const { client, resources, nodes } = adminClients(cluster.kubeconfig);
const shutdown = new AbortController();
const p = cluster.prefix;
const octet = randomInt(100, 250);
const node = `${p}-node`;
const poolName = `${p}-pool`;
let running: Promise<unknown>;

const blocksOfNode = async (): Promise<IPAMBlock[]> =>
  (await resources.blocks.list({ labelSelector: `${apiLabels.node}=${node}` })).items;

const isGone = async (read: () => Promise<unknown>): Promise<boolean> => {
  try {
    await read();
    return false;
  } catch (error) {
    if (isNotFound(error)) return true;
    throw error;
  }
};

beforeAll(async () => {
  cluster.kubectl(['create', 'namespace', p]);
  const operator = testOperator({ client, namespace: p });
  running = operator.run(shutdown.signal);
  await createNodes(nodes, [node], { [p]: 'yes' });
  await resources.pools.create({
    metadata: { name: poolName },
    spec: { cidr: `10.${octet}.0.0/24`, blockSize: 26, nodeSelector: `has(${p})` },
  });
});

afterAll(async () => {
  await removeNodes(nodes, [node]);
  shutdown.abort();
  await running;
  await removePoolAndBlocks(resources, poolName);
  cluster.tryKubectl(['delete', 'namespace', p, '--wait=false']);
  client.close();
});

describe('the operator and block claims', () => {
  it('collects a claim that crashed before it was confirmed, and the node still gets a confirmed block', async () => {
    // What a claimer killed between creating its block and confirming it leaves behind: the last block of
    // the pool, so the operator's own first claim (lowest block first) does not collide with it.
    const name = `10-${octet}-0-192-26`;
    const metadata = { name, labels: { [apiLabels.node]: node, [apiLabels.pool]: poolName } };
    await resources.affinities.create({
      metadata,
      spec: { node, cidr: `10.${octet}.0.192/26`, pool: poolName, state: 'pending' },
    });
    await resources.blocks.create({
      metadata,
      spec: { cidr: `10.${octet}.0.192/26`, pool: poolName, node: '', allocations: [], cooling: [] },
    });
    await eventually(
      async () =>
        (await isGone(() => resources.blocks.get(name))) &&
        (await isGone(() => resources.affinities.get(name)))
          ? true
          : undefined,
      { timeoutMs: 30_000 },
    );
    const blocks = await eventually(async () => {
      const held = await blocksOfNode();
      return held.length === 1 && !held.some(isPendingBlock) ? held : undefined;
    });
    expect(blocks[0]?.spec).toMatchObject({ cidr: `10.${octet}.0.0/26`, node });
    expect(blocks[0]?.metadata.labels?.[apiLabels.region]).toBe(`10-${octet}-0-0-20`);
  });

  it('labels with its region a block written before claims checked for overlaps', async () => {
    const [block] = await blocksOfNode();
    if (!block) throw new Error('the node holds no block');
    const others = Object.fromEntries(
      Object.entries(block.metadata.labels ?? {}).filter(([key]) => key !== apiLabels.region),
    );
    await resources.blocks.replace({ ...block, metadata: { ...block.metadata, labels: others } });
    await eventually(async () => {
      const current = await resources.blocks.get(block.metadata.name);
      return current.metadata.labels?.[apiLabels.region] === `10-${octet}-0-0-20` ? true : undefined;
    });
  });
});
