/**
 * Pod-start latency through the CNI plugin: ADD and DEL p50/p99 at 1, 10 and 50 concurrent pods on one
 * node, each invocation the real forwarder started as a runtime starts it (start-up included), served by
 * the node agent (its built bundle, in a process of its own, as the DaemonSet runs it) against a local
 * API server (etcd + kube-apiserver started here); Debian's `host-local` (addresses on local disk) runs
 * interleaved with it in the same run. Three interleaved runs; every figure is the median over them.
 * The API requests come from the agent's own /metrics: reads per steady-state ADD, writes per ADD at each
 * concurrency (group commit), the requests of a first ADD on a fresh node, and the agent's RSS holding
 * 1,000 addresses.
 *
 * Run with `npm run bench -- cni` (needs /usr/lib/cni/host-local: apt-get install containernetworking-plugins).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ipamResources } from '../allocator/index.js';
import { inParallel, installPlugin, removePlugin, startAgentProcess, startPlugin } from '../cni/testing.js';
import {
  KubeClient,
  type Node,
  type Pod,
  ResourceClient,
  coreResources,
  loadConnection,
} from '../kube/index.js';
import { ControlPlane } from '../local-cluster/control-plane.js';
import { installCrds } from '../local-cluster/crds.js';
import { createAllocatablePool } from '../local-cluster/pools.js';
import { freePort } from '../local-cluster/ports.js';
import { median, percentile } from './measure.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const hostLocal = '/usr/lib/cni/host-local';
const levels = [1, 10, 50] as const;
type Level = (typeof levels)[number];
/** Rounds per concurrency level and run, so that each level has 40-100 samples per run. */
const rounds: Record<Level, number> = { 1: 40, 10: 6, 50: 2 };
const runs = 3;
const node = 'bench-node';

type Command = 'ADD' | 'DEL';
/** `slot` names the pod: the same in every round, as a node's pods come and go under their own names. */
type Runner = (
  command: Command,
  containerId: string,
  slot: string,
) => Promise<{ ms: number; ok: boolean; stdout: string }>;

/** ADD then DEL of `concurrency` pods at once, `roundCount` times; `around` wraps each phase. */
async function measureLevel(
  run: Runner,
  concurrency: number,
  roundCount: number,
  tag: string,
  around: (command: Command, phase: () => Promise<void>) => Promise<void> = (_, phase) => phase(),
): Promise<Record<Command, number[]>> {
  const samples: Record<Command, number[]> = { ADD: [], DEL: [] };
  for (let round = 0; round < roundCount; round++) {
    const ids = Array.from({ length: concurrency }, (_, i) => `${tag}-${concurrency}-${round}-${i}`);
    for (const command of ['ADD', 'DEL'] as const) {
      await around(command, async () => {
        const outcomes = await Promise.all(ids.map((id, i) => run(command, id, `${concurrency}-${i}`)));
        const failed = outcomes.filter((outcome) => !outcome.ok);
        if (failed.length > 0) {
          throw new Error(
            `${failed.length} ${command}s failed at concurrency ${concurrency}: ${failed[0]?.stdout ?? ''}`,
          );
        }
        samples[command].push(...outcomes.map((outcome) => outcome.ms));
      });
    }
  }
  return samples;
}

function runHostLocal(dataDir: string): Runner {
  const config = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'bench-host-local',
    type: 'bridge',
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.201.0.0/16' }]], dataDir },
  });
  return (command, containerId) =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const child = spawn(hostLocal, [], {
        env: {
          PATH: process.env.PATH,
          CNI_COMMAND: command,
          CNI_CONTAINERID: containerId,
          CNI_NETNS: `/var/run/netns/${containerId}`,
          CNI_IFNAME: 'eth0',
          CNI_PATH: path.dirname(hostLocal),
        },
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      child.stdin.end(config);
      child.on('error', reject);
      child.on('close', (code) => {
        resolve({ ms: performance.now() - started, ok: code === 0, stdout: '' });
      });
    });
}

/** What the agent's /metrics says now. */
interface AgentFigures {
  readonly reads: number;
  readonly writes: number;
  readonly batchedChanges: number;
  readonly batches: number;
  readonly rssBytes: number;
}

