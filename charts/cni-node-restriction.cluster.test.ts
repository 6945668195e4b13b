/**
 * Each node's CNI credential writes only its own node's blocks and affinities (issue #9, item 6), on a
 * real API server with real tokens of the chart's CNI ServiceAccount: one bound to a pod made from the
 * chart's DaemonSet template on node A, minted as the kubelet mints the agent's projected token, one bound
 * to Node B, and one bound to nothing. The real plugin (the forwarder, asking its node's agent, which
 * holds the node's token as the DaemonSet's agent does) serves node A with A's token and node B with B's
 * for the paths a node needs (claim, assign, release, borrow); every write a node must not make is
 * refused by the chart's ValidatingAdmissionPolicy, named in the error.
 */
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IpamResources, ipamResources } from '../allocator/index.js';
import { type BlockAffinity, type IPAMBlock, labels } from '../api/index.js';
import {
  type InstalledPlugin,
  installPlugin,
  removePlugin,
  startNodeAgent,
  startPlugin,
  stopNodeAgent,
} from '../cni/testing.js';
import { cidrContainsAddress, cidrToResourceName, parseAddress, parseCidr } from '../ipam/index.js';
import { ApiError, type Connection, KubeClient, loadConnection } from '../kube/index.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { adminClients } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import {
  type Manifest,
  agentTokenArguments,
  chartDir,
  cniPodManifest,
  kubectlRunner,
  runAsync,
  writeTokenKubeconfig,
} from './testing.js';
import { createAllocatablePool } from '../local-cluster/pools.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix: p } = cluster;
const namespace = p;
const release = p;
const cniAccount = `${p}-cni`;
const operatorAccount = `${p}-operator`;
const blocksPolicy = `${cniAccount}-ipamblocks`;
const affinitiesPolicy = `${cniAccount}-blockaffinities`;
const nodeA = `${p}-a`;
const nodeB = `${p}-b`;
const agentPodA = 'agent-a';
const regionLabel = 'ipam.topology-ipam.dev/region';
const octet = randomInt(100, 250);
const pools = {
  /** Selects node A only: A's plugin claims its own block here. */
  own: {
    name: `${p}-own`,
    cidr: `10.${octet}.0.0/24`,
    blockSize: 26,
    nodeSelector: `${p}.local-cluster/node == "a"`,
  },
  /** One block for every node: B's plugin claims it, A's plugin has to borrow. */
  shared: { name: `${p}-shared`, cidr: `10.${octet}.8.0/28`, blockSize: 28, nodeSelector: 'all()' },
};
/** Blocks the tests write directly, outside both pools' ranges. */
const spare = (third: number) => `10.${octet}.${third}.0/28`;
const spareName = (third: number) => cidrToResourceName(parseCidr(spare(third)));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cni-node-restriction-'));
const kubectlBin = path.join(cluster.binDir, 'kubectl');
const kubectl = kubectlRunner(kubectlBin, cluster.kubeconfig);

interface Identity {
  readonly token: string;
  readonly kubeconfig: string;
  readonly resources: IpamResources;
}
let admin: IpamResources;
let plugin: InstalledPlugin;
const identities = new Map<string, Identity>();
const identity = (name: string): Identity => {
  const found = identities.get(name);
  if (!found) throw new Error(`no identity ${name}`);
  return found;
};
const asA = () => identity('A').resources;
const asB = () => identity('B').resources;
const asUnbound = () => identity('unbound').resources;
const asOperator = () => identity('operator').resources;

/** A token from the TokenRequest API, as `kubectl <args>` asks for it. */
async function mintIdentity(name: string, args: readonly string[]): Promise<void> {
  const token = (await kubectl(args)).trim();
  const kubeconfig = writeTokenKubeconfig(cluster.kubeconfig, token, path.join(tmp, `${name}.kubeconfig`));
  const connection: Connection = { ...loadConnection(cluster.kubeconfig), token: () => token };
  identities.set(name, { token, kubeconfig, resources: ipamResources(new KubeClient(connection)) });
}

const blockLabels = (node: string, pool: string) => ({
  [labels.node]: node,
  [labels.pool]: pool,
  [regionLabel]: `${p}-region`,
});

