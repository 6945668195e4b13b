/**
 * Pod start latency as the API shows it, on a real node (local-cluster/node/: containerd + kubelet, a
 * scheduler, the node agent as a host process, the forwarder and the conflist from the installer): from a
 * pod's creation to `Running`, and to `status.podIP`, for 1 and for 20 pods created at once, with this
 * project's IPAM and with Debian's host-local in the same run on the same node and main plugin (the
 * installed conflist with only its `ipam` replaced). The networks take turns by rewriting the node's
 * conflist (interleavedPlan: several repetitions, each network first equally often); after each switch
 * one unmeasured pod must get an address from the new network before measuring goes on.
 *
 * The times come from one watch of the bench's pods opened by this process before it creates them: a
 * pod's start is when its ADDED event arrived, and Running and addressed are when the first event showing
 * them arrived (creationTimestamp has a resolution of one second). Bare pods, placed by the scheduler:
 * a Deployment would add its controller's pace (a ReplicaSet creates 20 pods in slow-start batches).
 *
 * Run with `npm run bench -- pods [--repetitions N]` (as root; what the node needs is in the README).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ipamResources } from '../allocator/index.js';
import { pluginName } from '../common/index.js';
import { cidrContainsAddress, parseAddress, parseCidr, safeParseAddress } from '../ipam/index.js';
import {
  KubeClient,
  type KubeObject,
  type Pod,
  ResourceClient,
  coreResources,
  loadConnection,
} from '../kube/index.js';
import { eventually } from '../local-cluster/eventually.js';
import { LocalCluster } from '../local-cluster/node/cluster.js';
import { testImage } from '../local-cluster/node/image.js';
import type { Conflist, RealNode } from '../local-cluster/node/node.js';
import { createAllocatablePool } from '../local-cluster/pools.js';
import { median } from './measure.js';
import {
  type PodLatency,
  type PodTimes,
  type Summary,
  interleavedPlan,
  latencyOf,
  observe,
  observeSandboxReady,
  parsePodBenchOptions,
  podBenchUsage,
  summarize,
} from './pod-latency.js';

const networks = ['topology-ipam', 'host-local'] as const;
type Network = (typeof networks)[number];
const batches = [1, 20] as const;
const nodeName = 'bench-node';
const namespace = 'default';
const labelSelector = 'app=pod-bench';
const pool = { cidr: '10.77.0.0/16', blockSize: 26 };
const hostLocalSubnet = '10.78.0.0/16';
/** After a conflist is renamed into place, before the warm-up pod: containerd reloads on the event. */
const settleMs = 2000;
const startTimeoutMs = 180_000;
/**
 * A trial of single pods starts this many, one after another (each once the previous runs, which stays):
 * enough samples for a p90 at the default repetitions, for a few seconds each.
 */
const roundsOf = (pods: number): number => (pods === 1 ? 5 : 1);

type BenchPod = Pod & { spec: Record<string, unknown> };

interface NetworkSetup {
  readonly conflist: Conflist;
  readonly cidr: string;
  /** True once the network holds no address for the node any more. */
  readonly released: () => Promise<boolean>;
}

let podSequence = 0;

function podOf(name: string): BenchPod {
  return {
    metadata: { name, namespace, labels: { app: 'pod-bench' } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: testImage, imagePullPolicy: 'Never', command: ['sleep', '3600'] }],
    },
  };
}

/** The kubelet's events of a pod's container: `Pulled` is its first (the image is local here). */
type ContainerEvent = KubeObject & { involvedObject: { name: string } };

interface Api {
  readonly pods: ResourceClient<BenchPod>;
  readonly events: ResourceClient<ContainerEvent>;
}

/**
 * The API server closed a watch before the pods had started (it drops a watcher that falls behind, as
 * this process can on a loaded machine): the events missed would come late on a new watch, so the
 * trial is run again instead.
 */
class WatchEnded extends Error {
  override readonly name = 'WatchEnded';
  constructor() {
    super('the API server closed a watch before the pods had started');
  }
}
const attemptsPerTrial = 3;