async function scrape(port: number): Promise<AgentFigures> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (pattern: RegExp): number =>
    [...text.matchAll(pattern)].reduce((sum, match) => sum + Number(match[1]), 0);
  return {
    reads: value(/^topology_ipam_api_requests_total\{method="GET"\} (\S+)$/gm),
    writes: value(/^topology_ipam_api_requests_total\{method="(?:POST|PUT|PATCH|DELETE)"\} (\S+)$/gm),
    batchedChanges: value(/^topology_ipam_agent_batch_size_sum (\S+)$/gm),
    batches: value(/^topology_ipam_agent_batch_size_count (\S+)$/gm),
    rssBytes: value(/^process_resident_memory_bytes (\S+)$/gm),
  };
}

const minus = (a: AgentFigures, b: AgentFigures): AgentFigures => ({
  reads: a.reads - b.reads,
  writes: a.writes - b.writes,
  batchedChanges: a.batchedChanges - b.batchedChanges,
  batches: a.batches - b.batches,
  rssBytes: a.rssBytes,
});

async function main(): Promise<void> {
  if (!fs.existsSync(hostLocal))
    throw new Error(`${hostLocal} is missing: apt-get install containernetworking-plugins`);
  const built = spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'scripts', 'build.ts')], {
    stdio: 'inherit',
  });
  if (built.status !== 0) throw new Error('building the agent bundle failed');
  const plane = await ControlPlane.start();
  try {
    installCrds(plane.binaries.kubectl, plane.kubeconfigPath);
    const client = new KubeClient(loadConnection(plane.kubeconfigPath));
    const resources = ipamResources(client);
    await new ResourceClient<Node>(client, coreResources.nodes).create({ metadata: { name: node } });
    await createAllocatablePool(resources, {
      metadata: { name: 'bench' },
      spec: { cidr: '10.200.0.0/16', blockSize: 26 },
    });
    const plugin = await installPlugin({ kubeconfig: plane.kubeconfigPath });
    const port = await freePort();
    const agent = await startAgentProcess(
      plugin,
      node,
      { HEALTH_PORT: String(port) },
      'dist/agent/agent.mjs',
    );
    const config = {
      cniVersion: '1.0.0',
      name: 'bench',
      type: 'bridge',
      // Cool-down 0: the rounds reuse the addresses of the previous ones, so every level runs in the
      // node's first block (the steady state) instead of claiming new blocks as addresses cool.
      ipam: { type: 'topology-ipam', nodename: node, cooldown_seconds: 0, timeout_seconds: 120 },
    };
    // The pods exist on the node before their ADDs, as the kubelet calls ADD only for a pod bound to it:
    // the agent then finds each in its cache instead of reading it.
    const podName = (slot: string) => `bench-${slot}`;
    const pods = new ResourceClient<Pod & { spec: { containers: unknown[] } }>(client, coreResources.pods);
    for (const level of levels) {
      for (let i = 0; i < level; i++) {
        await pods.create({
          metadata: { name: podName(`${String(level)}-${String(i)}`), namespace: 'default' },
          spec: { nodeName: node, containers: [{ name: 'app', image: 'example.invalid/app' }] },
        });
      }
    }
    const ours: Runner = async (command, containerId, slot) => {
      const outcome = await startPlugin(plugin, { command, containerId, config, podName: podName(slot) })
        .outcome;
      return { ms: outcome.ms, ok: outcome.exitCode === 0, stdout: outcome.stdout };
    };
    const beforeFirst = await scrape(port);
    await ours('ADD', 'first', '1-0');
    const first = minus(await scrape(port), beforeFirst);
    await ours('DEL', 'first', '1-0');
    // Warm up: the API server's caches fill, the page cache holds both plugins.
    await measureLevel(ours, 10, 1, 'warm');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-host-local-'));
    const theirs = runHostLocal(dataDir);
    await measureLevel(theirs, 10, 1, 'warm');

    type Cell = Record<Command, { p50: number[]; p99: number[] }>;
    const cell = (): Cell => ({ ADD: { p50: [], p99: [] }, DEL: { p50: [], p99: [] } });
    const mine = new Map(levels.map((level) => [level, cell()]));
    const local = new Map(levels.map((level) => [level, cell()]));
    const api = new Map(
      levels.map((level) => [level, { ADD: [] as AgentFigures[], DEL: [] as AgentFigures[], count: 0 }]),
    );
    let samplesPerCell = new Map<Level, number>();
    for (let run = 0; run < runs; run++) {
      samplesPerCell = new Map();
      for (const level of levels) {
        const counted = api.get(level);
        const around = async (command: Command, phase: () => Promise<void>) => {
          const before = await scrape(port);
          await phase();
          counted?.[command].push(minus(await scrape(port), before));
        };
        const ourSamples = await measureLevel(ours, level, rounds[level], `tipam-${run}`, around);
        const theirSamples = await measureLevel(theirs, level, rounds[level], `hl-${run}`);
        samplesPerCell.set(level, ourSamples.ADD.length);
        for (const command of ['ADD', 'DEL'] as const) {
          for (const [target, samples] of [
            [mine, ourSamples],
            [local, theirSamples],
          ] as const) {
            target.get(level)?.[command].p50.push(percentile(samples[command], 50));
            target.get(level)?.[command].p99.push(percentile(samples[command], 99));
          }
        }
      }
    }

    // 1,000 addresses held on the node, 50 at a time: the agent's memory with a full node.
    const held = Array.from({ length: 1000 }, (_, i) => `held-${i}`);
    await inParallel(
      50,
      held.map((id) => () => ours('ADD', id, id)),
    );
    const holding = await scrape(port);
    await inParallel(
      50,
      held.map((id) => () => ours('DEL', id, id)),
    );

    const f = (values: readonly number[]) => median(values).toFixed(0);
    const ratio = (a: readonly number[], b: readonly number[]) => (median(a) / median(b)).toFixed(2);
    console.log(
      `## CNI plugin (${os.cpus().length} CPUs, node ${process.version}, local API server; ${runs} interleaved runs, medians)\n`,
    );
    console.log('Latency in ms, p50 / p99, per invocation from exec to exit (start-up included).\n');
    console.log(
      '| concurrent pods | topology-ipam ADD | topology-ipam DEL | host-local ADD | host-local DEL | ADD p99 ratio | DEL p99 ratio | samples per cell and run |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const level of levels) {
      const m = mine.get(level);
      const l = local.get(level);
      if (!m || !l) continue;
      console.log(
        `| ${level} | ${f(m.ADD.p50)} / ${f(m.ADD.p99)} | ${f(m.DEL.p50)} / ${f(m.DEL.p99)} | ${f(l.ADD.p50)} / ${f(l.ADD.p99)} | ` +
          `${f(l.DEL.p50)} / ${f(l.DEL.p99)} | ${ratio(m.ADD.p99, l.ADD.p99)}× | ${ratio(m.DEL.p99, l.DEL.p99)}× | ${samplesPerCell.get(level) ?? 0} |`,
      );
    }
    console.log('\nAPI requests of the agent, per invocation (all runs):\n');
    console.log(
      '| concurrent pods | reads per ADD | writes per ADD | reads per DEL | writes per DEL | changes per write |',
    );
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const level of levels) {
      const counted = api.get(level);
      if (!counted) continue;
      const invocations = level * rounds[level] * runs;
      const sum = (figures: readonly AgentFigures[], key: keyof AgentFigures) =>
        figures.reduce((total, figure) => total + figure[key], 0);
      const all = [...counted.ADD, ...counted.DEL];
      console.log(
        `| ${level} | ${(sum(counted.ADD, 'reads') / invocations).toFixed(2)} | ${(sum(counted.ADD, 'writes') / invocations).toFixed(2)} | ` +
          `${(sum(counted.DEL, 'reads') / invocations).toFixed(2)} | ${(sum(counted.DEL, 'writes') / invocations).toFixed(2)} | ` +
          `${(sum(all, 'batchedChanges') / Math.max(1, sum(all, 'batches'))).toFixed(1)} |`,
      );
    }
    console.log(
      `\nFirst ADD on a fresh node (claims its block): ${first.reads} reads + ${first.writes} writes = ${first.reads + first.writes} requests.`,
    );
    console.log(
      `Agent RSS holding 1,000 addresses on the node: ${(holding.rssBytes / 2 ** 20).toFixed(0)} MiB (the built bundle on node ${process.version}).`,
    );
    console.log(
      `Start-up of the forwarder (VERSION, wall): median ${(await measureVersion(plugin.executable)).toFixed(1)} ms.`,
    );
    agent.process.kill('SIGTERM');
    await agent.exited;
    client.close();
    await removePlugin(plugin);
    fs.rmSync(dataDir, { recursive: true, force: true });
  } finally {
    await plane.stop();
  }
}

async function measureVersion(executable: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(executable, [], {
        env: { PATH: process.env.PATH, CNI_COMMAND: 'VERSION' },
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      child.on('error', reject);
      child.on('close', () => {
        resolve();
      });
    });
    times.push(performance.now() - started);
  }
  return percentile(times, 50);
}

await main();
