/**
 * The plugin against the real API server, on a state the test builds by hand (no operator runs): a
 * leaked address, one recorded twice, an orphan affinity, a block without affinity, a block of a deleted
 * node, a block outside every pool, and a pod whose address no block records. Then through the real
 * kubectl binary, with the bundled executable on PATH.
 */
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpamResources } from '../allocator/index.js';
import { type Allocation, type IPAMConfig, ipamConfigName, labels } from '../api/index.js';
import { cidrToResourceName, parseCidr } from '../ipam/index.js';
import { type Pod, ResourceClient, coreResources, isNotFound, loadConnection } from '../kube/index.js';
import { type AdminClients, adminClients, createNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { createAllocatablePool } from '../local-cluster/pools.js';
import type { CheckReport } from './check.js';
import { runPlugin } from './plugin.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const net = `10.${randomInt(100, 250)}`;
const poolName = `${prefix}-pool`;
const nodeName = `${prefix}-a`;
const goneNode = `${prefix}-gone`;
const namespace = prefix;
const hourAgo = new Date(Date.now() - 3_600_000).toISOString();

let admin: AdminClients;
let resources: IpamResources;
let pods: ResourceClient<Pod>;
let savedConfig: IPAMConfig | undefined;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubectl-ipam-'));

/** Runs `kubectl ipam …` in-process; returns its exit code and output. */
async function ipam(
  ...argv: string[]
): Promise<{ code: number; stdout: string; stderr: string; progress: (string | undefined)[] }> {
  let stdout = '';
  let stderr = '';
  const progress: (string | undefined)[] = [];
  const code = await runPlugin(argv, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env: { KUBECONFIG: cluster.kubeconfig },
    tty: false,
    progress: (text) => progress.push(text),
    now: () => new Date(),
  });
  return { code, stdout, stderr, progress };
}

const held = (ordinal: number, pod: string): Allocation => ({
  ordinal,
  handle: `k8s-pod-network.${pod}.eth0`,
  namespace,
  pod: `${prefix}-${pod}`,
  node: nodeName,
  assignedAt: hourAgo,
});

async function createBlock(
  cidr: string,
  node: string,
  allocations: Allocation[],
  affine: boolean,
): Promise<void> {
  const name = cidrToResourceName(parseCidr(cidr));
  const metadata = { name, labels: { [labels.node]: node, [labels.pool]: poolName } };
  await resources.blocks.create({ metadata, spec: { cidr, pool: poolName, node, allocations, cooling: [] } });
  if (affine)
    await resources.affinities.create({ metadata, spec: { cidr, pool: poolName, node, state: 'confirmed' } });
}

/** A pod of the test namespace on the test node, reporting `ip` as the runtime would. */
async function createPod(name: string, ip?: string): Promise<void> {
  cluster.kubectl([
    'run',
    `${prefix}-${name}`,
    '-n',
    namespace,
    '--image=registry.invalid/none',
    '--restart=Never',
    `--overrides={"spec":{"nodeName":"${nodeName}"}}`,
  ]);
  if (ip === undefined) return;
  const pod = await pods.get(`${prefix}-${name}`, namespace);
  await pods.replaceStatus({ ...pod, status: { ...pod.status, podIP: ip, podIPs: [{ ip }] } });
}

const blockA = `${net}.0.0/26`;
const addresses = (block: string) =>
  resources.blocks
    .get(cidrToResourceName(parseCidr(block)))
    .then((b) => b.spec.allocations.map((a) => a.ordinal));

