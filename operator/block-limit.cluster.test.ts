/**
 * maxBlocksPerHost on a real API server, counted as Calico counts it: per node and IP family across the
 * pools that serve the node. On a control plane of this file's own, because the limit is read from the
 * cluster-wide IPAMConfig, which the other test files' operators read too (a limit of 1 would starve
 * their nodes), and so that no other file's operator claims blocks for this node by its own config.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IPAMBlock, ipamConfigName } from '../api/index.js';
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
import { eventRecorder } from './events.js';
import { malformedReporter } from './malformed.js';
import { createMetrics } from './metrics.js';
import { nodeReconciler } from './node-reconciler.js';

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
  stop.abort();
  await informers;
  client.close();
  await plane.stop();
});

/** The node's blocks on the API server, as `pool family` for each, sorted. */
async function nodeBlocks(): Promise<string[]> {
  const blocks: IPAMBlock[] = (await resources.blocks.list()).items.filter(
    (block) => block.spec.node === node,
  );
  return blocks.map((block) => `${block.spec.pool} IPv${String(parseCidr(block.spec.cidr).family)}`).sort();
}

describe('maxBlocksPerHost with two pools selecting one node', () => {
  it('limit 1: one IPv4 block across both IPv4 pools, and the IPv6 family its own one', async () => {
    await reconcile(node);
    // A second pass, once the first pass's blocks are confirmed: the second IPv4 pool still gets none.
    await reconcile(node);
    await reconcile(node);
    expect(await nodeBlocks()).toEqual(['a-v4 IPv4', 'c-v6 IPv6']);
  });

  it('limit 2: the second IPv4 pool gets its block, and no pool a third', async () => {
    await resources.configs.mergePatch(ipamConfigName, { spec: { maxBlocksPerHost: 2 } });
    await eventually(() => (state.config().maxBlocksPerHost === 2 ? true : undefined));
    await reconcile(node);
    await reconcile(node);
    expect(await nodeBlocks()).toEqual(['a-v4 IPv4', 'b-v4 IPv4', 'c-v6 IPv6']);
  });
});
