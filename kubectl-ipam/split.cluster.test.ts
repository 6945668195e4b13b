/**
 * `kubectl ipam split` on the real API server with the operator and two node agents at work: addresses
 * are handed out before the split, while it runs and after it, and none twice; the addresses in use stay
 * where they are, recorded under the same handles; the old pool's blocks and affinities end up in the new
 * pools, which the operator finds allocatable, and the old pool goes. A split interrupted after its first
 * steps is finished by running it again, and a split that cannot be done is refused before any write.
 */
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpamResources } from '../allocator/index.js';
import type { RunningAgent } from '../agent/agent.js';
import { type AgentAnswer, askAgent, startSyncedAgent } from '../agent/testing.js';
import {
  type IPAMBlock,
  type IPPool,
  labels,
  poolConditionTypes,
  splitFromAnnotation,
} from '../api/index.js';
import {
  addressAtOrdinal,
  addressToString,
  cidrContainsAddress,
  parseAddress,
  parseCidr,
} from '../ipam/index.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { type AdminClients, adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import { testOperator } from '../operator/testing.js';
import { runPlugin } from './plugin.js';
import type { SplitOutcome } from './split.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const poolName = `${prefix}-pool`;
const parts = [`${poolName}-0`, `${poolName}-1`];
const nodeNames = [`${prefix}-a`, `${prefix}-b`];
const net = `10.${randomInt(100, 250)}.${randomInt(0, 63) * 4}`;
const poolCidr = `${net}.0/22`;
const network = `${prefix}-net`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubectl-ipam-split-'));
const shutdown = new AbortController();

let admin: AdminClients;
let resources: IpamResources;
let running: Promise<unknown> | undefined;
const agents = new Map<string, RunningAgent>();

async function ipam(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runPlugin(argv, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env: { KUBECONFIG: cluster.kubeconfig },
    tty: false,
    now: () => new Date(),
  });
  return { code, stdout, stderr };
}