function newBlock(third: number, holder: string, node: string): IPAMBlock {
  return {
    metadata: { name: spareName(third), labels: blockLabels(holder, pools.shared.name) },
    spec: { cidr: spare(third), pool: pools.shared.name, node, allocations: [], cooling: [] },
  };
}

function newAffinity(third: number, node: string): BlockAffinity {
  return {
    metadata: { name: spareName(third), labels: { [labels.node]: node, [labels.pool]: pools.shared.name } },
    spec: { node, cidr: spare(third), pool: pools.shared.name, state: 'pending' },
  };
}

const allocation = (ordinal: number, node: string, handle: string) => ({
  ordinal,
  handle,
  node,
  assignedAt: new Date().toISOString(),
});

/** The API server's refusal of `write`: a 403 whose message is returned for the test to read. */
async function refusal(write: () => Promise<unknown>): Promise<string> {
  try {
    await write();
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return error.message;
    throw error;
  }
  throw new Error('the write was allowed');
}

const deniedBy = (policy: string) => `ValidatingAdmissionPolicy '${policy}' with binding '${policy}' denied`;

function network(node: string, pool: string): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: `${p}-net`,
    type: 'bridge',
    ipam: { type: 'topology-ipam', nodename: node, pools: [pool] },
  };
}

/**
 * The node's agent with `who`'s token, as the DaemonSet's agent holds its pod's projected token: only
 * the agent talks to the API server, so whose token it holds is whose writes the policy sees.
 */
async function startAgentAs(node: string, who: string): Promise<void> {
  await startNodeAgent(plugin, node, { kubeconfig: identity(who).kubeconfig });
}

/**
 * Runs the real plugin on node `node` as a runtime would; its agent must have been started (with the
 * token under test), never started here with the admin's credentials.
 */
const invoke = (command: 'ADD' | 'DEL', node: string, containerId: string, pool: string) =>
  startPlugin(plugin, { command, containerId, config: network(node, pool) }).outcome;

/** Runs the real plugin as node `who` ('A' or 'B'), whose agent holds that node's token. */
async function runPlugin(
  command: 'ADD' | 'DEL',
  who: 'A' | 'B',
  containerId: string,
  pool: string,
): Promise<string | undefined> {
  const outcome = await invoke(command, who === 'A' ? nodeA : nodeB, containerId, pool);
  expect(outcome.exitCode, outcome.stdout + outcome.stderr).toBe(0);
  const ips = outcome.json?.ips as { address: string }[] | undefined;
  return ips?.[0]?.address.replace(/\/\d+$/, '');
}

async function blocksOfPool(pool: string): Promise<IPAMBlock[]> {
  return (await admin.blocks.list({ labelSelector: `${labels.pool}=${pool}` })).items;
}

/** The shared pool's only block: node B's, holding B's pod address. */
const sharedBlock = (resources: IpamResources = admin): Promise<IPAMBlock> =>
  resources.blocks.get(cidrToResourceName(parseCidr(pools.shared.cidr)));

/** Marks a pool allocatable, as the operator would (no operator runs here). */
beforeAll(async () => {
  admin = adminClients(cluster.kubeconfig).resources;
  plugin = await installPlugin({ kubeconfig: cluster.kubeconfig });
  await kubectl(['create', 'namespace', namespace]);
  const installed = await runAsync(
    path.join(cluster.binDir, 'helm'),
    ['install', release, chartDir, '--namespace', namespace, '--values', '-'],
    { kubeconfig: cluster.kubeconfig, input: JSON.stringify({ fullnameOverride: p }) },
  );
  if (!installed.ok) throw new Error(`helm install failed: ${installed.stderr}`);
  for (const [node, label] of [
    [nodeA, 'a'],
    [nodeB, 'b'],
  ] as const) {
    await kubectl(
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: node, labels: { [`${p}.local-cluster/node`]: label } },
      }),
    );
  }
  const daemonSet = JSON.parse(
    await kubectl(['get', 'daemonset', cniAccount, '-n', namespace, '-o', 'json']),
  ) as Manifest;
  await kubectl(['create', '-f', '-'], cniPodManifest(daemonSet, { name: agentPodA, node: nodeA }));
  const minted = (account: string, bound: readonly string[]) => [
    'create',
    'token',
    account,
    '-n',
    namespace,
    '--duration=1h',
    ...bound,
  ];
  await mintIdentity('A', agentTokenArguments(daemonSet, agentPodA));
  await mintIdentity('B', minted(cniAccount, ['--bound-object-kind=Node', `--bound-object-name=${nodeB}`]));
  await mintIdentity('unbound', minted(cniAccount, []));
  await mintIdentity('operator', minted(operatorAccount, []));
  for (const pool of Object.values(pools)) {
    await createAllocatablePool(admin, {
      metadata: { name: pool.name },
      spec: { cidr: pool.cidr, blockSize: pool.blockSize, nodeSelector: pool.nodeSelector },
    });
  }
  await startAgentAs(nodeA, 'A');
  await startAgentAs(nodeB, 'B');
}, 180_000);

