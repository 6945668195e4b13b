/**
 * CNI plugin latency: ADD and DEL p50/p99 at 1, 10 and 50 concurrent pods on one node, against a local API
 * server (etcd + kube-apiserver started here), with the API requests per ADD and DEL from the plugin's
 * request log; and the same runs with Debian's `host-local` (addresses on local disk) side by side.
 * Each invocation is the real binary started as a runtime starts it, so start-up is included.
 *
 * Run with `npx tsx bench/cni.ts` (needs /usr/lib/cni/host-local: apt-get install containernetworking-plugins).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ipamResources } from '../allocator/index.js';
import {
  type RequestLogEntry,
  environmentFor,
  installPlugin,
  removePlugin,
  requestLog,
  startPlugin,
} from '../cni/testing.js';
import { KubeClient, type Node, ResourceClient, coreResources, loadConnection } from '../kube/index.js';
import { ControlPlane } from '../test/cluster/control-plane.js';
import { installCrds } from '../test/cluster/crds.js';
import { createAllocatablePool } from '../test/cluster/pools.js';

const hostLocal = '/usr/lib/cni/host-local';
const levels = [1, 10, 50] as const;
/** Rounds per concurrency level, so that each level has 50-100 samples. */
const rounds: Record<(typeof levels)[number], number> = { 1: 40, 10: 6, 50: 2 };

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

interface Samples {
  add: number[];
  del: number[];
}

type Runner = (
  command: 'ADD' | 'DEL',
  containerId: string,
) => Promise<{ ms: number; ok: boolean; pid: number }>;

async function measureLevel(
  run: Runner,
  concurrency: number,
  roundCount: number,
  tag: string,
): Promise<Samples> {
  const samples: Samples = { add: [], del: [] };
  for (let round = 0; round < roundCount; round++) {
    const ids = Array.from({ length: concurrency }, (_, i) => `${tag}-${concurrency}-${round}-${i}`);
    for (const command of ['ADD', 'DEL'] as const) {
      const outcomes = await Promise.all(ids.map((id) => run(command, id)));
      const failed = outcomes.filter((outcome) => !outcome.ok);
      if (failed.length > 0)
        throw new Error(`${failed.length} ${command}s failed at concurrency ${concurrency}`);
      samples[command === 'ADD' ? 'add' : 'del'].push(...outcomes.map((outcome) => outcome.ms));
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
        resolve({ ms: performance.now() - started, ok: code === 0, pid: child.pid ?? -1 });
      });
    });
}

async function main(): Promise<void> {
  if (!fs.existsSync(hostLocal))
    throw new Error(`${hostLocal} is missing: apt-get install containernetworking-plugins`);
  const plane = await ControlPlane.start();
  try {
    installCrds(plane.binaries.kubectl, plane.kubeconfigPath);
    const client = new KubeClient(loadConnection(plane.kubeconfigPath));
    const resources = ipamResources(client);
    await new ResourceClient<Node>(client, coreResources.nodes).create({ metadata: { name: 'bench-node' } });
    await createAllocatablePool(resources, {
      metadata: { name: 'bench' },
      spec: { cidr: '10.200.0.0/16', blockSize: 26 },
    });
    const plugin = await installPlugin();
    const config = {
      cniVersion: '1.0.0',
      name: 'bench',
      type: 'bridge',
      // Cool-down 0: the rounds reuse the addresses of the previous ones, so every level runs in the
      // node's one block (the steady state) instead of claiming new blocks as addresses cool.
      ipam: {
        type: 'topology-ipam',
        kubeconfig: plane.kubeconfigPath,
        nodename: 'bench-node',
        cooldown_seconds: 0,
        timeout_seconds: 120,
        state_dir: plugin.stateDir,
      },
    };
    const ours: Runner = async (command, containerId) => {
      const outcome = await startPlugin(plugin, { command, containerId, config }).outcome;
      return { ms: outcome.ms, ok: outcome.exitCode === 0, pid: outcome.pid };
    };
    // Warm up: the first ADD claims the node's block, and the API server's caches fill.
    await measureLevel(ours, 10, 1, 'warm');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-host-local-'));
    const theirs = runHostLocal(dataDir);
    await measureLevel(theirs, 10, 1, 'warm');

    const startVersion = await measureVersion(plugin.executable);
    const rows: string[] = [];
    const logBefore = requestLog(plugin).length;
    for (const level of levels) {
      const mine = await measureLevel(ours, level, rounds[level], 'tipam');
      const local = await measureLevel(theirs, level, rounds[level], 'hl');
      const f = (v: number) => v.toFixed(0);
      rows.push(
        `| ${level} | ${f(percentile(mine.add, 50))} / ${f(percentile(mine.add, 99))} | ${f(percentile(mine.del, 50))} / ${f(percentile(mine.del, 99))} ` +
          `| ${f(percentile(local.add, 50))} / ${f(percentile(local.add, 99))} | ${f(percentile(local.del, 50))} / ${f(percentile(local.del, 99))} | ${mine.add.length} |`,
      );
    }
    const entries = requestLog(plugin).slice(logBefore);
    const per = (command: string, key: keyof Pick<RequestLogEntry, 'reads' | 'writes'>) => {
      const of = entries.filter((entry) => entry.command === command);
      return {
        mean: of.reduce((n, entry) => n + entry[key], 0) / of.length,
        max: Math.max(...of.map((e) => e[key])),
      };
    };
    const addReads = per('ADD', 'reads');
    const addWrites = per('ADD', 'writes');
    const delReads = per('DEL', 'reads');
    const delWrites = per('DEL', 'writes');
    console.log(`## CNI plugin (${os.cpus().length} CPUs, node ${process.version}, local API server)\n`);
    console.log('Latency in ms, p50 / p99, per invocation from exec to exit (start-up included).\n');
    console.log(
      '| concurrent pods | topology-ipam ADD | topology-ipam DEL | host-local ADD | host-local DEL | samples per cell |',
    );
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const row of rows) console.log(row);
    console.log(
      `\nAPI requests per ADD: ${addReads.mean.toFixed(2)} reads (max ${addReads.max}), ${addWrites.mean.toFixed(2)} writes (max ${addWrites.max}); ` +
        `per DEL: ${delReads.mean.toFixed(2)} reads (max ${delReads.max}), ${delWrites.mean.toFixed(2)} writes (max ${delWrites.max}).`,
    );
    console.log(`Start-up (VERSION through the launcher): median ${startVersion.toFixed(0)} ms.`);
    client.close();
    removePlugin(plugin);
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
        env: {
          ...environmentFor(
            { root: '', binDir: '', executable, requestLog: '', stateDir: '' },
            { command: 'VERSION', config: {} },
          ),
        },
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
