/**
 * The real plugin binary (the forwarder), run with env + stdin exactly as a runtime calls it, served by
 * each node's agent against the real API server. No operator: the agents claim blocks themselves
 * (autoAllocateBlocks).
 */
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpamResources } from '../allocator/index.js';
import { type IPAMBlock, labels } from '../api/index.js';
import { cidrContainsAddress, parseAddress, parseCidr } from '../ipam/index.js';
import {
  type AdminClients,
  adminClients,
  createNodes,
  createPods,
  removeNodes,
  removePods,
} from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import {
  type InstalledPlugin,
  type Invocation,
  type PluginOutcome,
  agentRequests,
  installPlugin,
  invokePlugin,
  removePlugin,
  startNodeAgent,
  startPlugin,
} from './testing.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { createAllocatablePool } from '../local-cluster/pools.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const octet = randomInt(100, 250);
const rackLabel = 'topology-ipam.test/rack';

const pools = {
  rack0: { name: `${prefix}-rack-0`, cidr: `10.${octet}.0.0/23`, rack: `${prefix}-r0` },
  rack1: { name: `${prefix}-rack-1`, cidr: `10.${octet}.2.0/23`, rack: `${prefix}-r1` },
  tiny: { name: `${prefix}-tiny`, cidr: `10.${octet}.8.0/28` },
  v6: { name: `${prefix}-v6`, cidr: `fd00:0:${octet}::/126` },
};
const nodeNames = {
  n0: pools.rack0.rack,
  n1: pools.rack0.rack,
  n2: pools.rack1.rack,
  n3: pools.rack1.rack,
  lonely: `${prefix}-r9`,
  m0: pools.rack0.rack,
  m1: pools.rack0.rack,
  m2: pools.rack1.rack,
  m3: pools.rack1.rack,
  k0: pools.rack0.rack,
};
type NodeKey = keyof typeof nodeNames;
const nodeName = (key: NodeKey) => `${prefix}-${key}`;

let plugin: InstalledPlugin;
let admin: AdminClients | undefined;
let resources: IpamResources;

function network(
  ipam: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: `${prefix}-net`,
    type: 'bridge',
    ipam: { type: 'topology-ipam', ...ipam },
    ...extra,
  };
}

const call = (
  command: Invocation['command'],
  node: NodeKey,
  containerId: string,
  ipam: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) =>
  invokePlugin(plugin, {
    command,
    containerId,
    config: network({ nodename: nodeName(node), ...ipam }, extra),
  });

function addressOf(outcome: PluginOutcome, index = 0): string {
  expect(outcome.exitCode, outcome.stdout + outcome.stderr).toBe(0);
  const ips = outcome.json?.ips as { address: string }[] | undefined;
  const ip = ips?.[index];
  if (!ip) throw new Error(`no address in ${outcome.stdout}`);
  return ip.address;
}

/**
 * The API requests the node agents sent while `invocation` ran. Invocations run one at a time here, so
 * the difference is theirs (a request's writes are shared with others only when they run together).
 */
async function requestsOf(
  invocation: () => Promise<PluginOutcome>,
): Promise<{ outcome: PluginOutcome; reads: number; writes: number }> {
  const before = agentRequests(plugin);
  const outcome = await invocation();
  const after = agentRequests(plugin);
  return { outcome, reads: after.reads - before.reads, writes: after.writes - before.writes };
}

const countedPods = ['pod-c1', 'pod-c2'];

async function blocksOf(node: NodeKey): Promise<IPAMBlock[]> {
  return (await resources.blocks.list({ labelSelector: `${labels.node}=${nodeName(node)}` })).items;
}

const handle = (containerId: string, net = `${prefix}-net`) => `${net}.${containerId}.eth0`;

async function allocationsOf(handleText: string): Promise<{ block: IPAMBlock; ordinal: number }[]> {
  const found = [];
  for (const pool of Object.values(pools)) {
    const blocks = await resources.blocks.list({ labelSelector: `${labels.pool}=${pool.name}` });
    for (const block of blocks.items) {
      for (const allocation of block.spec.allocations) {
        if (allocation.handle === handleText) found.push({ block, ordinal: allocation.ordinal });
      }
    }
  }
  return found;
}