/** One ADD on a node, as the forwarder asks its agent; the address answered, or undefined if refused. */
async function add(node: string, id: string): Promise<string | undefined> {
  const agent = agents.get(node);
  if (agent === undefined) throw new Error(`no agent on ${node}`);
  const answer: AgentAnswer = await askAgent(
    agent.socketPath,
    {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: id,
      CNI_NETNS: `/var/run/netns/${id}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/opt/cni/bin',
      CNI_ARGS: `K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-${id}`,
    },
    { cniVersion: '1.1.0', name: network, type: 'bridge', ipam: { type: 'topology-ipam' } },
  );
  if (answer.exitCode !== 0) return undefined;
  const [ip] = (answer.json?.ips ?? []) as { address: string }[];
  return ip?.address.split('/')[0];
}

/** Every ADD of `ids` on every node; the addresses answered, by container id. */
async function addAll(ids: readonly string[]): Promise<Map<string, string | undefined>> {
  const jobs = nodeNames.flatMap((node) => ids.map((id) => ({ id: `${node}-${id}`, node })));
  const answers = await Promise.all(jobs.map(({ id, node }) => add(node, id)));
  return new Map(jobs.map(({ id }, index) => [id, answers[index]]));
}

const poolBlocks = async (pool: string): Promise<IPAMBlock[]> =>
  (await resources.blocks.list({ labelSelector: `${labels.pool}=${pool}` })).items;

/** handle → address of every allocation in the pools' blocks, failing on an address recorded twice. */
async function recorded(pools: readonly string[]): Promise<Map<string, string>> {
  const byHandle = new Map<string, string>();
  const seen = new Set<string>();
  for (const pool of pools) {
    for (const block of await poolBlocks(pool)) {
      const cidr = parseCidr(block.spec.cidr);
      for (const allocation of block.spec.allocations) {
        const address = addressToString(addressAtOrdinal(cidr, allocation.ordinal));
        expect(seen.has(address), `${address} recorded twice`).toBe(false);
        seen.add(address);
        byHandle.set(allocation.handle, address);
      }
    }
  }
  return byHandle;
}

const handleOf = (id: string) => `${network}.${id}.eth0`;

function allocatable(pool: IPPool): boolean {
  const condition = pool.status?.conditions?.find((c) => c.type === poolConditionTypes.allocatable);
  return condition?.status === 'True' && condition.observedGeneration === pool.metadata.generation;
}

beforeAll(async () => {
  admin = adminClients(cluster.kubeconfig);
  ({ resources } = admin);
  cluster.kubectl(['create', 'namespace', prefix]);
  await createNodes(admin.nodes, nodeNames, { [prefix]: 'yes' });
  await resources.pools.create({
    metadata: { name: poolName },
    spec: { cidr: poolCidr, blockSize: 26, nodeSelector: `has(${prefix})` },
  });
  running = testOperator({
    client: admin.client,
    namespace: prefix,
    // The test's pods are not Pod objects: keep the leak collector away from their addresses.
    leakGraceMs: 600_000,
    staleClaimMs: 60_000,
  }).run(shutdown.signal);
  for (const node of nodeNames)
    agents.set(
      node,
      await startSyncedAgent(cluster.kubeconfig, node, path.join(dir, `${node.slice(-1)}.sock`)),
    );
  await eventually(async () => (allocatable(await resources.pools.get(poolName)) ? true : undefined));
}, 60_000);

afterAll(async () => {
  await Promise.all([...agents.values()].map((agent) => agent.stop(5_000)));
  shutdown.abort();
  await running;
  for (const pool of [poolName, ...parts]) await removePoolAndBlocks(resources, pool);
  await removeNodes(admin.nodes, nodeNames);
  cluster.tryKubectl(['delete', 'namespace', prefix, '--wait=false']);
  admin.client.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('kubectl ipam split', () => {
  it('refuses, before writing anything, a pool it cannot find, an N not a power of two and an N too large', async () => {
    expect(await ipam('split', `${prefix}-none`, '2')).toMatchObject({
      code: 2,
      stderr: `error: IPPool "${prefix}-none" not found\n`,
    });
    expect(await ipam('split', poolName, '3')).toMatchObject({
      code: 2,
      stderr: 'error: N must be a power of two of at least 2, not 3\n',
    });
    expect((await ipam('split', poolName, '32')).stderr).toBe(
      `error: ${poolCidr} cannot be split into 32: each part would be smaller than one /26 block (at most 16)\n`,
    );
    const pool = await resources.pools.get(poolName);
    expect(pool.spec.disabled).toBe(false);
    expect((await resources.pools.list()).items.map((p) => p.metadata.name)).not.toContain(parts[0]);
  });

  it('splits a pool in use, interrupted and run again, and no address is handed out twice', async () => {
    const before = await addAll(Array.from({ length: 12 }, (_, i) => `before-${i}`));
    expect([...before.values()].every((address) => address !== undefined)).toBe(true);
    const inUse = await recorded([poolName]);
    const oldBlocks = (await poolBlocks(poolName)).map((block) => block.metadata.name).sort();
    expect(oldBlocks.length).toBeGreaterThanOrEqual(2);

    // A first run interrupted after its first steps: the pool disabled and one of its parts created.
    const old = await resources.pools.get(poolName);
    await resources.pools.replace({ ...old, spec: { ...old.spec, disabled: true } });
    await resources.pools.create({
      metadata: { name: parts[0] ?? '', annotations: { [splitFromAnnotation]: poolName } },
      spec: { cidr: `${net}.0/23`, blockSize: 26, nodeSelector: `has(${prefix})`, disabled: false },
    });

    // Pods keep starting while the split runs: some may be refused for a moment, none answered twice.
    const during = addAll(Array.from({ length: 6 }, (_, i) => `during-${i}`));
    const run = await ipam('split', poolName, '2', '-o', 'json');
    expect(run.stderr).toBe('');
    const outcome = JSON.parse(run.stdout) as SplitOutcome;
    expect(outcome).toMatchObject({
      pool: poolName,
      cidr: poolCidr,
      disabled: false,
      pools: [
        { name: parts[0], cidr: `${net}.0/23`, created: false },
        { name: parts[1], cidr: `${nextHalf(net)}.0/23`, created: true },
      ],
    });
    // A claim the old pool still had pending stays for a later run: run it until none is left.
    await eventually(async () => ((await ipam('split', poolName, '2')).code === 0 ? true : undefined));
    const answeredDuring = await during;

    // The old pool's blocks and affinities are the new pools', its addresses untouched, and it is gone.
    await eventually(async () => {
      const pools = (await resources.pools.list()).items.map((pool) => pool.metadata.name);
      return pools.includes(poolName) ? undefined : true;
    });
    const moved = (await Promise.all(parts.map(poolBlocks))).flat();
    for (const name of oldBlocks) {
      const block = moved.find((candidate) => candidate.metadata.name === name);
      expect(block, `block ${name} in a new pool`).toBeDefined();
      const affinity = await resources.affinities.get(name);
      expect(affinity.spec.pool).toBe(block?.spec.pool);
      expect(affinity.metadata.labels?.[labels.pool]).toBe(block?.spec.pool);
    }
    const after = await recorded(parts);
    for (const [handle, address] of inUse) expect(after.get(handle), handle).toBe(address);

    // The operator finds the new pools allocatable and lets their blocks serve again.
    await eventually(async () => {
      const pools = await Promise.all(parts.map((name) => resources.pools.get(name)));
      const blocks = (await Promise.all(parts.map(poolBlocks))).flat();
      return pools.every(allocatable) && blocks.every((block) => block.spec.draining !== true)
        ? true
        : undefined;
    });

    // Allocation goes on, from the new pools, and every address answered is distinct and recorded once.
    const later = await eventually(async () => {
      const answers = await addAll(Array.from({ length: 12 }, (_, i) => `after-${i}`));
      return [...answers.values()].every((address) => address !== undefined) ? answers : undefined;
    });
    const answered = [...before, ...answeredDuring, ...later].filter(
      (entry): entry is [string, string] => entry[1] !== undefined,
    );
    expect(new Set(answered.map(([, address]) => address)).size).toBe(answered.length);
    const final = await recorded(parts);
    for (const [id, address] of answered) expect(final.get(handleOf(id)), id).toBe(address);
    const halves = parts.map((_, index) => parseCidr(index === 0 ? `${net}.0/23` : `${nextHalf(net)}.0/23`));
    for (const [, address] of answered)
      expect(halves.some((half) => cidrContainsAddress(half, parseAddress(address)))).toBe(true);

    // show accounts every address to the new pools; a run after the end has nothing left to do.
    const show = await ipam('show', '-o', 'json');
    const rows = (JSON.parse(show.stdout) as { name: string; used: number }[]).filter((row) =>
      [poolName, ...parts].includes(row.name),
    );
    expect(rows.map((row) => row.name)).toEqual(parts);
    expect(rows.reduce((sum, row) => sum + row.used, 0)).toBe(final.size);
    expect(await ipam('split', poolName, '2')).toMatchObject({ code: 0, stderr: '' });
  }, 120_000);
});

/** The third octet of the upper /23 of the /22 starting at `net` (a.b.c with c a multiple of 4). */
function nextHalf(prefix24: string): string {
  const [a, b, c] = prefix24.split('.');
  return `${a}.${b}.${Number(c) + 2}`;
}
