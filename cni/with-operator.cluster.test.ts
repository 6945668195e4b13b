/**
 * The CNI plugin and the operator at work together on one API server: the operator hands the nodes
 * their blocks ahead of time and tops them up, the plugin (the real binary, as a runtime calls it)
 * assigns from them and claims more itself under a burst, plugins are killed mid-ADD — and still no
 * address is given twice, every address lies in its own node's blocks, and DEL empties every block.
 */
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labels } from '../api/index.js';
import { type IPAMBlock, ipamResources } from '../allocator/index.js';
import { cidrContainsAddress, parseAddress, parseCidr } from '../ipam/index.js';
import { KubeClient, type Node, ResourceClient, coreResources, loadConnection } from '../kube/index.js';
import { removePoolAndBlocks } from '../test/cluster/cleanup.js';
import { clusterTestContext } from '../test/cluster/context.js';
import { eventually } from '../test/cluster/eventually.js';
import {
  type InstalledPlugin,
  type PluginOutcome,
  installPlugin,
  removePlugin,
  startPlugin,
} from './testing.js';
import { testOperator } from '../operator/testing.js';

const cluster = clusterTestContext(import.meta.url);
const p = cluster.prefix;
const client = new KubeClient(loadConnection(cluster.kubeconfig));
const resources = ipamResources(client);
const nodes = new ResourceClient<Node>(client, coreResources.nodes);
const poolName = `${p}-pool`;
const nodeNames = [0, 1, 2].map((i) => `${p}-node-${i}`);
const shutdown = new AbortController();
let plugin: InstalledPlugin;
let running: Promise<unknown>;

const network = (node: string) => ({
  cniVersion: '1.0.0',
  name: `${p}-net`,
  type: 'bridge',
  ipam: {
    type: 'topology-ipam',
    kubeconfig: cluster.kubeconfig,
    state_dir: plugin.stateDir,
    nodename: node,
    timeout_seconds: 120,
  },
});
const add = (node: string, id: string) =>
  startPlugin(plugin, { command: 'ADD', containerId: id, config: network(node) });
const del = (node: string, id: string) =>
  startPlugin(plugin, { command: 'DEL', containerId: id, config: network(node) }).outcome;
const blocksOf = async (node: string): Promise<IPAMBlock[]> =>
  (await resources.blocks.list({ labelSelector: `${labels.node}=${node}` })).items;
const addressOf = (outcome: PluginOutcome): string => {
  expect(outcome.exitCode, outcome.stdout + outcome.stderr).toBe(0);
  const [ip] = (outcome.json?.ips ?? []) as { address: string }[];
  if (!ip) throw new Error(`no address in ${outcome.stdout}`);
  return ip.address.split('/')[0] ?? '';
};

beforeAll(async () => {
  cluster.kubectl(['create', 'namespace', p]);
  plugin = await installPlugin();
  for (const name of nodeNames) await nodes.create({ metadata: { name, labels: { [p]: 'yes' } } });
  // /28 blocks hold 14 addresses: a burst of 20 pods per node outgrows what the operator hands out first.
  await resources.pools.create({
    metadata: { name: poolName },
    spec: {
      cidr: `10.${randomInt(100, 250)}.${randomInt(0, 255)}.0/24`,
      blockSize: 28,
      nodeSelector: `has(${p})`,
    },
  });
  const operator = testOperator({
    client,
    namespace: p,
    // The test's pods are not real Pod objects; keep the collector away from them for the file's life.
    leakGraceMs: 600_000,
    staleClaimMs: 60_000,
  });
  running = operator.run(shutdown.signal);
}, 120_000);

afterAll(async () => {
  shutdown.abort();
  await running;
  await removePoolAndBlocks(resources, poolName);
  for (const name of nodeNames) await nodes.delete(name).catch(() => undefined);
  removePlugin(plugin);
  cluster.tryKubectl(['delete', 'namespace', p, '--wait=false']);
  client.close();
});

describe('the CNI plugin with the operator running', () => {
  it("assigns distinct addresses in each node's own blocks through a burst with kills, and DEL empties them", async () => {
    // The operator gives every node its blocks before any pod starts.
    await eventually(async () => {
      const held = await Promise.all(nodeNames.map(blocksOf));
      return held.every((blocks) => blocks.length > 0) ? true : undefined;
    });

    const ids = nodeNames.flatMap((node, n) =>
      Array.from({ length: 20 }, (_, i) => ({ node, id: `n${n}-c${i}` })),
    );
    const runs = ids.map(({ node, id }) => add(node, id));
    const killed = new Set<string>();
    runs.forEach((run, i) => {
      if (i % 5 !== 0) return;
      setTimeout(
        () => {
          if (run.child.exitCode === null && run.child.kill('SIGKILL')) killed.add(ids[i]?.id ?? '');
        },
        randomInt(50, 1500),
      );
    });
    const outcomes = await Promise.all(runs.map((run) => run.outcome));
    expect(killed.size).toBeGreaterThan(0);
    outcomes.forEach((outcome, i) => {
      if (!killed.has(ids[i]?.id ?? '')) expect(outcome.exitCode, outcome.stdout).toBe(0);
    });

    // Every pod ADDed again (a runtime retries the killed ones): one address each, all distinct, each in
    // a block affine to the pod's own node, and each recorded exactly once.
    const rerun = await Promise.all(ids.map(({ node, id }) => add(node, id).outcome));
    const addresses = rerun.map(addressOf);
    expect(new Set(addresses).size).toBe(ids.length);
    for (const [i, { node }] of ids.entries()) {
      const own = (await blocksOf(node)).map((block) => parseCidr(block.spec.cidr));
      expect(own.some((cidr) => cidrContainsAddress(cidr, parseAddress(addresses[i] ?? '')))).toBe(true);
    }
    const recorded = (
      await resources.blocks.list({ labelSelector: `${labels.pool}=${poolName}` })
    ).items.flatMap((block) => block.spec.allocations.map((allocation) => allocation.handle));
    expect(recorded.length).toBe(ids.length);
    expect(new Set(recorded).size).toBe(ids.length);
    // 20 pods need two /28s per node: the operator's top-up and the plugin's own claims together.
    for (const node of nodeNames) expect((await blocksOf(node)).length).toBeGreaterThanOrEqual(2);

    const deleted = await Promise.all(ids.map(({ node, id }) => del(node, id)));
    for (const outcome of deleted) expect(outcome.exitCode, outcome.stdout).toBe(0);
    const left = (await resources.blocks.list({ labelSelector: `${labels.pool}=${poolName}` })).items;
    expect(left.flatMap((block) => block.spec.allocations)).toEqual([]);
    // 180 plugin processes at ~0.3 s of CPU each on two cores: allow for a loaded CI machine.
  }, 300_000);
});
