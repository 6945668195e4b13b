/**
 * Leak collection never frees the address of a pod that exists, whatever the operator's pods cache says:
 * run in-process with a ServiceAccount of its own whose pods permission the tests revoke, and with a
 * cache that does not show a pod.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { Allocation, IPAMBlock, IPPool } from '../api/index.js';
import { ipamResources } from '../allocator/index.js';
import {
  KubeClient,
  type Node,
  type Pod,
  ResourceClient,
  coreResources,
  loadConnection,
} from '../kube/index.js';
import { createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import { type CuttableProxy, cuttableProxy } from '../local-cluster/proxy.js';
import { type InstalledPlugin, installPlugin, invokePlugin, removePlugin } from '../cni/testing.js';
import { ClusterState } from './cluster-state.js';
import { type IPAMConfigSpec, ipamConfigSpecSchema } from '../api/index.js';
import { addressAtOrdinal, addressToString, parseCidr } from '../ipam/index.js';
import { eventRecorder } from '../runtime/index.js';
import type { Logger } from '../common/index.js';
import { jsonLogger } from '../runtime/index.js';
import { type OperatorMetrics, createMetrics } from './metrics.js';
import { malformedReporter } from './malformed.js';
import { nodeReconciler } from './node-reconciler.js';
import { Operator } from './operator.js';
import type { ReconcileResult } from './controller.js';
import { testOperator } from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const p = cluster.prefix;
const admin = loadConnection(cluster.kubeconfig);
const adminClient = new KubeClient(admin);
const resources = ipamResources(adminClient);
const nodes = new ResourceClient<Node>(adminClient, coreResources.nodes);
const log: Logger = jsonLogger({ level: process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'warn' });
const leakGraceMs = 1_000;
const nodeName = `${p}-node`;
const poolName = `${p}-pool`;
const shutdown = new AbortController();
let proxy: CuttableProxy;
let operatorClient: KubeClient;
let operator: Operator;
let operatorMetrics: OperatorMetrics;
let running: Promise<unknown>;
let blockName: string;
let plugin: InstalledPlugin;

const binding = (name: string, roleName: string, account: string) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: { name: `${p}-${name}` },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${p}-${roleName}` },
  subjects: [{ kind: 'ServiceAccount', name: account, namespace: p }],
});
const operatorPods = binding('operator-pods', 'pods', 'operator');

/**
 * The operator's own identity: everything it needs except pods, which a separate binding grants (so a
 * test can revoke it). `reader` may list and watch pods but not read one by name.
 */
function rbac(): unknown {
  const role = (name: string, rules: unknown[]) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: `${p}-${name}` },
    rules,
  });
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'operator', namespace: p } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: p } },
      role('operator', [
        { apiGroups: [''], resources: ['nodes', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['ipam.topology-ipam.dev'], resources: ['*'], verbs: ['*'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['*'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ]),
      role('pods', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]),
      role('pods-no-get', [{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] }]),
      binding('operator', 'operator', 'operator'),
      operatorPods,
      binding('reader', 'operator', 'reader'),
      binding('reader-pods', 'pods-no-get', 'reader'),
    ],
  };
}

const token = (account: string) =>
  cluster.kubectl(['create', 'token', account, '-n', p, '--duration=1h']).trim();

function createPod(name: string, node = nodeName): string {
  cluster.kubectl([
    'run',
    name,
    '-n',
    p,
    '--image=registry.invalid/none',
    '--restart=Never',
    `--overrides={"spec":{"nodeName":"${node}"}}`,
  ]);
  return cluster.kubectl(['get', 'pod', name, '-n', p, '-o', 'jsonpath={.metadata.uid}']);
}

/** Grants the operator its pods permission again (a no-op while it has it). */
const grantPods = () => cluster.tryKubectl(['apply', '-f', '-'], JSON.stringify(operatorPods));

/**
 * Revokes the operator's pods permission, then breaks its connections as a network fault would: its pods
 * cache can no longer refresh, and still shows what it last saw.
 */
async function revokePodsAndCut(): Promise<void> {
  cluster.kubectl(['delete', 'clusterrolebinding', `${p}-operator-pods`]);
  await eventually(() =>
    cluster.tryKubectl(['auth', 'can-i', 'list', 'pods', '-n', p, `--as=system:serviceaccount:${p}:operator`])
      .ok
      ? undefined
      : true,
  );
  proxy.cut();
}