afterAll(async () => {
  await removePlugin(plugin);
  for (const pool of Object.values(pools)) await removePoolAndBlocks(admin, pool.name);
  await runAsync(path.join(cluster.binDir, 'helm'), ['uninstall', release, '-n', namespace], {
    kubeconfig: cluster.kubeconfig,
  });
  await runAsync(kubectlBin, ['delete', 'node', nodeA, nodeB, '--ignore-not-found', '--wait=false'], {
    kubeconfig: cluster.kubeconfig,
  });
  await runAsync(kubectlBin, ['delete', 'namespace', namespace, '--wait=false'], {
    kubeconfig: cluster.kubeconfig,
  });
  fs.rmSync(tmp, { recursive: true, force: true });
}, 120_000);

describe('the tokens', () => {
  it.each([
    ["A (bound to the chart's agent pod on node A) as node A", 'A', nodeA],
    ['B (bound to Node B) as node B', 'B', nodeB],
    ['unbound as no node', 'unbound', undefined],
  ])('the API server reads token %s', async (_name, who, node) => {
    const review = JSON.parse(
      await kubectl(['auth', 'whoami', '-o', 'json', `--kubeconfig=${identity(who).kubeconfig}`]),
    ) as { status: { userInfo: { username: string; extra?: Record<string, string[]> } } };
    expect(review.status.userInfo.username).toBe(`system:serviceaccount:${namespace}:${cniAccount}`);
    expect(review.status.userInfo.extra?.['authentication.kubernetes.io/node-name']).toEqual(
      node === undefined ? undefined : [node],
    );
  });
});

describe("what a node's plugin needs, allowed", () => {
  it("node A's plugin, with A's pod-bound token, claims a block for A, assigns an address from it and releases it", async () => {
    const address = await runPlugin('ADD', 'A', 'a1', pools.own.name);
    expect(address).toBeDefined();
    expect(cidrContainsAddress(parseCidr(pools.own.cidr), parseAddress(address ?? ''))).toBe(true);
    const [block] = await blocksOfPool(pools.own.name);
    expect(block?.metadata.labels?.[labels.node]).toBe(nodeA);
    expect(block?.spec.node).toBe(nodeA);
    expect(block?.spec.allocations.map((a) => [a.node, a.handle])).toEqual([[nodeA, `${p}-net.a1.eth0`]]);
    await runPlugin('DEL', 'A', 'a1', pools.own.name);
    expect((await blocksOfPool(pools.own.name))[0]?.spec.allocations).toEqual([]);
  });

  it("node B's plugin claims the shared pool's only block; node A's plugin borrows an address from it and releases it", async () => {
    await runPlugin('ADD', 'B', 'b1', pools.shared.name);
    const lent = await runPlugin('ADD', 'A', 'a2', pools.shared.name);
    const block = await sharedBlock();
    expect(block.metadata.labels?.[labels.node]).toBe(nodeB);
    expect(block.spec.allocations.map((a) => [a.node, a.handle])).toEqual([
      [nodeB, `${p}-net.b1.eth0`],
      [nodeA, `${p}-net.a2.eth0`],
    ]);
    expect(cidrContainsAddress(parseCidr(block.spec.cidr), parseAddress(lent ?? ''))).toBe(true);
    await runPlugin('DEL', 'A', 'a2', pools.shared.name);
    const after = await sharedBlock();
    expect(after.spec.allocations.map((a) => a.node)).toEqual([nodeB]);
    expect(after.spec.cooling.map((c) => c.ordinal)).toEqual(
      block.spec.allocations.filter((a) => a.node === nodeA).map((a) => a.ordinal),
    );
  });

  it("A's token walks the claim protocol for A: pending affinity and block (with a region label), both confirmed; a losing pending claim withdrawn", async () => {
    const affinity = await asA().affinities.create(newAffinity(20, nodeA));
    const pending = await asA().blocks.create(newBlock(20, nodeA, ''));
    const confirmed = await asA().blocks.replace({ ...pending, spec: { ...pending.spec, node: nodeA } });
    expect(confirmed.spec.node).toBe(nodeA);
    await asA().affinities.replace({ ...affinity, spec: { ...affinity.spec, state: 'confirmed' } });
    const lost = await asA().blocks.create(newBlock(21, nodeA, ''));
    await asA().blocks.delete(lost.metadata.name);
    const lostAffinity = await asA().affinities.create(newAffinity(21, nodeA));
    await asA().affinities.delete(lostAffinity.metadata.name);
    expect((await admin.blocks.get(spareName(20))).spec.node).toBe(nodeA);
  });

  it("the operator's ServiceAccount is not concerned: its token, bound to no node, still writes node B's block", async () => {
    const block = await sharedBlock(asOperator());
    const written = await asOperator().blocks.replace({
      ...block,
      metadata: { ...block.metadata, annotations: { [`${p}.test/touched`]: 'operator' } },
    });
    expect(written.metadata.annotations?.[`${p}.test/touched`]).toBe('operator');
  });
});

