import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type IPAMBlock,
  type IPPool,
  isPendingBlock,
  labels as apiLabels,
  poolFinalizer,
} from '../api/index.js';
import { cidrContains, parseCidr } from '../ipam/index.js';
import { isNotFound } from '../kube/index.js';
import { adminClients, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import { Operator } from './operator.js';
import { testOperator } from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const { client, resources, nodes } = adminClients(cluster.kubeconfig);
const shutdown = new AbortController();
const p = cluster.prefix;
let operator: Operator;
let running: Promise<unknown>;

const nodeName = (i: number) => `${p}-kube-node-${i}`;
const pool = (name: string, cidr: string, nodeSelector: string): IPPool => ({
  metadata: { name: `${p}-${name}` },
  spec: { cidr, blockSize: 26, nodeSelector },
});
/** The blocks a node holds: claims still pending (not yet checked for overlaps) are not the node's yet. */
const blocksOf = async (node: string): Promise<IPAMBlock[]> =>
  (await resources.blocks.list({ labelSelector: `${apiLabels.node}=${node}` })).items.filter(
    (block) => !isPendingBlock(block),
  );
const poolNamed = (name: string) => resources.pools.get(`${p}-${name}`);

beforeAll(async () => {
  cluster.kubectl(['create', 'namespace', p]);
  operator = testOperator({ client, namespace: p });
  running = operator.run(shutdown.signal);
  // Calico's topology example: four nodes over two racks, one pool per rack.
  for (let i = 0; i < 4; i++) {
    await nodes.create({
      metadata: { name: nodeName(i), labels: { rack: String(i % 2 === 0 ? 0 : 1), [p]: 'yes' } },
    });
  }
  await resources.pools.create(pool('rack-0', '192.168.0.0/24', `rack == "0" && has(${p})`));
  await resources.pools.create(pool('rack-1', '192.168.1.0/24', `rack == "1" && has(${p})`));
});

afterAll(async () => {
  await removeNodes(nodes, [0, 1, 2, 3].map(nodeName));
  for (const name of ['rack-0', 'rack-1', 'overlap', 'doomed'])
    await resources.pools.delete(`${p}-${name}`).catch(() => undefined);
  // The operator releases the blocks and lifts its finalizers before it stops.
  await eventually(
    async () => {
      const left = (await resources.pools.list()).items.filter((item) => item.metadata.name.startsWith(p));
      return left.length === 0 ? true : undefined;
    },
    { timeoutMs: 30_000 },
  );
  shutdown.abort();
  await running;
  cluster.tryKubectl(['delete', 'namespace', p, '--wait=false']);
  client.close();
});

describe('the operator on a real API server', () => {
  it('gives every node one /26 from its rack pool and none from the other', async () => {
    const byNode = await eventually(async () => {
      const result = await Promise.all([0, 1, 2, 3].map((i) => blocksOf(nodeName(i))));
      return result.every((blocks) => blocks.length === 1) ? result : undefined;
    });
    const rack0 = parseCidr('192.168.0.0/24');
    const rack1 = parseCidr('192.168.1.0/24');
    byNode.forEach((blocks, i) => {
      const [block] = blocks;
      expect(block?.spec.node).toBe(nodeName(i));
      expect(block?.metadata.labels?.[apiLabels.pool]).toBe(`${p}-rack-${i % 2}`);
      expect(cidrContains(i % 2 === 0 ? rack0 : rack1, parseCidr(block?.spec.cidr ?? ''))).toBe(true);
    });
    expect(new Set(byNode.map((blocks) => blocks[0]?.spec.cidr)).size).toBe(4);
    // The affinity is confirmed by the claim's last write, just after its block.
    const affinities = await eventually(async () => {
      const { items } = await resources.affinities.list({ labelSelector: `${apiLabels.pool}=${p}-rack-0` });
      return items.every((a) => a.spec.state === 'confirmed') ? items : undefined;
    });
    expect(affinities.map((a) => a.spec.state)).toEqual(['confirmed', 'confirmed']);
  });

  it('reports each pool Allocatable with its counts, a finalizer, and kubectl columns', async () => {
    const rack0 = await eventually(async () => {
      const current = await poolNamed('rack-0');
      return current.status?.allocatedBlocks === 2 ? current : undefined;
    });
    expect(rack0.metadata.finalizers).toContain(poolFinalizer);
    expect(rack0.status?.conditions?.[0]).toMatchObject({
      type: 'Allocatable',
      status: 'True',
      reason: 'OK',
    });
    expect(rack0.status).toMatchObject({
      blockSize: 26,
      selectedNodes: 2,
      allocatedAddresses: 0,
      capacity: '256',
    });
    const wide = cluster.kubectl(['get', 'ippool', `${p}-rack-0`, '-o', 'wide']);
    expect(wide).toMatch(
      new RegExp(
        `${p}-rack-0\\s+192\\.168\\.0\\.0/24\\s+26\\s+false\\s+Never\\s+Never\\s+false\\s+rack == "0"`,
      ),
    );
    expect(wide).toContain('0/256 (0%)');
  });

  it('marks the newer of two overlapping pools CIDROverlap, with an Event, and never allocates from it', async () => {
    await resources.pools.create(pool('overlap', '192.168.0.0/16', `has(${p})`));
    const overlap = await eventually(async () => {
      const current = await poolNamed('overlap');
      return current.status?.conditions?.[0]?.reason === 'CIDROverlap' ? current : undefined;
    });
    expect(overlap.status?.conditions?.[0]).toMatchObject({ status: 'False' });
    expect(overlap.status?.conditions?.[0]?.message).toContain(
      `IPPool "${p}-overlap" 192.168.0.0/16 overlaps IPPool "${p}-rack-0" 192.168.0.0/24 (inside it)`,
    );
    const events = cluster.kubectl([
      'get',
      'events',
      '-n',
      'default',
      '--field-selector',
      `involvedObject.name=${p}-overlap`,
      '-o',
      'jsonpath={.items[*].reason}',
    ]);
    expect(events).toContain('CIDROverlap');
    const rack0 = await poolNamed('rack-0');
    expect(rack0.status?.conditions?.[0]?.reason).toBe('OK');
    const fromOverlap = await resources.blocks.list({ labelSelector: `${apiLabels.pool}=${p}-overlap` });
    expect(fromOverlap.items).toHaveLength(0);
    await resources.pools.delete(`${p}-overlap`);
  });

  it('moves a relabelled node to the other rack pool and releases its empty old block', async () => {
    const node = await nodes.get(nodeName(0));
    await nodes.replace({
      ...node,
      metadata: { ...node.metadata, labels: { ...node.metadata.labels, rack: '1' } },
    });
    const blocks = await eventually(async () => {
      const current = await blocksOf(nodeName(0));
      return current.length === 1 && current[0]?.spec.pool === `${p}-rack-1` ? current : undefined;
    });
    expect(cidrContains(parseCidr('192.168.1.0/24'), parseCidr(blocks[0]?.spec.cidr ?? ''))).toBe(true);
    const oldAffinities = (
      await resources.affinities.list({ labelSelector: `${apiLabels.node}=${nodeName(0)}` })
    ).items;
    expect(oldAffinities.map((a) => a.spec.pool)).toEqual([`${p}-rack-1`]);
  });

  it("keeps a relabelled node's block that still holds a pod, draining, until the pool serves it again", async () => {
    const [held] = await blocksOf(nodeName(2));
    if (!held) throw new Error('node 2 has no block');
    const assignedAt = new Date().toISOString();
    await resources.blocks.replace({
      ...held,
      spec: {
        ...held.spec,
        allocations: [{ ordinal: 3, handle: 'net.kept.eth0', node: nodeName(2), assignedAt }],
      },
    });
    const relabel = async (rack: string) => {
      const node = await nodes.get(nodeName(2));
      await nodes.replace({
        ...node,
        metadata: { ...node.metadata, labels: { ...node.metadata.labels, rack } },
      });
    };
    await relabel('1');
    const moved = await eventually(async () => {
      const current = await blocksOf(nodeName(2));
      const old = current.find((block) => block.metadata.name === held.metadata.name);
      return current.length === 2 && old?.spec.draining === true ? current : undefined;
    });
    expect(moved.find((block) => block.metadata.name !== held.metadata.name)?.spec.pool).toBe(`${p}-rack-1`);
    await relabel('0');
    await eventually(async () => {
      const old = (await blocksOf(nodeName(2))).find((block) => block.metadata.name === held.metadata.name);
      return old?.spec.draining === false ? true : undefined;
    });
    const fresh = await resources.blocks.get(held.metadata.name);
    await resources.blocks.replace({ ...fresh, spec: { ...fresh.spec, allocations: [] } });
  });

  it('releases the blocks of a deleted node', async () => {
    expect(await blocksOf(nodeName(3))).toHaveLength(1);
    await nodes.delete(nodeName(3));
    await eventually(async () => ((await blocksOf(nodeName(3))).length === 0 ? true : undefined));
    await eventually(async () => {
      const affinities = await resources.affinities.list({
        labelSelector: `${apiLabels.node}=${nodeName(3)}`,
      });
      return affinities.items.length === 0 ? true : undefined;
    });
  });

  it('frees an address whose pod is gone, and keeps one whose pod exists', async () => {
    cluster.kubectl([
      'run',
      `${p}-alive`,
      '-n',
      p,
      '--image=registry.invalid/none',
      '--restart=Never',
      `--overrides={"spec":{"nodeName":"${nodeName(1)}"}}`,
    ]);
    const [block] = await blocksOf(nodeName(1));
    if (!block) throw new Error('node 1 has no block');
    const assignedAt = new Date(Date.now() - 10_000).toISOString();
    await resources.blocks.replace({
      ...block,
      spec: {
        ...block.spec,
        allocations: [
          {
            ordinal: 1,
            handle: `net.gone.eth0`,
            namespace: p,
            pod: `${p}-gone`,
            node: nodeName(1),
            assignedAt,
          },
          {
            ordinal: 2,
            handle: `net.alive.eth0`,
            namespace: p,
            pod: `${p}-alive`,
            node: nodeName(1),
            assignedAt,
          },
        ],
      },
    });
    const collected = await eventually(async () => {
      const current = await resources.blocks.get(block.metadata.name);
      return current.spec.allocations.length === 1 ? current : undefined;
    });
    expect(collected.spec.allocations.map((a) => a.pod)).toEqual([`${p}-alive`]);
    expect(collected.spec.cooling.map((c) => c.ordinal)).toEqual([1]);
    cluster.kubectl(['delete', 'pod', `${p}-alive`, '-n', p, '--grace-period=0', '--force']);
    await eventually(async () =>
      (await resources.blocks.get(block.metadata.name)).spec.allocations.length === 0 ? true : undefined,
    );
  });

  it('holds the deletion of a pool until no block in it holds an address', async () => {
    await nodes.create({ metadata: { name: `${p}-doomed-node`, labels: { doomed: 'yes', [p]: 'yes' } } });
    await resources.pools.create(pool('doomed', '10.77.0.0/24', `doomed == "yes" && has(${p})`));
    const [block] = await eventually(async () => {
      const current = await blocksOf(`${p}-doomed-node`);
      return current.length === 1 ? current : undefined;
    });
    if (!block) throw new Error('no block');
    await resources.blocks.replace({
      ...block,
      spec: {
        ...block.spec,
        allocations: [
          { ordinal: 5, handle: 'h', node: `${p}-doomed-node`, assignedAt: new Date().toISOString() },
        ],
      },
    });
    await resources.pools.delete(`${p}-doomed`);
    const terminating = await eventually(async () => {
      const current = await poolNamed('doomed');
      return current.status?.conditions?.[0]?.reason === 'Terminating' ? current : undefined;
    });
    expect(terminating.status?.conditions?.[0]?.message).toContain('waiting for 1 address');
    const fresh = await resources.blocks.get(block.metadata.name);
    await resources.blocks.replace({ ...fresh, spec: { ...fresh.spec, allocations: [] } });
    await eventually(async () => {
      try {
        await poolNamed('doomed');
        return undefined;
      } catch (error) {
        return isNotFound(error) ? true : undefined;
      }
    });
    await nodes.delete(`${p}-doomed-node`);
  });
});