const deletePod = (name: string) =>
  cluster.kubectl(['delete', 'pod', name, '-n', p, '--grace-period=0', '--force', '--ignore-not-found']);

/** An allocation of the test node's block for pod `pod` of the test namespace, past its grace. */
const allocation = (ordinal: number, pod: string, podUID?: string): Allocation => ({
  ordinal,
  handle: `net.${pod}-${String(ordinal)}.eth0`,
  namespace: p,
  pod: `${p}-${pod}`,
  ...(podUID === undefined ? {} : { podUID }),
  node: nodeName,
  assignedAt: new Date(Date.now() - 10 * leakGraceMs).toISOString(),
});

/** Sets the block's allocations (the operator may write the block too: retried on conflict). */
async function hold(allocations: Allocation[]): Promise<void> {
  await eventually(async () => {
    const block = await resources.blocks.get(blockName);
    await resources.blocks.replace({ ...block, spec: { ...block.spec, allocations, cooling: [] } });
    return true;
  });
}

const block = (): Promise<IPAMBlock> => resources.blocks.get(blockName);
const heldPods = async (): Promise<(string | undefined)[]> =>
  (await block()).spec.allocations.map((entry) => entry.pod);

async function metric(metrics: OperatorMetrics, line: RegExp): Promise<number | undefined> {
  const text = await metrics.registry.metrics();
  const match = new RegExp(`^${line.source} (\\S+)$`, 'm').exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

const nodeEvents = () => cluster.eventsAbout(nodeName);

beforeAll(async () => {
  cluster.kubectl(['create', 'namespace', p]);
  cluster.kubectl(['apply', '-f', '-'], JSON.stringify(rbac()));
  plugin = await installPlugin({ kubeconfig: cluster.kubeconfig });
  proxy = await cuttableProxy(admin.server);
  const operatorToken = token('operator');
  operatorClient = new KubeClient({ ...admin, server: proxy.url, token: () => operatorToken });
  operatorMetrics = createMetrics();
  operator = testOperator({
    client: operatorClient,
    namespace: p,
    log,
    metrics: operatorMetrics,
    leakGraceMs,
    // The tests break its connections: on a loaded machine a renewal through the broken proxy may take
    // seconds, and a leader that loses its Lease stops for good, so it gets a long renew deadline.
    leaseDurationMs: 30_000,
    renewDeadlineMs: 20_000,
  });
  running = operator.run(shutdown.signal);
  await createNodes(nodes, [nodeName], { [p]: 'yes' });
  const pool: IPPool = {
    metadata: { name: poolName },
    spec: { cidr: '10.91.0.0/24', blockSize: 26, nodeSelector: `has(${p})` },
  };
  await resources.pools.create(pool);
  const [claimed] = await eventually(async () => {
    const blocks = (await resources.blocks.list()).items.filter((item) => item.spec.node === nodeName);
    return blocks.length === 1 ? blocks : undefined;
  });
  if (!claimed) throw new Error('the node got no block');
  blockName = claimed.metadata.name;
});

afterAll(async () => {
  await hold([]).catch(() => undefined);
  await resources.pools.delete(poolName).catch(() => undefined);
  await removeNodes(nodes, [nodeName]);
  await eventually(
    async () =>
      (await resources.pools.list()).items.some((item) => item.metadata.name === poolName) ? undefined : true,
    { timeoutMs: 30_000 },
  ).catch(() => undefined);
  shutdown.abort();
  await running;
  await proxy.close();
  cluster.tryKubectl(['delete', 'namespace', p, '--wait=false']);
  for (const name of ['operator', 'pods', 'pods-no-get'])
    cluster.tryKubectl(['delete', 'clusterrole', `${p}-${name}`]);
  for (const name of ['operator', 'operator-pods', 'reader', 'reader-pods'])
    cluster.tryKubectl(['delete', 'clusterrolebinding', `${p}-${name}`]);
  operatorClient.close();
  adminClient.close();
  await removePlugin(plugin);
});

describe('leak collection on a real API server', () => {
  it('frees nothing while its pods cache cannot list or watch pods, says why, and resumes when it can', async () => {
    createPod(`${p}-before`);
    await eventually(() => operator.state.pod(p, `${p}-before`));
    // Granted again below; also if an assertion fails first, so that the next tests see a working operator.
    onTestFinished(() => {
      grantPods();
    });
    await revokePodsAndCut();
    // A pod that starts now: the stale cache never shows it.
    createPod(`${p}-after`);
    await hold([allocation(1, 'before'), allocation(2, 'after'), allocation(3, 'gone')]);

    // Until the operator says why it frees nothing (or, as before, frees the live pod's address).
    const pausedEvent = /LeakCollectionPaused: .*listing or watching pods fails .*403 Forbidden/;
    await eventually(async () =>
      pausedEvent.test(nodeEvents()) || (await heldPods()).length < 3 ? true : undefined,
    );
    expect(await heldPods()).toEqual([`${p}-before`, `${p}-after`, `${p}-gone`]);
    expect(nodeEvents()).toMatch(pausedEvent);
    expect(await metric(operatorMetrics, /topology_ipam_leak_collection_paused/)).toBe(1);
    // It keeps looking (every grace period) and keeps freeing nothing.
    await sleep(5 * leakGraceMs);
    expect(await heldPods()).toEqual([`${p}-before`, `${p}-after`, `${p}-gone`]);

    expect(grantPods().stderr).toBe('');
    await eventually(async () => ((await heldPods()).length === 2 ? true : undefined), { timeoutMs: 90_000 });
    expect(await heldPods()).toEqual([`${p}-before`, `${p}-after`]);
    expect((await block()).spec.cooling.map((entry) => entry.ordinal)).toEqual([3]);
    expect(await metric(operatorMetrics, /topology_ipam_leak_collection_paused/)).toBe(0);
  });

  it('keeps the address of a pod its cache does not show, after reading the pod again', async () => {
    createPod(`${p}-unseen`);
    await hold([allocation(4, 'unseen')]);
    const metrics = createMetrics();
    const result = await reconcileBlind(adminClient, metrics);
    expect(await heldPods()).toEqual([`${p}-unseen`]);
    expect(result).toEqual({ done: true });
    expect(await metric(metrics, /topology_ipam_leaks_spared_total\{reason="pod-holds-address"\}/)).toBe(1);
  });

  it('keeps the address when reading its pod again fails, and looks again later', async () => {
    await hold([allocation(5, 'unseen')]);
    const readerToken = token('reader');
    const readerClient = new KubeClient({ ...admin, token: () => readerToken });
    const metrics = createMetrics();
    const result = await reconcileBlind(readerClient, metrics).finally(() => {
      readerClient.close();
    });
    expect(await heldPods()).toEqual([`${p}-unseen`]);
    expect(result).toEqual({ requeueAfterMs: leakGraceMs });
    expect(await metric(metrics, /topology_ipam_leaks_spared_total\{reason="pod-unreadable"\}/)).toBe(1);
  });

  it('frees the address of a pod re-created under the same name, and keeps the new pod’s', async () => {
    await hold([]);
    // The real plugin (the forwarder and the node's agent), called as containerd calls it for each
    // sandbox: with the pod's UID.
    const add = async (containerId: string, podUID: string) => {
      const result = await invokePlugin(plugin, {
        command: 'ADD',
        containerId,
        podNamespace: p,
        podName: `${p}-again`,
        podUID,
        config: {
          cniVersion: '1.0.0',
          name: `${p}-net`,
          type: 'bridge',
          ipam: { type: 'topology-ipam', nodename: nodeName },
        },
      });
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    };
    // Re-created before either sandbox is set up, so that no pod of the name is ever missing while they
    // hold addresses: only the UID tells the old sandbox's address from the new one's.
    const oldUid = createPod(`${p}-again`);
    deletePod(`${p}-again`);
    const newUid = createPod(`${p}-again`);
    expect(newUid).not.toBe(oldUid);
    await add('old-sandbox', oldUid);
    await add('new-sandbox', newUid);
    const collected = await eventually(async () => {
      const current = await block();
      return current.spec.cooling.length === 1 ? current : undefined;
    });
    // The plugin recorded each sandbox's pod UID; the old sandbox's address went, the new one's stayed.
    expect(collected.spec.allocations.map((entry) => entry.podUID)).toEqual([newUid]);
    expect(
      await metric(operatorMetrics, /topology_ipam_addresses_collected_total\{reason="pod-replaced"\}/),
    ).toBe(1);
  });
});

describe('the grace, handles and live pods, stepped through on a clock of the test’s own', () => {
  const graceSeconds = 120;
  const otherNode = `${p}-node2`;
  const stop = new AbortController();
  let informers: Promise<unknown>;
  let state: ClusterState;
  let metrics: OperatorMetrics;
  let clock = 0;
  /** A reconciler of the test's own, with the IPAMConfig's grace and the test's clock. */
  let reconcile: (node: string) => Promise<ReconcileResult>;
  /** Moves the clock on by `ms` and reconciles the test node. */
  const after = (ms: number): Promise<ReconcileResult> => {
    clock += ms;
    return reconcile(nodeName);
  };

  /** The API server's state as this state's informers show it, with an IPAMConfig of the test's own. */
  class WithConfig extends ClusterState {
    constructor(private readonly spec: Partial<IPAMConfigSpec>) {
      super(ipamResources(adminClient), log);
    }
    override config(): IPAMConfigSpec {
      return ipamConfigSpecSchema.parse(this.spec);
    }
  }

  function reconcilerOf(of: ClusterState, reconcilerMetrics: OperatorMetrics) {
    const events = eventRecorder(adminClient, { component: 'leaks-test', instance: p, log });
    return nodeReconciler({
      state: of,
      events,
      log,
      metrics: reconcilerMetrics,
      reportMalformed: malformedReporter({ events, log, metrics: reconcilerMetrics }),
      staleClaimMs: 60_000,
      now: () => new Date(clock),
    });
  }

  const addressOf = async (ordinal: number): Promise<string> =>
    addressToString(addressAtOrdinal(parseCidr((await block()).spec.cidr), ordinal));

  /** Sets the pod's reported addresses, as the kubelet would. */
  function report(name: string, ips: string[]): void {
    const status = { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) };
    cluster.kubectl([
      'patch',
      'pod',
      name,
      '-n',
      p,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status }),
    ]);
  }

  /** Sets the block's allocations and waits until this state shows them and `pods` as they now are. */
  async function holdSeen(allocations: Allocation[], pods: readonly string[] = []): Promise<void> {
    await hold(allocations);
    const written = await block();
    await eventually(() =>
      state
        .blocksOfNode(nodeName)
        .some((b) => b.metadata.resourceVersion === written.metadata.resourceVersion)
        ? true
        : undefined,
    );
    await seePods(pods);
  }

  /** Waits until this state's pods cache shows each pod as the API server has it. */
  async function seePods(pods: readonly string[]): Promise<void> {
    for (const name of pods) {
      const current = await new ResourceClient<Pod>(adminClient, coreResources.pods)
        .get(name, p)
        .catch(() => undefined);
      await eventually(() =>
        state.pod(p, name)?.metadata.resourceVersion === current?.metadata.resourceVersion ? true : undefined,
      );
    }
  }

  beforeAll(async () => {
    // The test's operator, whose grace is 1 s, must collect nothing here: its pods permission goes and its
    // connections break, so its pods cache is not current and it frees nothing (the first test shows it).
    await revokePodsAndCut();
    await eventually(() => (operator.state.pods.health().state === 'healthy' ? undefined : true));
    await createNodes(nodes, [otherNode]);
    // The clock starts at the real time, after the allocations' assignment times are set from it.
    clock = Date.now();
    state = new WithConfig({ leakGracePeriodSeconds: graceSeconds });
    informers = state.run(stop.signal);
    await state.synced();
    metrics = createMetrics();
    reconcile = reconcilerOf(state, metrics);
  });

  afterAll(async () => {
    stop.abort();
    await informers;
    await removeNodes(nodes, [otherNode]);
    grantPods();
  });

  it('frees an address whose pod is gone once it has been found leaked for the grace, however old', async () => {
    await holdSeen([allocation(10, 'gone10')]);
    // Assigned ten seconds ago: under the old rule, counted from the assignment, it would go at once.
    expect(await after(0)).toEqual({ requeueAfterMs: graceSeconds * 1000 + 1 });
    expect(await heldPods()).toEqual([`${p}-gone10`]);
    await after(graceSeconds * 1000 - 1);
    expect(await heldPods()).toEqual([`${p}-gone10`]);
    await after(1);
    expect(await heldPods()).toEqual([]);
    expect((await block()).spec.cooling.map((entry) => entry.ordinal)).toEqual([10]);
    expect(await metric(metrics, /topology_ipam_addresses_collected_total\{reason="pod-gone"\}/)).toBe(1);
  });

  it('keeps the address a pod reports: a pod that exists, one re-created under the name, one on another node', async () => {
    const live = createPod(`${p}-live`);
    report(`${p}-live`, [await addressOf(11)]);
    const oldUid = createPod(`${p}-again2`);
    deletePod(`${p}-again2`);
    createPod(`${p}-again2`);
    report(`${p}-again2`, [await addressOf(12)]);
    createPod(`${p}-elsewhere`, otherNode);
    report(`${p}-elsewhere`, [await addressOf(13)]);
    createPod(`${p}-moved`, otherNode);
    report(`${p}-moved`, [await addressOf(60)]);
    const pods = ['live', 'again2', 'elsewhere', 'moved'].map((name) => `${p}-${name}`);
    await holdSeen(
      [
        allocation(11, 'live', live),
        allocation(12, 'again2', oldUid),
        allocation(13, 'elsewhere'),
        allocation(14, 'moved'),
      ],
      pods,
    );
    await after(0);
    await after(10 * graceSeconds * 1000);
    // Only the pod on another node that reports another address lost it.
    expect(await heldPods()).toEqual(pods.slice(0, 3));
    expect(await metric(metrics, /topology_ipam_addresses_collected_total\{reason="pod-moved"\}/)).toBe(1);
    for (const name of pods) deletePod(name);
  });

  it('frees the addresses of one handle together: none while the pod reports one, both once it is gone', async () => {
    createPod(`${p}-pair`);
    report(`${p}-pair`, [await addressOf(15)]);
    // Two addresses of one handle (in a cluster, one per family): the pod reports only the first.
    const pair = (ordinal: number): Allocation => ({
      ...allocation(ordinal, 'pair'),
      handle: 'net.pair.eth0',
    });
    await holdSeen([pair(15), pair(16)], [`${p}-pair`]);
    await after(0);
    await after(10 * graceSeconds * 1000);
    expect(await heldPods()).toEqual([`${p}-pair`, `${p}-pair`]);

    deletePod(`${p}-pair`);
    await seePods([`${p}-pair`]);
    await after(0);
    expect(await heldPods()).toEqual([`${p}-pair`, `${p}-pair`]);
    await after(graceSeconds * 1000);
    expect(await heldPods()).toEqual([]);
    expect((await block()).spec.cooling.map((entry) => entry.ordinal).sort((a, b) => a - b)).toEqual([
      15, 16,
    ]);
  });

  it('collects nothing, and reads no pod, when the IPAMConfig’s grace is 0', async () => {
    await holdSeen([allocation(17, 'gone17')]);
    const off = new WithConfig({ leakGracePeriodSeconds: 0 });
    const offStop = new AbortController();
    const offInformers = off.run(offStop.signal);
    try {
      await off.synced();
      const offMetrics = createMetrics();
      const reconcileOff = reconcilerOf(off, offMetrics);
      clock += 24 * 3600_000;
      expect(await reconcileOff(nodeName)).toEqual({ done: true });
      clock += 24 * 3600_000;
      await reconcileOff(nodeName);
      expect(await heldPods()).toEqual([`${p}-gone17`]);
      expect(
        await metric(offMetrics, /topology_ipam_addresses_collected_total\{reason="pod-gone"\}/),
      ).toBeUndefined();
    } finally {
      offStop.abort();
      await offInformers;
    }
  });
});

/**
 * One reconcile of the test node by a reconciler whose pods cache (healthy, synced) shows no pod at
 * all, as a cache that missed some events would; everything else is real.
 */
async function reconcileBlind(client: KubeClient, metrics: OperatorMetrics): Promise<ReconcileResult> {
  class BlindToPods extends ClusterState {
    override pod(): Pod | undefined {
      return undefined;
    }
  }
  const stop = new AbortController();
  const state = new BlindToPods(ipamResources(client), log);
  const informers = state.run(stop.signal);
  try {
    await state.synced();
    const events = eventRecorder(client, { component: 'leaks-test', instance: p, log });
    return await nodeReconciler({
      state,
      events,
      log,
      metrics,
      reportMalformed: malformedReporter({ events, log, metrics }),
      leakGraceMs,
      staleClaimMs: 60_000,
    })(nodeName);
  } finally {
    stop.abort();
    await informers;
  }
}