describe("what a node's plugin must not do, refused by the policy", () => {
  type Case = readonly [name: string, policy: string, fragment: string, write: () => Promise<unknown>];
  const cases: readonly Case[] = [
    [
      "A's token empties node B's allocations with one PUT",
      blocksPolicy,
      `node ${nodeA} may not add, change or release allocations of other nodes`,
      async () => {
        const block = await sharedBlock(asA());
        return asA().blocks.replace({ ...block, spec: { ...block.spec, allocations: [] } });
      },
    ],
    [
      "A's token deletes node B's block",
      blocksPolicy,
      `node ${nodeA} may delete only its own empty blocks`,
      async () => asA().blocks.delete((await sharedBlock(asA())).metadata.name),
    ],
    [
      "A's token creates a block for node B",
      blocksPolicy,
      `node ${nodeA} may create only its own blocks`,
      () => asA().blocks.create(newBlock(30, nodeB, nodeB)),
    ],
    [
      "A's token creates a block labelled for A but affine to node B",
      blocksPolicy,
      `node ${nodeA} may create only its own blocks`,
      () => asA().blocks.create(newBlock(31, nodeA, nodeB)),
    ],
    [
      "A's token hands its own block to node B",
      blocksPolicy,
      `node ${nodeA} may not hand its block`,
      async () => {
        const block = await asA().blocks.get(spareName(20));
        return asA().blocks.replace({
          ...block,
          metadata: { ...block.metadata, labels: blockLabels(nodeB, pools.shared.name) },
          spec: { ...block.spec, node: nodeB },
        });
      },
    ],
    [
      "A's token deletes its own block while it holds an address",
      blocksPolicy,
      `node ${nodeA} may delete only its own empty blocks`,
      async () => {
        const block = await asA().blocks.get(spareName(20));
        const held = await asA().blocks.replace({
          ...block,
          spec: { ...block.spec, allocations: [allocation(1, nodeA, `${p}-held`)] },
        });
        return asA().blocks.delete(held.metadata.name);
      },
    ],
    [
      "A's token records an allocation in node B's name in B's block",
      blocksPolicy,
      `node ${nodeA} may not add, change or release allocations of other nodes`,
      async () => {
        const block = await sharedBlock(asA());
        return asA().blocks.replace({
          ...block,
          spec: {
            ...block.spec,
            allocations: [...block.spec.allocations, allocation(9, nodeB, `${p}-fake`)],
          },
        });
      },
    ],
    [
      "A's token relabels node B's block",
      blocksPolicy,
      'only by adding or releasing its own allocations, not its spec or metadata',
      async () => {
        const block = await sharedBlock(asA());
        return asA().blocks.replace({
          ...block,
          metadata: { ...block.metadata, labels: { ...block.metadata.labels, [regionLabel]: 'elsewhere' } },
        });
      },
    ],
    [
      "A's token borrows from node B's pending block",
      blocksPolicy,
      'only if the block is confirmed',
      async () => {
        const pending = await admin.blocks.create(newBlock(40, nodeB, ''));
        return asA().blocks.replace({
          ...pending,
          spec: { ...pending.spec, allocations: [allocation(1, nodeA, `${p}-early`)] },
        });
      },
    ],
    [
      "B's token, bound to Node B, rewrites node A's block",
      blocksPolicy,
      `node ${nodeB} may not add, change or release allocations of other nodes`,
      async () => {
        const block = await asB().blocks.get(spareName(20));
        return asB().blocks.replace({ ...block, spec: { ...block.spec, allocations: [] } });
      },
    ],
    [
      "A's token changes node B's affinity",
      affinitiesPolicy,
      `node ${nodeA} may create, change or delete only its own BlockAffinities`,
      async () => {
        const affinity = await asA().affinities.get((await sharedBlock()).metadata.name);
        return asA().affinities.replace({
          ...affinity,
          spec: { ...affinity.spec, state: 'pendingDeletion' },
        });
      },
    ],
    [
      "A's token deletes node B's affinity",
      affinitiesPolicy,
      `node ${nodeA} may create, change or delete only its own BlockAffinities`,
      async () => asA().affinities.delete((await sharedBlock()).metadata.name),
    ],
    [
      "A's token creates an affinity for node B",
      affinitiesPolicy,
      `node ${nodeA} may create, change or delete only its own BlockAffinities`,
      () => asA().affinities.create(newAffinity(32, nodeB)),
    ],
    [
      'a token bound to no node creates a block',
      blocksPolicy,
      'this token carries no authentication.kubernetes.io/node-name',
      () => asUnbound().blocks.create(newBlock(33, nodeA, nodeA)),
    ],
    [
      "a token bound to no node rewrites node B's block",
      blocksPolicy,
      'this token carries no authentication.kubernetes.io/node-name',
      async () => {
        const block = await sharedBlock(asUnbound());
        return asUnbound().blocks.replace({ ...block, spec: { ...block.spec, allocations: [] } });
      },
    ],
    [
      'a token bound to no node creates an affinity',
      affinitiesPolicy,
      'this token carries no authentication.kubernetes.io/node-name',
      () => asUnbound().affinities.create(newAffinity(34, nodeA)),
    ],
  ];

  it.each(cases)('%s: refused by %s', async (_name, policy, fragment, write) => {
    const message = await refusal(write);
    expect(message).toContain(deniedBy(policy));
    expect(message).toContain(fragment);
  });

  it("A's token cannot take an ordinal node B holds in B's block: the CRD refuses a second record of an ordinal first", async () => {
    const block = await sharedBlock(asA());
    const taken = block.spec.allocations[0]?.ordinal ?? 1;
    const write = asA().blocks.replace({
      ...block,
      spec: { ...block.spec, allocations: [...block.spec.allocations, allocation(taken, nodeA, `${p}-dup`)] },
    });
    const refused = await write.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused instanceof ApiError && refused.status).toBe(422);
    expect(String(refused)).toMatch(/Duplicate value/);
  });

  it('the real plugin on node A, its agent holding a token bound to no node, fails ADD with code 103, naming the policy', async () => {
    await stopNodeAgent(plugin, nodeA);
    await startAgentAs(nodeA, 'unbound');
    const outcome = await invoke('ADD', nodeA, 'u1', pools.own.name);
    expect(outcome.exitCode).toBe(1);
    const error = outcome.json as { code: number; details: string };
    expect(error.code).toBe(103);
    expect(error.details).toContain(deniedBy(blocksPolicy));
    expect(error.details).toContain('this token carries no authentication.kubernetes.io/node-name');
  });

  it("leaves node B's block as it was: B's address still recorded, nothing of A's", async () => {
    const block = await sharedBlock();
    expect(block.metadata.labels?.[labels.node]).toBe(nodeB);
    expect(block.spec.node).toBe(nodeB);
    expect(block.spec.allocations.map((a) => [a.node, a.handle])).toEqual([[nodeB, `${p}-net.b1.eth0`]]);
  });
});
