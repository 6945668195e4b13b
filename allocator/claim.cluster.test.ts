/**
 * Block claims on the real API server: two claimers racing for overlapping blocks of different sizes (the
 * blocks of two overlapping pools) never both end up holding one.
 */
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IPAMBlock, isPendingBlock, labels } from '../api/index.js';
import { cidrOverlaps, parseCidr } from '../ipam/index.js';
import { KubeClient, loadConnection } from '../kube/index.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { type IpamResources, claimBlock, ipamResources } from './index.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const octet = randomInt(100, 250);
const pairs = 40;

let clients: KubeClient[] = [];
let claimers: IpamResources[] = [];

/** A claim by node `a` from pool `small` or node `b` from pool `large`, of blocks of `blockSize` in `range`. */
const claim = (resources: IpamResources, who: 'a' | 'b', range: string, blockSize: number) =>
  claimBlock(resources, {
    node: `${prefix}-${who}`,
    poolName: `${prefix}-${who === 'a' ? 'small' : 'large'}`,
    poolCidr: parseCidr(range),
    blockSize,
    held: [],
    taken: new Set(),
  });

beforeAll(() => {
  // One connection per claimer, so the two claims of a pair really are in flight at once.
  clients = [0, 1].map(() => new KubeClient(loadConnection(cluster.kubeconfig)));
  claimers = clients.map((client) => ipamResources(client));
});

afterAll(async () => {
  const [resources] = claimers;
  if (resources) {
    for (const pool of [`${prefix}-small`, `${prefix}-large`]) {
      const selector = `${labels.pool}=${pool}`;
      for (const block of (await resources.blocks.list({ labelSelector: selector })).items)
        await resources.blocks.delete(block.metadata.name).catch(() => undefined);
      for (const affinity of (await resources.affinities.list({ labelSelector: selector })).items)
        await resources.affinities.delete(affinity.metadata.name).catch(() => undefined);
    }
  }
  for (const client of clients) client.close();
});

describe('claimBlock', () => {
  it(`never confirms two overlapping blocks when claimers of /28 and /26 blocks race (${pairs} pairs)`, async () => {
    const [small, large] = claimers;
    if (!small || !large) throw new Error('claimers not set up');
    let claimed = 0;
    for (let pair = 0; pair < pairs; pair++) {
      // Each pair races over its own /26 range, as two overlapping pools' first blocks would.
      const range = `10.${octet}.${pair}.0/26`;
      const outcomes = await Promise.all([claim(small, 'a', range, 28), claim(large, 'b', range, 26)]);
      claimed += outcomes.filter((outcome) => outcome.block !== undefined).length;
    }
    const [reader] = claimers;
    if (!reader) throw new Error('claimers not set up');
    const blocks: IPAMBlock[] = [];
    for (const pool of [`${prefix}-small`, `${prefix}-large`])
      blocks.push(...(await reader.blocks.list({ labelSelector: `${labels.pool}=${pool}` })).items);
    expect(blocks.filter(isPendingBlock), 'claims left pending').toEqual([]);
    for (const [index, a] of blocks.entries()) {
      for (const b of blocks.slice(index + 1)) {
        expect(
          cidrOverlaps(parseCidr(a.spec.cidr), parseCidr(b.spec.cidr)),
          `${a.spec.cidr} / ${b.spec.cidr}`,
        ).toBe(false);
      }
    }
    // Not vacuous: most pairs end with one winner (both may give up when they see each other pending).
    expect(claimed).toBeGreaterThan(pairs / 2);
    expect(blocks.length).toBe(claimed);
  });

  it('claims the next candidate that overlaps nothing, and reports the ones it gave up', async () => {
    const [resources] = claimers;
    if (!resources) throw new Error('claimers not set up');
    const range = `10.${octet}.100.0/26`;
    const first = await claim(resources, 'b', range, 27);
    expect(first.block?.spec.cidr).toBe(`10.${octet}.100.0/27`);
    const second = await claim(resources, 'a', range, 28);
    expect(second.block?.spec.cidr).toBe(`10.${octet}.100.32/28`);
    expect(second.block?.spec.node).toBe(`${prefix}-a`);
    expect(second.overlaps).toEqual([
      `10.${octet}.100.0/28 overlaps 10.${octet}.100.0/27 (pool ${prefix}-large)`,
      `10.${octet}.100.16/28 overlaps 10.${octet}.100.0/27 (pool ${prefix}-large)`,
    ]);
  });
});
