/**
 * Issue #9, item 1: pools that overlap (admitted while the webhook was unavailable, or created racing each
 * other) must never give one address to two pods. The real plugin on two nodes, each served by one of two
 * pools over one range with different block sizes, against the real API server.
 */
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpamResources } from '../allocator/index.js';
import { type IPAMBlock, labels } from '../api/index.js';
import { cidrOverlaps, parseCidr } from '../ipam/index.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { type AdminClients, adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import { createAllocatablePool } from '../local-cluster/pools.js';
import {
  type InstalledPlugin,
  type PluginOutcome,
  bridgeNetwork,
  inParallel,
  installPlugin,
  invokePlugin,
  removePlugin,
  startNodeAgent,
} from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const octet = randomInt(100, 250);
const range = `10.${octet}.0.0/24`;
const nodeLabel = 'topology-ipam.test/overlap';
const nodes = { small: `${prefix}-small`, large: `${prefix}-large`, fresh: `${prefix}-fresh` } as const;
const pools = {
  small: { name: `${prefix}-by-28`, blockSize: 28 },
  large: { name: `${prefix}-by-26`, blockSize: 26 },
};
/** A pool the operator has not looked at (not marked Allocatable). */
const unchecked = `${prefix}-unchecked`;

let plugin: InstalledPlugin;
let admin: AdminClients | undefined;
let resources: IpamResources;

const add = (node: string, containerId: string) =>
  invokePlugin(plugin, {
    command: 'ADD',
    containerId,
    config: bridgeNetwork(plugin, { name: `${prefix}-net`, node }),
  });

function addressOf(outcome: PluginOutcome): string {
  expect(outcome.exitCode, outcome.stdout + outcome.stderr).toBe(0);
  const [ip] = (outcome.json?.ips ?? []) as { address: string }[];
  if (!ip) throw new Error(`no address in ${outcome.stdout}`);
  return ip.address.replace(/\/\d+$/, '');
}

const blocksOfPools = async (): Promise<IPAMBlock[]> =>
  (
    await Promise.all(
      Object.values(pools).map((pool) =>
        resources.blocks.list({ labelSelector: `${labels.pool}=${pool.name}` }),
      ),
    )
  ).flatMap((list) => list.items);

beforeAll(async () => {
  plugin = await installPlugin({ kubeconfig: cluster.kubeconfig });
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  for (const [role, name] of Object.entries(nodes)) {
    await createNodes(admin.nodes, [name], { [nodeLabel]: `${prefix}-${role}` });
  }
  // Both pools marked Allocatable, as if the webhook had been down and each had been checked alone:
  // only the claim itself stands between them.
  for (const [role, pool] of Object.entries(pools)) {
    await createAllocatablePool(resources, {
      metadata: { name: pool.name },
      spec: { cidr: range, blockSize: pool.blockSize, nodeSelector: `${nodeLabel} == "${prefix}-${role}"` },
    });
  }
  // Each node's agent, as the DaemonSet runs it, started once before any pod (not by the first of
  // several concurrent ADDs).
  for (const node of Object.values(nodes)) await startNodeAgent(plugin, node);
}, 120_000);

afterAll(async () => {
  if ((plugin as InstalledPlugin | undefined) !== undefined) await removePlugin(plugin);
  if (admin === undefined) return;
  for (const pool of Object.values(pools)) await removePoolAndBlocks(resources, pool.name);
  await resources.pools.delete(unchecked).catch(() => undefined);
  await removeNodes(admin.nodes, Object.values(nodes));
  admin.client.close();
});

describe('overlapping pools', () => {
  it('never give one address to two pods: no block is created over another block of another size', async () => {
    const tasks = Array.from({ length: 24 }, (_, index) => {
      const node = index % 2 === 0 ? nodes.small : nodes.large;
      return () => add(node, `${prefix}-c${index}`);
    });
    const addresses = (await inParallel(6, tasks)).map(addressOf);
    expect(new Set(addresses).size).toBe(addresses.length);

    const blocks = await blocksOfPools();
    const confirmed = blocks.filter((block) => block.spec.node !== '');
    for (const [index, a] of confirmed.entries()) {
      for (const b of confirmed.slice(index + 1)) {
        expect(
          cidrOverlaps(parseCidr(a.spec.cidr), parseCidr(b.spec.cidr)),
          `${a.spec.cidr} (${a.spec.pool}) overlaps ${b.spec.cidr} (${b.spec.pool})`,
        ).toBe(false);
      }
    }
    expect(new Set(confirmed.map((block) => block.spec.pool)).size).toBe(2);
  });

  it('claims nothing from a pool the operator has not marked Allocatable, and says so', async () => {
    await resources.pools.create({
      metadata: { name: unchecked },
      spec: { cidr: `10.${octet}.128.0/24`, nodeSelector: `${nodeLabel} == "${prefix}-fresh"` },
    });
    // The agent knows pools from its watch: the ADD comes once it has seen this one.
    const agent = await startNodeAgent(plugin, nodes.fresh);
    await eventually(() =>
      agent.cache.pools().some((pool) => pool.metadata.name === unchecked) ? true : undefined,
    );
    const outcome = await add(nodes.fresh, `${prefix}-fresh-0`);
    expect(outcome.exitCode).toBe(1);
    expect(outcome.json?.code).toBe(101);
    expect(String(outcome.json?.details)).toMatch(/not yet marked Allocatable by the operator/);
    const claimed = await resources.blocks.list({ labelSelector: `${labels.node}=${nodes.fresh}` });
    expect(claimed.items).toEqual([]);
  });
});