beforeAll(async () => {
  admin = adminClients(cluster.kubeconfig);
  ({ resources } = admin);
  pods = new ResourceClient<Pod>(admin.client, coreResources.pods);
  savedConfig = await resources.configs.get(ipamConfigName).catch((error: unknown) => {
    if (isNotFound(error)) return undefined;
    throw error;
  });
  cluster.kubectl(['create', 'namespace', namespace]);
  await createNodes(admin.nodes, [nodeName]);
  await createAllocatablePool(resources, {
    metadata: { name: poolName },
    spec: { cidr: `${net}.0.0/24`, blockSize: 26 },
  });
  await createPod('web', `${net}.0.2`);
  await createPod('db', `${net}.0.4`);
  await createPod('stray', `${net}.0.50`);
  await createBlock(
    blockA,
    nodeName,
    [held(2, 'web'), held(3, 'leaked'), held(4, 'db'), held(6, 'revived')],
    true,
  );
  await createBlock(
    `${net}.0.0/28`,
    nodeName,
    [{ ordinal: 2, handle: 'other-user', node: nodeName, assignedAt: hourAgo }],
    true,
  );
  await createBlock(`${net}.0.64/26`, goneNode, [], true);
  await createBlock(`${net}.0.192/26`, nodeName, [], false);
  await createBlock(`${net}.1.0/26`, nodeName, [], true);
  const orphan = cidrToResourceName(parseCidr(`${net}.0.128/26`));
  await resources.affinities.create({
    metadata: { name: orphan },
    spec: { cidr: `${net}.0.128/26`, pool: poolName, node: nodeName, state: 'confirmed' },
  });
});

