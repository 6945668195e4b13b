/**
 * Operator at scale: 1,000 nodes over four racks and one IPPool per rack on a local API server. For
 * each run (a fresh control plane each time): the time from applying the four pools to every node
 * holding its block, the API requests the operator sent per node, and the operator process's peak
 * memory. The operator runs as its real bundle (dist/operator/main.mjs) in a process of its own.
 * Run with `npm run bench -- operator`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { labels as apiLabels } from '../api/index.js';
import { ipamResources } from '../allocator/index.js';
import { KubeClient, type Node, ResourceClient, coreResources, loadConnection } from '../kube/index.js';
import { ControlPlane } from '../local-cluster/control-plane.js';
import { installCrds } from '../local-cluster/crds.js';
import { freePort } from '../local-cluster/ports.js';
import { median } from './measure.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODES = 1000;
const RACKS = 4;
const RUNS = 3;

async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return response.text();
}

function metricSum(text: string, name: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

async function runOnce(run: number): Promise<{ seconds: number; requestsPerNode: number; peakMiB: number }> {
  const plane = await ControlPlane.start();
  let operator: ChildProcess | undefined;
  try {
    installCrds(plane.binaries.kubectl, plane.kubeconfigPath);
    const client = new KubeClient(loadConnection(plane.kubeconfigPath), { maxSockets: 16 });
    const nodes = new ResourceClient<Node>(client, coreResources.nodes);
    const resources = ipamResources(client);
    for (let start = 0; start < NODES; start += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, NODES - start) }, (_, i) =>
          nodes.create({
            metadata: { name: `node-${start + i}`, labels: { rack: String((start + i) % RACKS) } },
          }),
        ),
      );
    }
    const healthPort = await freePort();
    operator = spawn(process.execPath, [path.join(repo, 'dist', 'operator', 'main.mjs')], {
      env: {
        ...process.env,
        KUBECONFIG: plane.kubeconfigPath,
        POD_NAMESPACE: 'default',
        POD_NAME: `bench-${run}`,
        WEBHOOK_ENABLED: 'false',
        HEALTH_PORT: String(healthPort),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    for (;;) {
      const text = await scrape(healthPort).catch(() => '');
      if (metricSum(text, 'topology_ipam_leader ') === 1) break;
      await sleep(100);
    }
    const before = metricSum(await scrape(healthPort), 'topology_ipam_api_requests_total');
    const started = performance.now();
    await Promise.all(
      Array.from({ length: RACKS }, (_, rack) =>
        resources.pools.create({
          metadata: { name: `rack-${rack}` },
          spec: { cidr: `10.${rack}.0.0/16`, blockSize: 26, nodeSelector: `rack == "${rack}"` },
        }),
      ),
    );
    for (;;) {
      const blocks = (await resources.blocks.list()).items;
      const served = new Set(blocks.map((block) => block.metadata.labels?.[apiLabels.node]));
      if (served.size >= NODES) break;
      await sleep(200);
    }
    const seconds = (performance.now() - started) / 1000;
    const after = metricSum(await scrape(healthPort), 'topology_ipam_api_requests_total');
    const status = fs.readFileSync(`/proc/${String(operator.pid)}/status`, 'utf8');
    const peakKiB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    client.close();
    return { seconds, requestsPerNode: (after - before) / NODES, peakMiB: peakKiB / 1024 };
  } finally {
    if (operator?.exitCode === null) {
      const exited = new Promise((resolve) => operator?.once('exit', resolve));
      operator.kill('SIGTERM');
      await exited;
    }
    await plane.stop();
  }
}

execFileSync(process.execPath, ['--import', 'tsx', path.join(repo, 'scripts', 'build.ts')], {
  stdio: 'inherit',
});
const results = [];
for (let run = 0; run < RUNS; run++) {
  const result = await runOnce(run);
  results.push(result);
  process.stdout.write(
    `run ${run + 1}: ${result.seconds.toFixed(2)} s to serve ${NODES} nodes, ` +
      `${result.requestsPerNode.toFixed(2)} API requests per node, operator peak RSS ${result.peakMiB.toFixed(0)} MiB\n`,
  );
}
process.stdout.write(
  `median of ${RUNS}: ${median(results.map((r) => r.seconds)).toFixed(2)} s from applying ${RACKS} pools to ${NODES} nodes holding a block; ` +
    `${median(results.map((r) => r.requestsPerNode)).toFixed(2)} requests/node; ` +
    `peak RSS ${median(results.map((r) => r.peakMiB)).toFixed(0)} MiB\n`,
);