/**
 * Creates `count` pods at once and waits until each is Running with an address, watching the pods and
 * their `Pulled` events from before the creation.
 */
async function startPods(api: Api, count: number): Promise<PodLatency[]> {
  const names = Array.from({ length: count }, () => `pod-bench-${String(podSequence++)}`);
  const [podList, eventList] = await Promise.all([
    api.pods.list({ namespace, labelSelector }),
    api.events.list({ namespace }),
  ]);
  const stop = new AbortController();
  let times: ReadonlyMap<string, PodTimes> = new Map();
  let allStarted = (): void => undefined;
  const started = new Promise<'started'>((resolve) => {
    allStarted = () => {
      resolve('started');
    };
  });
  const record = (update: (at: number) => ReadonlyMap<string, PodTimes>): void => {
    times = update(performance.now());
    if (names.every((name) => latencyOf(times.get(name) ?? { seen: 0 }) !== undefined)) allStarted();
  };
  const watches = [
    api.pods.watch(
      {
        namespace,
        labelSelector,
        resourceVersion: podList.metadata.resourceVersion ?? '',
        signal: stop.signal,
      },
      (event) => {
        if (event.type !== 'ADDED' && event.type !== 'MODIFIED') return;
        const { metadata, status } = event.object;
        record((at) =>
          observe(times, { name: metadata.name, phase: status?.phase, podIP: status?.podIP }, at),
        );
      },
    ),
    api.events.watch(
      {
        namespace,
        fieldSelector: 'involvedObject.kind=Pod,reason=Pulled',
        resourceVersion: eventList.metadata.resourceVersion ?? '',
        signal: stop.signal,
      },
      (event) => {
        if (event.type === 'ADDED')
          record((at) => observeSandboxReady(times, event.object.involvedObject.name, at));
      },
    ),
  ];
  try {
    await Promise.all(names.map((name) => api.pods.create(podOf(name))));
    const outcome = await Promise.race([
      started,
      ...watches.map((watch) => watch.then(() => 'a watch ended' as const)),
      sleep(startTimeoutMs, 'timed out' as const, { ref: false }),
    ]);
    if (outcome === 'a watch ended') throw new WatchEnded();
    if (outcome !== 'started')
      throw new Error(`pods ${names.join(', ')} not all Running with an address: ${outcome}`);
  } finally {
    stop.abort();
    await Promise.allSettled(watches);
  }
  return names.map((name) => {
    const latency = latencyOf(times.get(name) ?? { seen: 0 });
    if (latency === undefined) throw new Error(`no start seen for ${name}`);
    return latency;
  });
}

/** Deletes the bench's pods and waits until the API server has none (the kubelet tore their sandboxes down). */
async function deletePods({ pods }: Api): Promise<void> {
  const { items } = await pods.list({ namespace, labelSelector });
  await Promise.all(items.map((pod) => pods.delete(pod.metadata.name, { namespace })));
  await eventually(
    async () => (await pods.list({ namespace, labelSelector })).items.length === 0 || undefined,
    {
      timeoutMs: 120_000,
      intervalMs: 250,
    },
  );
}

function inNetwork(setup: NetworkSetup, latencies: readonly PodLatency[], network: Network): void {
  const outside = latencies.find(
    (latency) => !cidrContainsAddress(parseCidr(setup.cidr), parseAddress(latency.podIP)),
  );
  if (outside !== undefined)
    throw new Error(
      `a pod got ${outside.podIP}, outside ${network}'s ${setup.cidr}: containerd used another conflist`,
    );
}

