/**
 * `npm start`: the operator against a cluster. With no KUBECONFIG it starts the local control plane
 * (as `npm run cluster:up` does), applies the rack example (four nodes, one IPPool per rack), and
 * prints the blocks each node got; then it keeps reconciling until Ctrl-C. `-- --once` exits after
 * printing. With KUBECONFIG set it runs against that cluster and applies nothing unless `-- --sample`;
 * a KUBECONFIG naming no file stops it before anything starts.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { labels as apiLabels } from '../api/index.js';
import { KubeClient, loadConnection } from '../kube/index.js';
import { Operator, createMetrics } from '../operator/index.js';
import { jsonLogger } from '../runtime/index.js';
import { installCrds } from '../local-cluster/crds.js';
import { ensureBinaries } from '../local-cluster/binaries.js';
import { externalKubeconfig } from '../local-cluster/kubeconfig.js';
import { clusterUp } from './cluster.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const once = process.argv.includes('--once');
let external: string | undefined;
try {
  external = externalKubeconfig(process.env);
} catch (error) {
  process.stderr.write(`npm start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

const { kubectl } = ensureBinaries();
let kubeconfig: string;
if (external !== undefined) {
  kubeconfig = external;
  installCrds(kubectl, kubeconfig);
} else {
  const state = await clusterUp();
  kubeconfig = state.kubeconfigPath;
  process.stdout.write(
    `local control plane at ${state.server}\n  export KUBECONFIG=${kubeconfig}\n  export PATH=${state.binDir}:$PATH\n`,
  );
}
const env = { ...process.env, KUBECONFIG: kubeconfig };
if (external === undefined || process.argv.includes('--sample')) {
  for (const file of ['nodes.yaml', 'pools.yaml']) {
    if (external !== undefined && file === 'nodes.yaml') continue;
    execFileSync(kubectl, ['apply', '-f', path.join(repo, 'examples', 'topology', file)], {
      env,
      stdio: 'inherit',
    });
  }
}

const client = new KubeClient(loadConnection(kubeconfig), { userAgent: 'topology-ipam-operator' });
const log = jsonLogger({ level: 'warn' });
const operator = new Operator({
  client,
  namespace: 'default',
  identity: `npm-start-${process.pid}`,
  log,
  metrics: createMetrics(),
});
const shutdown = new AbortController();
process.once('SIGINT', () => {
  shutdown.abort();
});
process.once('SIGTERM', () => {
  shutdown.abort();
});
const running = operator.run(shutdown.signal);

// Print once the controllers have settled: every node's blocks, by pool.
await operator.ready();
while (!operator.isIdle() && !shutdown.signal.aborted) await sleep(200);
await sleep(500);
while (!operator.isIdle() && !shutdown.signal.aborted) await sleep(200);
process.stdout.write('\nblocks per node:\n');
const blocks = operator.state.allBlocks();
for (const node of operator.state.nodes
  .list()
  .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
  const held = blocks.filter((block) => block.metadata.labels?.[apiLabels.node] === node.metadata.name);
  const text =
    held.map((block) => `${block.spec.cidr} (pool ${block.spec.pool})`).join(', ') ||
    'none: no IPPool selects this node';
  process.stdout.write(`  ${node.metadata.name.padEnd(24)} ${text}\n`);
}
process.stdout.write(
  `\nkubectl get ippools -o wide:\n${execFileSync(kubectl, ['get', 'ippools', '-o', 'wide'], { env, encoding: 'utf8' })}`,
);
if (once) shutdown.abort();
else
  process.stdout.write(
    '\noperator running; Ctrl-C to stop (npm run cluster:down removes the local control plane)\n',
  );
await running;
client.close();
