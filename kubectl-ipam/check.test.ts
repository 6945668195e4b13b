import { describe, expect, it } from 'vitest';
import { type CheckReport, checkCluster, problemCount, problemKinds } from './check.js';
import { affinityOf, allocation, block, clearedPool, node, pod, snapshot } from './fixtures.js';
import type { Snapshot } from './snapshot.js';

const now = new Date('2024-01-02T00:00:00Z');
const graceMs = 60_000;
const pool = clearedPool('default', { cidr: '10.0.0.0/24' });
const live = allocation(2, { namespace: 'app', pod: 'web', node: 'node-a' });
const leaked = allocation(3, { namespace: 'app', pod: 'gone', node: 'node-a' });
const healthyBlock = block('10.0.0.0/26', 'default', 'node-a', { allocations: [live] });
/** A cluster with nothing wrong: one pool, one node holding one block, one pod with its address recorded. */
const healthy = snapshot({
  pools: [pool],
  blocks: [healthyBlock],
  affinities: [affinityOf(healthyBlock)],
  nodes: [node('node-a')],
  pods: [pod('app', 'web', 'node-a', '10.0.0.2')],
});

const withBlock = (extra: ReturnType<typeof block>, affine = true): Partial<Snapshot> => ({
  blocks: [healthyBlock, extra],
  affinities: affine ? [affinityOf(healthyBlock), affinityOf(extra)] : [affinityOf(healthyBlock)],
});

describe('checkCluster', () => {
  it('finds no problem in a consistent cluster', () => {
    const report = checkCluster(healthy, { now, graceMs });
    expect(problemCount(report)).toBe(0);
    expect(report).toMatchObject({
      kind: 'IpamCheckReport',
      cluster: healthy.cluster,
      generatedAt: now.toISOString(),
    });
  });

  it.each<[string, Partial<Snapshot>, keyof CheckReport & (typeof problemKinds)[number], unknown]>([
    [
      'an address whose pod is gone, with its age',
      (() => {
        const leaking = block('10.0.0.0/26', 'default', 'node-a', { allocations: [live, leaked] });
        return { blocks: [leaking], affinities: [affinityOf(leaking)] };
      })(),
      'leaks',
      {
        address: '10.0.0.3',
        namespace: 'app',
        pod: 'gone',
        reason: 'pod-gone',
        ageSeconds: 86_400,
        ordinal: 3,
      },
    ],
    [
      'a pod whose address no block records',
      { pods: [pod('app', 'web', 'node-a', '10.0.0.2'), pod('app', 'stray', 'node-a', '10.0.0.9')] },
      'unrecordedPods',
      { namespace: 'app', pod: 'stray', address: '10.0.0.9' },
    ],
    [
      'an address recorded in two overlapping blocks',
      withBlock(
        block('10.0.0.0/28', 'default', 'node-a', { allocations: [allocation(2, { handle: 'other' })] }),
      ),
      'duplicates',
      {
        address: '10.0.0.2',
        holders: [
          { block: '10.0.0.0/26', handle: live.handle },
          { block: '10.0.0.0/28', handle: 'other' },
        ],
      },
    ],
    [
      'a block without its affinity',
      withBlock(block('10.0.0.64/26', 'default', 'node-a'), false),
      'blocksWithoutAffinity',
      { block: '10.0.0.64/26', node: 'node-a' },
    ],
    [
      'an affinity without its block',
      { affinities: [affinityOf(healthyBlock), affinityOf(block('10.0.0.128/26', 'default', 'node-a'))] },
      'affinitiesWithoutBlock',
      { block: '10.0.0.128/26', node: 'node-a' },
    ],
    [
      'a block of a deleted node',
      withBlock(block('10.0.0.64/26', 'default', 'node-gone')),
      'blocksOfDeletedNodes',
      { block: '10.0.0.64/26', node: 'node-gone' },
    ],
    [
      'a block outside every pool',
      withBlock(block('10.9.0.0/26', 'default', 'node-a')),
      'blocksOutsidePools',
      { block: '10.9.0.0/26', pool: 'default' },
    ],
  ])('reports %s, and only that', (_, parts, kind, entry) => {
    const report = checkCluster({ ...healthy, ...parts }, { now, graceMs });
    expect(report[kind]).toEqual([expect.objectContaining(entry)]);
    expect(problemCount(report)).toBe(1);
  });

  it('leaves out records younger than the grace: a pod or a claim may be on its way', () => {
    const justNow = new Date(now.getTime() - 1000).toISOString();
    const young = block('10.0.0.0/26', 'default', 'node-a', {
      allocations: [
        live,
        allocation(3, { namespace: 'app', pod: 'starting', node: 'node-a', assignedAt: justNow }),
      ],
    });
    const claiming = block('10.0.0.128/26', 'default', 'node-a');
    const report = checkCluster(
      {
        ...healthy,
        blocks: [young],
        affinities: [
          affinityOf(young),
          { ...affinityOf(claiming), metadata: { name: claiming.metadata.name, creationTimestamp: justNow } },
        ],
        pods: [
          ...healthy.pods,
          {
            ...pod('app', 'new', 'node-a', '10.0.0.7'),
            metadata: { namespace: 'app', name: 'new', creationTimestamp: justNow },
          },
        ],
      },
      { now, graceMs },
    );
    expect(problemCount(report)).toBe(0);
  });

  it("skips host-network pods, whose address is the node's", () => {
    const host = {
      ...pod('kube-system', 'proxy', 'node-a', '10.0.0.40'),
      spec: { nodeName: 'node-a', hostNetwork: true },
    };
    expect(problemCount(checkCluster({ ...healthy, pods: [...healthy.pods, host] }, { now, graceMs }))).toBe(
      0,
    );
  });
});