afterAll(async () => {
  for (const list of [resources.blocks, resources.affinities] as const) {
    for (const object of (await list.list()).items)
      if (object.spec.pool === poolName) await list.delete(object.metadata.name).catch(() => undefined);
  }
  await resources.pools.delete(poolName).catch(() => undefined);
  cluster.tryKubectl(['delete', 'pods', '--all', '-n', namespace, '--grace-period=0', '--force']);
  cluster.tryKubectl(['delete', 'namespace', namespace, '--wait=false']);
  cluster.tryKubectl(['delete', 'node', nodeName]);
  const current = await resources.configs.get(ipamConfigName).catch(() => undefined);
  if (savedConfig === undefined && current !== undefined) await resources.configs.delete(ipamConfigName);
  if (savedConfig !== undefined && current !== undefined)
    await resources.configs.replace({ ...current, spec: savedConfig.spec });
  admin.client.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('kubectl ipam show', () => {
  it('shows the pool with its blocks, its use and its status', async () => {
    const { code, stdout, progress } = await ipam('show');
    expect(code).toBe(0);
    // show reads the pools and their blocks only: listing every pod is check's cost, not show's.
    expect(progress.at(-2)).toMatch(/^read \d+ pools, \d+ blocks…$/);
    expect(progress.at(-1)).toBeUndefined();
    const row = stdout.split('\n').find((line) => line.startsWith(`${poolName} `));
    expect(row).toMatch(
      new RegExp(`${net}\\.0\\.0/24\\s+all\\(\\)\\s+5\\s+5/256\\s+\\[----------\\]\\s+1%\\s+Allocatable`),
    );
  });

  it('shows the blocks by node, as JSON', async () => {
    const { stdout } = await ipam('show', '--blocks', '-o', 'json');
    const rows = (JSON.parse(stdout) as { node: string; block: string; used: number }[]).filter((row) =>
      row.block.startsWith(`${net}.`),
    );
    expect(rows).toContainEqual(expect.objectContaining({ node: nodeName, block: blockA, used: 4 }));
    expect(rows).toContainEqual(
      expect.objectContaining({ node: goneNode, block: `${net}.0.64/26`, used: 0 }),
    );
  });

  it.each([
    [
      `${net}.0.4`,
      new RegExp(`pod\\s+${namespace}/${prefix}-db[\\s\\S]*node\\s+${nodeName}[\\s\\S]*since\\s+${hourAgo}`),
    ],
    [`${net}.0.150`, new RegExp(`free: in pool ${poolName}, in a block no node has claimed`)],
    [`${net}.0.63`, /reserved in block/],
    [`${net}.9.9`, /outside every pool/],
  ])('says who holds %s or what it is', async (address, answer) => {
    const { code, stdout } = await ipam('show', '--ip', address);
    expect(code).toBe(0);
    expect(stdout).toMatch(answer);
  });

  it('names the IPReservations covering an address', async () => {
    const name = `${prefix}-appliances`;
    await resources.reservations.create({ metadata: { name }, spec: { reservedCIDRs: [`${net}.0.160/30`] } });
    try {
      const { code, stdout } = await ipam('show', '--ip', `${net}.0.161`);
      expect(code).toBe(0);
      expect(stdout).toContain(
        `${net}.0.161 is reserved by IPReservation ${name}: never assigned automatically`,
      );
    } finally {
      await resources.reservations.delete(name);
    }
  });

  it('shows the IPAMConfig in force as YAML', async () => {
    const { stdout } = await ipam('show', '--config', '-o', 'yaml');
    expect(stdout).toMatch(/maxBlocksPerHost: \d+/);
  });
});

describe('kubectl ipam check, release and configure', () => {
  let report: CheckReport;
  const ours = (cidr: string) => cidr.startsWith(`${net}.`);

  it('reports each problem built, and exits non-zero', async () => {
    const json = await ipam('check', '--grace', '0', '-o', 'json');
    expect(json.code).toBe(1);
    report = JSON.parse(json.stdout) as CheckReport;
    expect(
      report.leaks.filter((leak) => ours(leak.block)).map((leak) => [leak.address, leak.pod, leak.reason]),
    ).toEqual([
      [`${net}.0.3`, `${prefix}-leaked`, 'pod-gone'],
      [`${net}.0.6`, `${prefix}-revived`, 'pod-gone'],
    ]);
    expect(report.leaks.find((leak) => leak.address === `${net}.0.3`)?.ageSeconds).toBeGreaterThanOrEqual(
      3600,
    );
    expect(report.unrecordedPods).toContainEqual({
      namespace,
      pod: `${prefix}-stray`,
      node: nodeName,
      address: `${net}.0.50`,
    });
    expect(report.duplicates).toContainEqual(expect.objectContaining({ address: `${net}.0.2` }));
    expect(report.affinitiesWithoutBlock.map((p) => p.block)).toContain(`${net}.0.128/26`);
    expect(report.blocksWithoutAffinity.map((p) => p.block)).toContain(`${net}.0.192/26`);
    expect(report.blocksOfDeletedNodes.filter((p) => ours(p.block))).toEqual([
      { block: `${net}.0.64/26`, pool: poolName, node: goneNode },
    ]);
    expect(report.blocksOutsidePools.filter((p) => ours(p.block)).map((p) => p.block)).toEqual([
      `${net}.1.0/26`,
    ]);
    const human = await ipam('check', '--grace', '0');
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/Leak candidates: addresses held by pods that no longer exist \(\d+\)/);
    expect(human.stdout).toMatch(/\d+ problems found\./);
  });

  it('reads its lists a page at a time (--chunk-size), to the same report', async () => {
    const paged = await ipam('check', '--grace', '0', '-o', 'json', '--chunk-size', '2');
    expect(paged.code).toBe(1);
    const again = JSON.parse(paged.stdout) as CheckReport;
    const mine = (found: CheckReport) => ({
      leaks: found.leaks.filter((leak) => ours(leak.block)).map((leak) => leak.address),
      duplicates: found.duplicates.filter((duplicate) => duplicate.address.startsWith(`${net}.`)),
      unrecorded: found.unrecordedPods.filter((pod) => pod.namespace === namespace),
      orphans: found.affinitiesWithoutBlock.filter((problem) => ours(problem.block)),
      outside: found.blocksOutsidePools.filter((problem) => ours(problem.block)),
    });
    expect(mine(again)).toEqual(mine(report));
    // Pages of 2: the blocks arrived over several pages (this file alone made 5).
    const blockCounts = new Set(paged.progress.flatMap((text) => /(\d+) blocks/.exec(text ?? '')?.[1] ?? []));
    expect(blockCounts.size).toBeGreaterThanOrEqual(3);
    expect([...blockCounts].map(Number)).toContain(2);
  });

  /** The report, cut to this file's leaks (the shared API server may hold others), written to a file. */
  const reportFile = (changes: Partial<CheckReport> = {}): string => {
    const file = path.join(dir, `report-${randomInt(1e9)}.json`);
    const leaks = report.leaks.filter((leak) => ours(leak.block));
    fs.writeFileSync(file, JSON.stringify({ ...report, leaks, ...changes }));
    return file;
  };

  it('refuses a stale report, or one of another cluster, unless forced', async () => {
    const stale = reportFile({ generatedAt: new Date(Date.now() - 2 * 3_600_000).toISOString() });
    const refused = await ipam('release', '--from-report', stale);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/the report is 120 minutes old, more than 60/);
    const foreign = reportFile({ cluster: { ...report.cluster, uid: 'another-cluster' } });
    expect((await ipam('release', '--from-report', foreign)).stderr).toMatch(
      /another cluster \(another-cluster\)/,
    );
    const forced = await ipam('release', '--from-report', stale, '--force', '--dry-run');
    expect(forced.stdout).toMatch(/would be released \(dry run\)/);
    expect(await addresses(blockA)).toEqual([2, 3, 4, 6]);
  });

  it('releases exactly the leaked addresses, re-checking each: a pod that came back keeps its own', async () => {
    const file = reportFile();
    await createPod('revived');
    const dry = await ipam('release', '--from-report', file, '--dry-run');
    expect(dry.stdout).toMatch(
      new RegExp(`${net}\\.0\\.3\\s+${namespace}/${prefix}-leaked\\s+would be released`),
    );
    expect(await addresses(blockA)).toEqual([2, 3, 4, 6]);
    const { code, stdout } = await ipam('release', '--from-report', file);
    expect(stdout).toMatch(
      new RegExp(`${net}\\.0\\.6\\s+${namespace}/${prefix}-revived\\s+kept: its pod still holds it`),
    );
    expect(code).toBe(1);
    expect(await addresses(blockA)).toEqual([2, 4, 6]);
    expect(await addresses(`${net}.0.0/28`)).toEqual([2]);
    expect((await ipam('show', '--ip', `${net}.0.3`)).stdout).toMatch(/is cooling down/);
    const again = await ipam('release', '--from-report', file);
    expect(again.stdout).toMatch(new RegExp(`${net}\\.0\\.3\\s+\\S+\\s+already free`));
  });

  it('releases one address by --ip only if its pod is gone, or with --force', async () => {
    const kept = await ipam('release', '--ip', `${net}.0.4`);
    expect(kept.code).toBe(1);
    expect(kept.stdout).toMatch(/kept: its pod still holds it/);
    expect(await addresses(blockA)).toEqual([2, 4, 6]);
    const forced = await ipam('release', '--ip', `${net}.0.6`, '--force', '-o', 'json');
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout)).toEqual([
      expect.objectContaining({ address: `${net}.0.6`, outcome: 'released' }),
    ]);
    expect(await addresses(blockA)).toEqual([2, 4]);
  });

  it('edits the IPAMConfig, refusing values its schema refuses', async () => {
    const refused = await ipam('configure', '--max-blocks-per-host=70000');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--max-blocks-per-host: Too big/);
    const { code } = await ipam('configure', '--strict-affinity=true', '--max-blocks-per-host=7');
    expect(code).toBe(0);
    expect((await resources.configs.get(ipamConfigName)).spec).toMatchObject({
      strictAffinity: true,
      maxBlocksPerHost: 7,
    });
  });

  it('says which verb on which resource it lacks', async () => {
    cluster.kubectl(['create', 'serviceaccount', 'nobody', '-n', namespace]);
    const token = cluster.kubectl(['create', 'token', 'nobody', '-n', namespace, '--duration=10m']).trim();
    const server = loadConnection(cluster.kubeconfig).server;
    const kubeconfig = path.join(dir, 'nobody');
    fs.writeFileSync(
      kubeconfig,
      JSON.stringify({
        clusters: [{ name: 'c', cluster: { server, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      }),
    );
    const { code, stderr } = await ipam('show', '--kubeconfig', kubeconfig, '--context', 'x');
    expect(code).toBe(2);
    expect(stderr).toMatch(/permission denied: you may not list ippools\.ipam\.topology-ipam\.dev/);
  });
});

describe('as a kubectl plugin', () => {
  it('runs as `kubectl ipam show` from PATH, and `kubectl plugin list` shows it', () => {
    const bin = path.join(dir, 'bin');
    // The one build entry, as `npm run build` runs it.
    execFileSync('npx', ['tsx', 'scripts/build.ts', 'kubectl-ipam', '--out-dir', bin], {
      cwd: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'),
      stdio: 'pipe',
    });
    const env = {
      ...process.env,
      KUBECONFIG: cluster.kubeconfig,
      PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`,
    };
    const kubectl = path.join(cluster.binDir, 'kubectl');
    const shown = execFileSync(kubectl, ['ipam', 'show'], { env, encoding: 'utf8' });
    expect(shown).toMatch(new RegExp(`^${poolName}\\s+${net}\\.0\\.0/24`, 'm'));
    const plugins = execFileSync(kubectl, ['plugin', 'list'], {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(plugins).toContain(path.join(bin, 'kubectl-ipam'));
  });
});