beforeAll(async () => {
  plugin = await installPlugin({ kubeconfig: cluster.kubeconfig });
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  for (const [key, rack] of Object.entries(nodeNames)) {
    await createNodes(admin.nodes, [nodeName(key as NodeKey)], { [rackLabel]: rack });
  }
  // The pods of the ADDs whose requests are counted: in the agent's cache of its node's pods.
  await createPods(admin.client, { node: nodeName('n0'), namespace: 'default', names: countedPods });
  const selector = (rack: string) => `${rackLabel} == "${rack}"`;
  await createAllocatablePool(resources, {
    metadata: { name: pools.rack0.name },
    spec: { cidr: pools.rack0.cidr, blockSize: 27, nodeSelector: selector(pools.rack0.rack) },
  });
  await createAllocatablePool(resources, {
    metadata: { name: pools.rack1.name },
    spec: { cidr: pools.rack1.cidr, blockSize: 27, nodeSelector: selector(pools.rack1.rack) },
  });
  await createAllocatablePool(resources, {
    metadata: { name: pools.tiny.name },
    spec: { cidr: pools.tiny.cidr, blockSize: 28 },
  });
  await createAllocatablePool(resources, {
    metadata: { name: pools.v6.name },
    spec: { cidr: pools.v6.cidr, blockSize: 126 },
  });
}, 120_000);

afterAll(async () => {
  if ((plugin as InstalledPlugin | undefined) !== undefined) await removePlugin(plugin);
  if (admin === undefined) return;
  for (const pool of Object.values(pools)) await removePoolAndBlocks(resources, pool.name);
  await removePods(admin.client, 'default', countedPods);
  await removeNodes(
    admin.nodes,
    Object.keys(nodeNames).map((key) => nodeName(key as NodeKey)),
  );
  admin.client.close();
});

