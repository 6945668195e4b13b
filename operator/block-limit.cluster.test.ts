/**
 * maxBlocksPerHost on a real API server, counted as Calico counts it: per node and IP family across the
 * pools that serve the node. On a control plane of this file's own, because the limit is read from the
 * cluster-wide IPAMConfig, which the other test files' operators read too (a limit of 1 would starve
 * their nodes), and so that no other file's operator claims blocks for this node by its own config.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IPAMBlock, ipamConfigName } from '../api/index.js';
import { type InstalledPlugin, installPlugin, invokePlugin, removePlugin } from '../cni/testing.js';
import { type IpamResources } from '../allocator/index.js';
import { parseCidr } from '../ipam/index.js';
import type { KubeClient } from '../kube/index.js';
import { adminClients, createNodes } from '../local-cluster/clients.js';
import { ControlPlane } from '../local-cluster/control-plane.js';
import { installCrds } from '../local-cluster/crds.js';
import { eventually } from '../local-cluster/eventually.js';
import { jsonLogger } from '../runtime/index.js';
import { ClusterState } from './cluster-state.js';
import type { ReconcileResult } from './controller.js';
import { eventRecorder } from '../runtime/index.js';
import { malformedReporter } from './malformed.js';
import { createMetrics } from './metrics.js';
import { nodeReconciler } from './node-reconciler.js';
import type { Operator } from './operator.js';
import { testOperator } from './testing.js';

const log = jsonLogger({ level: process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'warn' });
const node = 'limited';
const stop = new AbortController();
let plane: ControlPlane;
let client: KubeClient;
let resources: IpamResources;
let state: ClusterState;
let informers: Promise<unknown>;
/** One pass of the operator's node reconciler: run by the test, so that it can count passes. */
let reconcile: (name: string) => Promise<ReconcileResult>;
let plugin: InstalledPlugin | undefined;
let operatorRun: Promise<unknown> | undefined;

beforeAll(async () => {
  plane = await ControlPlane.start();
  installCrds(plane.binaries.kubectl, plane.kubeconfigPath);
  const admin = adminClients(plane.kubeconfigPath);
  ({ client, resources } = admin);
  await createNodes(admin.nodes, [node], { rack: '0' });
  await resources.configs.create({ metadata: { name: ipamConfigName }, spec: { maxBlocksPerHost: 1 } });
  // Two IPv4 pools select the node, and one IPv6 pool.
  for (const [name, cidr, blockSize] of [
    ['a-v4', '10.210.0.0/24', 26],
    ['b-v4', '10.211.0.0/24', 26],
    ['c-v6', 'fd00:210::/120', 122],
  ] as const) {
    await resources.pools.create({
      metadata: { name },
      spec: { cidr, blockSize, nodeSelector: 'rack == "0"' },
    });
  }
  state = new ClusterState(resources, log);
  informers = state.run(stop.signal);
  await state.synced();
  await eventually(() =>
    state.poolViews().length === 3 && state.config().maxBlocksPerHost === 1 ? true : undefined,
  );
  const metrics = createMetrics();
  const events = eventRecorder(client, { component: 'block-limit-test', instance: 'test', log });
  reconcile = nodeReconciler({
    state,
    events,
    log,
    metrics,
    reportMalformed: malformedReporter({ events, log, metrics }),
    staleClaimMs: 60_000,
  });
}, 180_000);

afterAll(async () => {
  if (plugin) await removePlugin(plugin);
  stop.abort();
  await operatorRun;
  await informers;
  client.close();
  await plane.stop();
});

/** The node's blocks on the API server, as `pool family` for each, sorted. */
async function blocksOf(name: string): Promise<string[]> {
  const blocks: IPAMBlock[] = (await resources.blocks.list()).items.filter(
    (block) => block.spec.node === name,
  );
  return blocks.map((block) => `${block.spec.pool} IPv${String(parseCidr(block.spec.cidr).family)}`).sort();
}