/** Switches the node to `network` once the current one released every address, and starts one pod on it. */
async function switchTo(
  node: RealNode,
  api: Api,
  setups: Record<Network, NetworkSetup>,
  from: Network | undefined,
  network: Network,
  onRetry: (attempt: number) => void,
): Promise<void> {
  if (from !== undefined) {
    await eventually(async () => (await setups[from].released()) || undefined, {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
  }
  await node.useConflist(setups[network].conflist);
  await sleep(settleMs);
  const [warmUp = []] = await runTrial(api, 1, 1, onRetry);
  inNetwork(setups[network], warmUp, network);
}

/**
 * `rounds` batches of `pods` pods one after another, then every pod deleted; run again from the start
 * when a watch ended under it (`onRetry` hears of each attempt after the first).
 */
async function runTrial(
  api: Api,
  pods: number,
  rounds: number,
  onRetry: (attempt: number) => void,
): Promise<PodLatency[][]> {
  for (let attempt = 1; ; attempt++) {
    try {
      const batches: PodLatency[][] = [];
      for (let round = 0; round < rounds; round++) batches.push(await startPods(api, pods));
      return batches;
    } catch (error) {
      if (!(error instanceof WatchEnded) || attempt === attemptsPerTrial) throw error;
      onRetry(attempt + 1);
    } finally {
      await deletePods(api);
    }
  }
}

interface Cell {
  readonly toSandbox: number[];
  readonly toRunning: number[];
  readonly toAddress: number[];
  /** Per trial, the slowest pod of the batch to Running. */
  readonly lastRunning: number[];
}

async function main(): Promise<void> {
  let options;
  try {
    options = parsePodBenchOptions(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof Error ? error.message : podBenchUsage);
    process.exit(2);
  }
  const cluster = await LocalCluster.start({ nodes: [{ name: nodeName, labels: { rack: '0' } }] });
  const client = new KubeClient(loadConnection(cluster.plane.kubeconfigPath));
  try {
    const [node] = cluster.nodes;
    if (node === undefined) throw new Error('the cluster has no node');
    const resources = ipamResources(client);
    await createAllocatablePool(resources, {
      metadata: { name: 'bench' },
      spec: { ...pool, nodeSelector: 'rack == "0"' },
    });
    const api: Api = {
      pods: new ResourceClient(client, coreResources.pods),
      events: new ResourceClient(client, coreResources.events),
    };

    const installed = node.conflist().json;
    const main = installed.plugins.find((plugin) => plugin.ipam?.type === pluginName);
    if (main === undefined)
      throw new Error(`the node's conflist has no plugin with ${pluginName} as its IPAM`);
    const hostLocalData = path.join(node.options.stateDir, 'host-local');
    const hostLocalNetwork = path.join(hostLocalData, installed.name);
    const setups: Record<Network, NetworkSetup> = {
      'topology-ipam': {
        conflist: installed,
        cidr: pool.cidr,
        released: async () =>
          !(await resources.blocks.list()).items.some((block) =>
            block.spec.allocations.some((allocation) => allocation.node === nodeName),
          ),
      },
      'host-local': {
        conflist: {
          ...installed,
          plugins: installed.plugins.map((plugin) =>
            plugin === main
              ? {
                  ...plugin,
                  ipam: {
                    type: 'host-local',
                    ranges: [[{ subnet: hostLocalSubnet }]],
                    dataDir: hostLocalData,
                  },
                }
              : plugin,
          ),
        },
        cidr: hostLocalSubnet,
        // host-local keeps one file per address it holds, named by the address.
        released: () =>
          Promise.resolve(
            !fs.existsSync(hostLocalNetwork) ||
              !fs.readdirSync(hostLocalNetwork).some((entry) => safeParseAddress(entry).ok),
          ),
      },
    };

    const plan = interleavedPlan(options.repetitions, batches, networks);
    const cells = new Map<string, Cell>();
    const cellOf = (pods: number, network: Network): Cell => {
      const key = `${String(pods)}:${network}`;
      const cell = cells.get(key) ?? { toSandbox: [], toRunning: [], toAddress: [], lastRunning: [] };
      cells.set(key, cell);
      return cell;
    };
    const loads: number[] = [];
    const redone: string[] = [];
    const startedAt = Date.now();
    let current: Network | undefined;
    for (const [index, trial] of plan.entries()) {
      if (trial.network !== current) {
        await switchTo(node, api, setups, current, trial.network, (attempt) => {
          redone.push(`the warm-up on ${trial.network} (attempt ${String(attempt)})`);
        });
        current = trial.network;
      }
      loads.push(os.loadavg()[0] ?? Number.NaN);
      const rounds = await runTrial(api, trial.pods, roundsOf(trial.pods), (attempt) => {
        redone.push(`${String(trial.pods)} on ${trial.network} (attempt ${String(attempt)})`);
      });
      const cell = cellOf(trial.pods, trial.network);
      for (const latencies of rounds) {
        inNetwork(setups[trial.network], latencies, trial.network);
        cell.toSandbox.push(...latencies.map((latency) => latency.toSandbox));
        cell.toRunning.push(...latencies.map((latency) => latency.toRunning));
        cell.toAddress.push(...latencies.map((latency) => latency.toAddress));
        cell.lastRunning.push(Math.max(...latencies.map((latency) => latency.toRunning)));
      }
      process.stderr.write(
        `trial ${String(index + 1)}/${String(plan.length)}: ${String(trial.pods)} pods at once on ${trial.network}, ` +
          `median to Running so far ${median(cell.toRunning).toFixed(0)} ms (load ${(loads.at(-1) ?? 0).toFixed(2)})\n`,
      );
    }
    report(cells, {
      repetitions: options.repetitions,
      mainPlugin: main.type,
      minutes: (Date.now() - startedAt) / 60_000,
      loads,
      redone,
    });
  } finally {
    client.close();
    cluster.stop();
  }
}

function report(
  cells: ReadonlyMap<string, Cell>,
  run: {
    repetitions: number;
    mainPlugin: string;
    minutes: number;
    loads: readonly number[];
    redone: readonly string[];
  },
): void {
  const ms = (value: number | undefined) => (value === undefined ? '–' : value.toFixed(0));
  const both = (summary: Summary) => `${ms(summary.median)} / ${ms(summary.p90)}`;
  const loads = [...run.loads].sort((a, b) => a - b);
  console.log(
    `## Pod start on a real node (${String(os.cpus().length)} CPUs, node ${process.version}; main plugin ${run.mainPlugin}; ` +
      `${String(run.repetitions)} interleaved repetitions in ${run.minutes.toFixed(1)} min; 1-minute load average ` +
      `${median(loads).toFixed(2)} median, ${(loads[0] ?? 0).toFixed(2)}–${(loads.at(-1) ?? 0).toFixed(2)})\n`,
  );
  console.log(
    "Milliseconds from a pod's ADDED event to the first event showing the state, as this process's watches " +
      'received them; median / p90 over every pod of every repetition (a p90 from 10 samples up). The slowest ' +
      'of a batch: the median over repetitions of its last pod to Running.\n',
  );
  console.log('| pods at once | to | topology-ipam | host-local | ratio of medians | samples per network |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const pods of batches) {
    const ours = cells.get(`${String(pods)}:topology-ipam`);
    const theirs = cells.get(`${String(pods)}:host-local`);
    if (ours === undefined || theirs === undefined) continue;
    const rows: [string, readonly number[], readonly number[]][] = [
      ['sandbox ready (first container event)', ours.toSandbox, theirs.toSandbox],
      ['Running', ours.toRunning, theirs.toRunning],
      ['podIP set', ours.toAddress, theirs.toAddress],
    ];
    if (pods > 1) rows.push(['all Running (slowest of the batch)', ours.lastRunning, theirs.lastRunning]);
    for (const [to, mine, local] of rows) {
      const a = summarize(mine);
      const b = summarize(local);
      console.log(
        `| ${String(pods)} | ${to} | ${both(a)} | ${both(b)} | ${(a.median / b.median).toFixed(2)}× | ${String(a.samples)} |`,
      );
    }
  }
  if (run.redone.length > 0)
    console.log(`\nTrials run again after the API server closed a watch: ${run.redone.join(', ')}.`);
}

await main();