describe('the plugin binary on a real API server', () => {
  it('ADD claims a block of the pool selecting the node; ADD again returns the same address', async () => {
    await startNodeAgent(plugin, nodeName('n0'));
    const claiming = await requestsOf(() => call('ADD', 'n0', 'c1'));
    const first = addressOf(claiming.outcome);
    // A first ADD on a fresh node claims a block: still a handful of requests.
    expect(claiming.reads + claiming.writes).toBeLessThanOrEqual(10);
    expect(first).toMatch(/\/27$/);
    expect(cidrContainsAddress(parseCidr(pools.rack0.cidr), parseAddress(first.split('/')[0] ?? ''))).toBe(
      true,
    );
    const [block] = await blocksOf('n0');
    expect(block?.spec.node).toBe(nodeName('n0'));
    expect(block?.spec.allocations).toEqual([
      expect.objectContaining({
        handle: handle('c1'),
        namespace: 'default',
        pod: 'pod-c1',
        node: nodeName('n0'),
      }),
    ]);

    // A repeated ADD confirms the address with one read of its block (the cache may lag a release made
    // elsewhere) and writes nothing.
    const again = await requestsOf(() => call('ADD', 'n0', 'c1'));
    expect(addressOf(again.outcome)).toBe(first);
    expect(again).toMatchObject({ reads: 1, writes: 0 });
  });

  it('a steady-state ADD and DEL each read nothing and make one write', async () => {
    const added = await requestsOf(() => call('ADD', 'n0', 'c2'));
    addressOf(added.outcome);
    expect(added).toMatchObject({ reads: 0, writes: 1 });
    const deleted = await requestsOf(() => call('DEL', 'n0', 'c2'));
    expect(deleted.outcome.exitCode).toBe(0);
    expect(deleted.outcome.stdout).toBe('');
    expect(deleted).toMatchObject({ reads: 0, writes: 1 });
  });

  it('CHECK verifies the recorded address; DEL is idempotent; CHECK fails after DEL', async () => {
    const result = (await call('ADD', 'n0', 'c3')).json;
    expect((await call('CHECK', 'n0', 'c3', {}, { prevResult: result })).exitCode).toBe(0);
    const wrong = { ...result, ips: [{ address: '10.255.255.1/27' }] };
    expect((await call('CHECK', 'n0', 'c3', {}, { prevResult: wrong })).json).toMatchObject({ code: 104 });
    expect((await call('DEL', 'n0', 'c3')).exitCode).toBe(0);
    const again = await requestsOf(() => call('DEL', 'n0', 'c3'));
    expect(again.outcome.exitCode).toBe(0);
    expect(again).toMatchObject({ reads: 0, writes: 0 });
    expect((await call('DEL', 'n0', 'never-added')).exitCode).toBe(0);
    const check = await call('CHECK', 'n0', 'c3');
    expect(check.exitCode).toBe(1);
    expect(check.json).toMatchObject({ code: 104 });
  });

  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])(
    'answers ADD in the shape of cniVersion %s',
    async (version) => {
      const outcome = await call('ADD', 'n0', `v${version.replaceAll('.', '')}`, {}, { cniVersion: version });
      const ips = outcome.json?.ips as Record<string, unknown>[];
      expect(outcome.json?.cniVersion).toBe(version);
      if (version.startsWith('0.')) expect(ips[0]?.version).toBe('4');
      else expect(ips[0]).not.toHaveProperty('version');
    },
  );

  it('GC releases this network’s addresses on this node whose attachment is not valid', async () => {
    for (const id of ['g1', 'g2', 'g3']) addressOf(await call('ADD', 'n1', id));
    const other = await invokePlugin(plugin, {
      command: 'ADD',
      containerId: 'x1',
      config: { ...network({ nodename: nodeName('n1') }), name: `${prefix}-other` },
    });
    addressOf(other);
    const gc = await invokePlugin(plugin, {
      command: 'GC',
      config: network(
        { nodename: nodeName('n1') },
        { cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'g1', ifname: 'eth0' }] },
      ),
    });
    expect(gc.exitCode, gc.stdout).toBe(0);
    const held = (await blocksOf('n1')).flatMap((b) => b.spec.allocations.map((a) => a.handle)).sort();
    expect(held).toEqual([handle('g1'), handle('x1', `${prefix}-other`)].sort());
  });

  it('STATUS succeeds while the API server answers', async () => {
    const status = await call('STATUS', 'n1', '', {}, { cniVersion: '1.1.0' });
    expect(status.exitCode, status.stdout).toBe(0);
  });

  it('refuses a configuration naming an unknown pool with code 7, writing nothing', async () => {
    const { outcome, writes } = await requestsOf(() =>
      call('ADD', 'n2', 'u1', { pools: [`${prefix}-nonexistent`] }),
    );
    expect(outcome.json).toMatchObject({ code: 7 });
    expect(String(outcome.json?.details)).toMatch(/no IPPool has that name/);
    expect(writes).toBe(0);
  });

  it('refuses a node name the API server does not know with code 7', async () => {
    const outcome = await invokePlugin(plugin, {
      command: 'ADD',
      containerId: 'u2',
      config: network({ nodename: `${prefix}-ghost` }),
    });
    expect(outcome.json).toMatchObject({ code: 7 });
    expect(String(outcome.json?.details)).toMatch(/no Node/);
  });

  it('fails with 101 when no pool selects the node', async () => {
    const { outcome, writes } = await requestsOf(() =>
      call('ADD', 'lonely', 'l1', { pools: [pools.rack0.name] }),
    );
    expect(outcome.json).toMatchObject({ code: 101 });
    expect(String(outcome.json?.details)).toMatch(/does not match the node's labels/);
    expect(writes).toBe(0);
  });

  it('dual-stack: both families or neither', async () => {
    const v6only = { assign_ipv4: false, assign_ipv6: true, ipv6_pools: [pools.v6.name] };
    const v6 = [];
    for (const id of ['s1', 's2', 's3', 's4']) v6.push(addressOf(await call('ADD', 'n3', id, v6only)));
    expect(new Set(v6).size).toBe(4);
    expect(v6[0]).toMatch(/^fd00:0:[0-9a-f]+::\/126$/);

    const dual = { assign_ipv6: true, ipv4_pools: [pools.rack1.name], ipv6_pools: [pools.v6.name] };
    const exhausted = await call('ADD', 'n3', 'd1', dual);
    expect(exhausted.json).toMatchObject({ code: 100 });
    expect(await allocationsOf(handle('d1'))).toEqual([]);

    expect((await call('DEL', 'n3', 's2', v6only)).exitCode).toBe(0);
    // The released address cools down first...
    expect((await call('ADD', 'n3', 'd1', dual)).json).toMatchObject({ code: 100 });
    // ...unless the network's cool-down says otherwise.
    const both = await call('ADD', 'n3', 'd1', { ...dual, cooldown_seconds: 0 });
    expect(addressOf(both, 0)).toMatch(new RegExp(`^10\\.${octet}\\.`));
    expect(addressOf(both, 1)).toBe(v6[1]);
  });

  it('borrows from another node’s block when its pool is exhausted, and releases it on DEL', async () => {
    const tiny = { pools: [pools.tiny.name] };
    const own = addressOf(await call('ADD', 'n0', 'b1', tiny));
    const borrowed = await call('ADD', 'n1', 'b2', tiny);
    const address = addressOf(borrowed);
    expect(address.split('.').slice(0, 3)).toEqual(own.split('.').slice(0, 3));
    const [lender] = await allocationsOf(handle('b2'));
    expect(lender?.block.spec.node).toBe(nodeName('n0'));
    expect(addressOf(await call('ADD', 'n1', 'b2', tiny))).toBe(address);
    expect((await call('CHECK', 'n1', 'b2', tiny)).exitCode).toBe(0);
    expect((await call('DEL', 'n1', 'b2', tiny)).exitCode).toBe(0);
    expect(await allocationsOf(handle('b2'))).toEqual([]);
  });

  it('200 concurrent ADDs over 4 nodes give 200 distinct addresses inside each node’s own blocks; DEL empties them', async () => {
    const nodes = ['m0', 'm1', 'm2', 'm3'] as const;
    const ipam = { timeout_seconds: 240 };
    const jobs = Array.from({ length: 200 }, (_, i) => ({ node: nodes[i % 4] ?? 'm0', id: `p${i}` }));
    // Each node's agent runs before its pods start, as the DaemonSet's does.
    for (const node of nodes) await startNodeAgent(plugin, nodeName(node));
    const added = await Promise.all(jobs.map((job) => call('ADD', job.node, job.id, ipam)));
    const addresses = added.map((outcome) => addressOf(outcome));
    expect(new Set(addresses.map((a) => a.split('/')[0])).size).toBe(200);
    for (const node of nodes) {
      const blocks = await blocksOf(node);
      const mine = jobs.flatMap((job, i) => (job.node === node ? [addresses[i] ?? ''] : []));
      for (const address of mine) {
        const ip = parseAddress(address.split('/')[0] ?? '');
        const holder = blocks.find((b) => cidrContainsAddress(parseCidr(b.spec.cidr), ip));
        expect(holder?.spec.node, `${address} of ${node}`).toBe(nodeName(node));
        const pool = node === 'm0' || node === 'm1' ? pools.rack0 : pools.rack1;
        expect(holder?.spec.pool).toBe(pool.name);
      }
      expect(blocks.reduce((n, b) => n + b.spec.allocations.length, 0)).toBe(50);
    }
    const deleted = await Promise.all(jobs.map((job) => call('DEL', job.node, job.id, ipam)));
    for (const outcome of deleted) expect(outcome.exitCode, outcome.stdout).toBe(0);
    for (const node of nodes) {
      for (const block of await blocksOf(node)) expect(block.spec.allocations).toEqual([]);
    }
  }, 600_000);

  it('kill -9 of plugins mid-ADD loses no address and duplicates none', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `k${i}`);
    const ipam = { timeout_seconds: 120 };
    await startNodeAgent(plugin, nodeName('k0'));
    const runs = ids.map((id) =>
      startPlugin(plugin, {
        command: 'ADD',
        containerId: id,
        config: network({ nodename: nodeName('k0'), ...ipam }),
      }),
    );
    const killed = new Set<string>();
    runs.forEach((run, i) => {
      if (i % 2 === 1) return;
      // From 1 ms to 2 s, evenly on a log scale: some land mid-flight however fast or loaded the machine is.
      setTimeout(
        () => {
          if (run.child.exitCode === null && run.child.kill('SIGKILL')) killed.add(ids[i] ?? '');
        },
        2 ** (Math.random() * 11),
      );
    });
    const outcomes = await Promise.all(runs.map((run) => run.outcome));
    expect(killed.size).toBeGreaterThan(0);
    outcomes.forEach((outcome, i) => {
      if (!killed.has(ids[i] ?? '')) expect(outcome.exitCode, outcome.stdout).toBe(0);
    });

    // After the kills: every allocation belongs to one of our handles, at most one per handle, no ordinal twice.
    const before = new Map<string, string>();
    for (const block of await blocksOf('k0')) {
      const ordinals = block.spec.allocations.map((a) => a.ordinal);
      expect(new Set(ordinals).size).toBe(ordinals.length);
      for (const allocation of block.spec.allocations) {
        expect(ids.map((id) => handle(id))).toContain(allocation.handle);
        expect(before.has(allocation.handle)).toBe(false);
        before.set(allocation.handle, `${block.spec.cidr}#${allocation.ordinal}`);
      }
    }
    // Re-running ADD for every handle converges: one address each, the one already recorded if any.
    const rerun = await Promise.all(ids.map((id) => call('ADD', 'k0', id, ipam)));
    const addresses = rerun.map((outcome) => addressOf(outcome));
    expect(new Set(addresses).size).toBe(ids.length);
    const after = new Map<string, string>();
    for (const block of await blocksOf('k0')) {
      for (const allocation of block.spec.allocations) {
        after.set(allocation.handle, `${block.spec.cidr}#${allocation.ordinal}`);
      }
    }
    expect(after.size).toBe(ids.length);
    for (const [key, value] of before) expect(after.get(key)).toBe(value);
    const again = await Promise.all(ids.map((id) => call('ADD', 'k0', id, ipam)));
    expect(again.map((outcome) => addressOf(outcome))).toEqual(addresses);
  }, 300_000);
});