describe('maxBlocksPerHost with two pools selecting one node', () => {
  it('limit 1: one IPv4 block across both IPv4 pools, and the IPv6 family its own one', async () => {
    await reconcile(node);
    // A second pass, once the first pass's blocks are confirmed: the second IPv4 pool still gets none.
    await reconcile(node);
    await reconcile(node);
    expect(await blocksOf(node)).toEqual(['a-v4 IPv4', 'c-v6 IPv6']);
  });

  it('limit 2: the second IPv4 pool gets its block, and no pool a third', async () => {
    await resources.configs.mergePatch(ipamConfigName, { spec: { maxBlocksPerHost: 2 } });
    await eventually(() => (state.config().maxBlocksPerHost === 2 ? true : undefined));
    await reconcile(node);
    await reconcile(node);
    expect(await blocksOf(node)).toEqual(['a-v4 IPv4', 'b-v4 IPv4', 'c-v6 IPv6']);
  });
});

describe('maxBlocksPerHost on the agent’s claim path', () => {
  const agentNode = 'agent-node';
  let operator: Operator;
  let sandboxes = 0;
  /** One ADD for a new sandbox on the agent's node: the address, or the CNI error's message. */
  async function add(): Promise<{ ip?: string; error?: string }> {
    sandboxes += 1;
    if (!plugin) throw new Error('the plugin is not installed');
    const outcome = await invokePlugin(plugin, {
      command: 'ADD',
      containerId: `sandbox-${String(sandboxes)}`,
      podNamespace: 'default',
      podName: `pod-${String(sandboxes)}`,
      podUID: `uid-${String(sandboxes)}`,
      config: {
        cniVersion: '1.0.0',
        name: 'limit-net',
        type: 'bridge',
        ipam: { type: 'topology-ipam', nodename: agentNode },
      },
    });
    const result = JSON.parse(outcome.stdout) as {
      ips?: { address: string }[];
      msg?: string;
      details?: string;
    };
    const ip = result.ips?.[0]?.address;
    return ip === undefined ? { error: `${result.msg ?? ''} ${result.details ?? ''}` } : { ip };
  }

  beforeAll(async () => {
    // Two pools of /30 blocks select this node: a block is full after a few pods.
    for (const [name, cidr] of [
      ['d-v4', '10.212.0.0/24'],
      ['e-v4', '10.213.0.0/24'],
    ] as const) {
      await resources.pools.create({
        metadata: { name },
        spec: { cidr, blockSize: 30, nodeSelector: 'rack == "1"' },
      });
    }
    await resources.configs.mergePatch(ipamConfigName, {
      spec: { maxBlocksPerHost: 1, strictAffinity: true },
    });
    await createNodes(adminClients(plane.kubeconfigPath).nodes, [agentNode], { rack: '1' });
    // The operator marks the pools allocatable (the agent uses no pool without) and claims blocks ahead.
    operator = testOperator({ client, namespace: 'default' });
    operatorRun = operator.run(stop.signal);
    plugin = await installPlugin({ kubeconfig: plane.kubeconfigPath });
  }, 180_000);

  it('refuses a block of the second pool once the node holds one IPv4 block, and gives one at 2', async () => {
    const first = await eventually(async () => {
      const added = await add();
      return added.ip;
    });
    expect(first).toMatch(/^10\.212\./);
    let refused: string | undefined;
    for (let attempt = 0; attempt < 4 && refused === undefined; attempt++) {
      const added = await add();
      if (added.ip !== undefined) expect(added.ip).toMatch(/^10\.212\./);
      else refused = added.error;
    }
    expect(refused).toMatch(/the maxBlocksPerHost \(1\)/);
    expect(await blocksOf(agentNode)).toEqual(['d-v4 IPv4']);

    // At 2 the node may hold a second IPv4 block, of whichever pool comes first with room.
    await resources.configs.mergePatch(ipamConfigName, { spec: { maxBlocksPerHost: 2 } });
    const next = await eventually(async () => (await add()).ip);
    expect(next).toMatch(/^10\.21[23]\./);
  });
});
