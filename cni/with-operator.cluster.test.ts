/**
 * The CNI plugin and the operator at work together on one API server: the operator hands the nodes
 * their blocks ahead of time and tops them up, the plugin (the real forwarder, as a runtime calls it,
 * and each node's agent) assigns from them and claims more itself under a burst, forwarders are killed
 * mid-ADD and one node's agent is killed (SIGKILL) mid-burst and started again — and still no address is
 * given twice, a retried ADD gets the address answered before, every address lies in its own node's
 * blocks, and DEL empties every block.
 */
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IPAMBlock, labels } from '../api/index.js';
import { cidrContainsAddress, parseAddress, parseCidr } from '../ipam/index.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import {
  type InstalledPlugin,
  type PluginOutcome,
  installPlugin,
  removePlugin,
  startAgentProcess,
  startNodeAgent,
  startPlugin,
} from './testing.js';
import { testOperator } from '../operator/testing.js';
import type { ComponentProcess } from '../local-cluster/operator-process.js';

const cluster = clusterTestContext(import.meta.url);
const p = cluster.prefix;
const { client, resources, nodes } = adminClients(cluster.kubeconfig);
const poolName = `${p}-pool`;
const nodeNames = [0, 1, 2].map((i) => `${p}-node-${i}`);
/** The node whose agent runs as a process of its own, to be killed mid-burst. */
const crashingNode = nodeNames[2] ?? '';
const shutdown = new AbortController();
let plugin: InstalledPlugin;
let running: Promise<unknown>;
let crashingAgent: ComponentProcess | undefined;

const network = (node: string) => ({
  cniVersion: '1.0.0',
  name: `${p}-net`,
  type: 'bridge',
  ipam: { type: 'topology-ipam', nodename: node, timeout_seconds: 120 },
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
  plugin = await installPlugin({ kubeconfig: cluster.kubeconfig });
  await createNodes(nodes, nodeNames, { [p]: 'yes' });
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
  // Every node's agent runs before its pods start, as the DaemonSet's does.
  for (const node of nodeNames) {
    if (node === crashingNode) crashingAgent = await startAgentProcess(plugin, node);
    else await startNodeAgent(plugin, node);
  }
}, 120_000);

afterAll(async () => {
  shutdown.abort();
  await running;
  await removePoolAndBlocks(resources, poolName);
  await removeNodes(nodes, nodeNames);
  crashingAgent?.process.kill();
  await crashingAgent?.exited;
  await removePlugin(plugin);
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
        randomInt(0, 200),
      );
    });
    // The crashing node's agent dies as soon as this process sees its first answer: usually with most of
    // its burst in flight, though on a busy machine it may have answered all of it by then (whether a
    // kill lands on a write in flight is the chaos test's business; here what must hold either way).
    const agent = crashingAgent;
    if (agent === undefined) throw new Error('the crashing node has no agent process');
    let agentKilled = false;
    runs.forEach((run, i) => {
      if (ids[i]?.node !== crashingNode) return;
      void run.outcome.then((outcome) => {
        if (outcome.exitCode === 0 && !agentKilled) agentKilled = agent.process.kill('SIGKILL');
      });
    });
    const outcomes = await Promise.all(runs.map((run) => run.outcome));
    expect(agentKilled).toBe(true);
    expect(await agent.exited).toBeNull();
    expect(killed.size).toBeGreaterThan(0);
    outcomes.forEach((outcome, i) => {
      const { node, id } = ids[i] ?? { node: '', id: '' };
      if (killed.has(id)) return;
      // Answered before the crash, or told to try again (the agent went away): never another failure.
      if (node === crashingNode && outcome.exitCode !== 0)
        expect(outcome.json?.code, outcome.stdout).toBe(11);
      else expect(outcome.exitCode, outcome.stdout).toBe(0);
    });
    // Started again, as the DaemonSet restarts it: it knows only what the API server holds.
    crashingAgent = await startAgentProcess(plugin, crashingNode);

    // Every pod ADDed again (a runtime retries the killed and refused ones): one address each, all
    // distinct, the one answered before where there was an answer, each in a block affine to the pod's
    // own node, and each recorded exactly once.
    const rerun = await Promise.all(ids.map(({ node, id }) => add(node, id).outcome));
    const addresses = rerun.map(addressOf);
    expect(new Set(addresses).size).toBe(ids.length);
    outcomes.forEach((outcome, i) => {
      if (outcome.exitCode === 0) expect(addresses[i]).toBe(addressOf(outcome));
    });
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
    // Two agent starts and 180 forwarders beside the operator on two cores: allow for a loaded CI machine.
  }, 300_000);
});
