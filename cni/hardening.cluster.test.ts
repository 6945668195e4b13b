/**
 * Issue 9, items 7 to 11, through the real bundled plugin on the real API server: the node lock cannot
 * be taken by an unprivileged process and is freed by kill -9, credentials never reach an error, GC
 * without its list releases nothing, handles do not collide, and bad input gets a clean error.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IPAMBlock, type IpamResources, ipamResources } from '../allocator/index.js';
import { labels } from '../api/index.js';
import { KubeClient, type Node, ResourceClient, coreResources, loadConnection } from '../kube/index.js';
import { removePoolAndBlocks } from '../test/cluster/cleanup.js';
import { clusterTestContext } from '../test/cluster/context.js';
import {
  type InstalledPlugin,
  type Invocation,
  type PluginOutcome,
  installPlugin,
  invokePlugin,
  removePlugin,
  startPlugin,
} from './testing.js';
import { createAllocatablePool } from '../test/cluster/pools.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const pool = { name: `${prefix}-pool`, cidr: `10.${randomInt(100, 250)}.${randomInt(0, 250)}.0/24` };
const nodeKeys = ['lock', 'kill', 'gc', 'handles', 'legacy', 'input'] as const;
type NodeKey = (typeof nodeKeys)[number];
const nodeName = (key: NodeKey) => `${prefix}-${key}`;
const networkName = `${prefix}-net`;
/** Where the plugin keeps the node lock by default (ipam.lock_dir). */
const lockDir = '/run/topology-ipam';
const secretToken = `tok3n-${randomInt(1e9, 2e9)}-never-print-me`;

let plugin: InstalledPlugin;
let client: KubeClient | undefined;
let resources: IpamResources;
const children: ChildProcess[] = [];

function network(ipam: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    cniVersion: '1.1.0',
    name: networkName,
    type: 'bridge',
    ipam: { type: 'topology-ipam', kubeconfig: cluster.kubeconfig, state_dir: plugin.stateDir, ...ipam },
    ...extra,
  };
}

const call = (
  command: Invocation['command'],
  node: NodeKey,
  containerId: string,
  options: { ipam?: Record<string, unknown>; extra?: Record<string, unknown>; ifname?: string } = {},
) =>
  invokePlugin(plugin, {
    command,
    containerId,
    ...(options.ifname === undefined ? {} : { ifname: options.ifname }),
    config: network({ nodename: nodeName(node), ...options.ipam }, options.extra),
  });

function addressOf(outcome: PluginOutcome): string {
  expect(outcome.exitCode, outcome.stdout + outcome.stderr).toBe(0);
  const ip = (outcome.json?.ips as { address: string }[] | undefined)?.[0];
  if (!ip) throw new Error(`no address in ${outcome.stdout}`);
  return ip.address;
}

async function blocksOf(node: NodeKey): Promise<IPAMBlock[]> {
  return (await resources.blocks.list({ labelSelector: `${labels.node}=${nodeName(node)}` })).items;
}

const handlesOn = async (node: NodeKey) =>
  (await blocksOf(node)).flatMap((block) => block.spec.allocations.map((a) => a.handle)).sort();

/** A clean refusal: the code expected, no internal error, no stack trace. */
function expectCleanError(outcome: PluginOutcome, code: number, field: RegExp): void {
  expect(outcome.exitCode, outcome.stdout + outcome.stderr).toBe(1);
  expect(outcome.json, outcome.stdout).toMatchObject({ code });
  expect(`${String(outcome.json?.msg)}: ${String(outcome.json?.details)}`).toMatch(field);
  expect(outcome.stdout).not.toMatch(/\n\s+at /);
}

/** Whether someone holds the node's lock file (as root, `flock -n` fails only then). */
async function lockHeld(node: NodeKey): Promise<boolean> {
  const file = path.join(lockDir, `${nodeName(node)}.lock`);
  if (!fs.existsSync(file)) return false;
  const probe = spawn('flock', ['-n', file, 'true'], { stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => probe.on('close', resolve));
  return code !== 0;
}

async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 60_000) {
  const end = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  plugin = await installPlugin();
  const kube = new KubeClient(loadConnection(cluster.kubeconfig));
  client = kube;
  resources = ipamResources(kube);
  const nodes = new ResourceClient<Node>(kube, coreResources.nodes);
  for (const key of nodeKeys) await nodes.create({ metadata: { name: nodeName(key) } });
  await createAllocatablePool(resources, {
    metadata: { name: pool.name },
    spec: { cidr: pool.cidr, blockSize: 28 },
  });
}, 120_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  if ((plugin as InstalledPlugin | undefined) !== undefined) removePlugin(plugin);
  const kube = client;
  if (kube === undefined) return;
  await removePoolAndBlocks(resources, pool.name);
  const nodes = new ResourceClient<Node>(kube, coreResources.nodes);
  for (const key of nodeKeys) await nodes.delete(nodeName(key)).catch(() => undefined);
  kube.close();
});

describe('the node lock (issue 9, item 7)', () => {
  it('an unprivileged local process cannot block ADD or DEL on the node', async () => {
    // As nobody: squat the abstract socket earlier versions locked with, and try to flock the lock file.
    const squatter = spawn(
      'setpriv',
      [
        '--reuid=nobody',
        '--regid=nogroup',
        '--clear-groups',
        process.execPath,
        '-e',
        `const net = require('net');
         const { spawnSync } = require('child_process');
         net.createServer(() => undefined).listen(${JSON.stringify(`\0topology-ipam/${nodeName('lock')}`)}, () => {
           const flock = spawnSync('flock', ['-n', ${JSON.stringify(path.join(lockDir, `${nodeName('lock')}.lock`))}, 'sleep', '600']);
           console.log('squatting', flock.status);
         });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(squatter);
    await new Promise<void>((resolve) =>
      squatter.stdout.once('data', () => {
        resolve();
      }),
    );
    const ipam = { timeout_seconds: 10 };
    addressOf(await call('ADD', 'lock', 'l1', { ipam }));
    expect((await call('DEL', 'lock', 'l1', { ipam })).exitCode).toBe(0);
    squatter.kill('SIGKILL');
  });

  it('a plugin killed with SIGKILL while holding the lock releases it to the next ADD', async () => {
    // An API server that accepts connections and never answers: the first ADD holds the lock, waiting.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const kubeconfig = path.join(plugin.root, 'silent.kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      JSON.stringify({
        clusters: [
          { name: 'c', cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } },
        ],
        contexts: [{ name: 'x', context: { cluster: 'c' } }],
        'current-context': 'x',
      }),
    );
    const stuck = startPlugin(plugin, {
      command: 'ADD',
      containerId: 'stuck',
      config: network({ nodename: nodeName('kill'), kubeconfig, timeout_seconds: 120 }),
    });
    children.push(stuck.child);
    await until('the stuck ADD to hold the node lock', () => lockHeld('kill'));
    const excluded = await call('ADD', 'kill', 'k1', { ipam: { timeout_seconds: 2 } });
    expectCleanError(excluded, 11, /node lock/);
    stuck.child.kill('SIGKILL');
    await stuck.outcome;
    expect(await lockHeld('kill')).toBe(false);
    addressOf(await call('ADD', 'kill', 'k1', { ipam: { timeout_seconds: 60 } }));
    silent.close();
  });
});

describe('credentials never reach an error (issue 9, item 8)', () => {
  const malformed = () => {
    const file = path.join(plugin.root, 'malformed.kubeconfig');
    const text = fs.readFileSync(cluster.kubeconfig, 'utf8');
    // A real kubeconfig with one more user whose token's quote is never closed.
    fs.writeFileSync(file, `${text}\n# broken below\nextra:\n  - token: "${secretToken}\n    name: [x\n`);
    return file;
  };

  it('the plugin refuses a malformed kubeconfig with code 7, naming the file and line, not the token', async () => {
    const kubeconfig = malformed();
    const outcome = await call('ADD', 'input', 'cred', { ipam: { kubeconfig } });
    expectCleanError(outcome, 7, /ipam\.kubeconfig.*not valid YAML: \w+ at line \d+, column \d+/);
    expect(outcome.stdout).toContain(kubeconfig);
    expect(outcome.stdout + outcome.stderr).not.toContain(secretToken);
  });

  it('the operator fails to start on it with one line naming the file and line, not the token', async () => {
    const kubeconfig = malformed();
    const operator = spawn(process.execPath, ['--import', 'tsx', 'operator/main.ts'], {
      env: { ...process.env, KUBECONFIG: kubeconfig, HEALTH_PORT: '0', WEBHOOK_ENABLED: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(operator);
    let output = '';
    operator.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    operator.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exitCode = await new Promise<number | null>((resolve) => operator.on('close', resolve));
    expect(exitCode).toBe(1);
    expect(output).toMatch(/operator failed/);
    expect(output).toContain(kubeconfig);
    expect(output).toMatch(/not valid YAML: \w+ at line \d+, column \d+/);
    expect(output).not.toContain(secretToken);
  });
});

describe('GC (issue 9, item 9)', () => {
  it.each<[string, Record<string, unknown>]>([
    ['missing', {}],
    ['misspelt', { 'cni.dev/valid-attachment': [{ containerID: 'g1', ifname: 'eth0' }] }],
  ])('GC with cni.dev/valid-attachments %s is refused with code 7 and releases nothing', async (_, extra) => {
    for (const id of ['g1', 'g2']) addressOf(await call('ADD', 'gc', id));
    const before = await handlesOn('gc');
    const gc = await invokePlugin(plugin, {
      command: 'GC',
      config: network({ nodename: nodeName('gc') }, extra),
    });
    expectCleanError(gc, 7, /cni\.dev\/valid-attachments/);
    expect(await handlesOn('gc')).toEqual(before);
    expect(before).toHaveLength(2);
  });
});

describe('handles (issue 9, item 10)', () => {
  it('podA.eth0 + eth1 and podA + eth0.eth1 get two addresses, and the DEL of one keeps the other', async () => {
    const first = addressOf(await call('ADD', 'handles', 'podA.eth0', { ifname: 'eth1' }));
    const second = addressOf(await call('ADD', 'handles', 'podA', { ifname: 'eth0.eth1' }));
    expect(second).not.toBe(first);
    expect(await handlesOn('handles')).toHaveLength(2);
    expect((await call('DEL', 'handles', 'podA', { ifname: 'eth0.eth1' })).exitCode).toBe(0);
    expect((await call('CHECK', 'handles', 'podA.eth0', { ifname: 'eth1' })).exitCode).toBe(0);
    expect(addressOf(await call('ADD', 'handles', 'podA.eth0', { ifname: 'eth1' }))).toBe(first);
    expect(await handlesOn('handles')).toHaveLength(1);
  });

  it('an address recorded under the unescaped handle of an earlier version is checked and released by DEL', async () => {
    addressOf(await call('ADD', 'legacy', 'old.ctr'));
    // Rewrite the record as an earlier version wrote it.
    const [block] = await blocksOf('legacy');
    if (!block) throw new Error('no block');
    const legacy = `${networkName}.old.ctr.eth0`;
    await resources.blocks.replace({
      ...block,
      spec: { ...block.spec, allocations: block.spec.allocations.map((a) => ({ ...a, handle: legacy })) },
    });
    expect((await call('CHECK', 'legacy', 'old.ctr')).exitCode).toBe(0);
    const gc = await invokePlugin(plugin, {
      command: 'GC',
      config: network({ nodename: nodeName('legacy') }, { 'cni.dev/valid-attachments': [] }),
    });
    expect(gc.exitCode, gc.stdout).toBe(0);
    // GC cannot tell which network an unescaped handle with a '.' in a component belongs to: it stays.
    expect(await handlesOn('legacy')).toEqual([legacy]);
    expect((await call('DEL', 'legacy', 'old.ctr')).exitCode).toBe(0);
    expect(await handlesOn('legacy')).toEqual([]);
  });
});

describe('bad input gets a clean error (issue 9, item 11)', () => {
  const stateFile = () => {
    const file = path.join(plugin.root, 'not-a-dir');
    fs.writeFileSync(file, '');
    return file;
  };
  it.each<[string, () => Invocation, number, RegExp]>([
    [
      'a 10 KB container ID',
      () => ({
        command: 'ADD',
        containerId: 'c'.repeat(10_240),
        config: network({ nodename: nodeName('input') }),
      }),
      4,
      /CNI_CONTAINERID.*at most 256/,
    ],
    [
      'a 10 KB network name',
      () => ({
        command: 'ADD',
        containerId: 'i1',
        config: { ...network({ nodename: nodeName('input') }), name: 'n'.repeat(10_240) },
      }),
      7,
      /name.*at most 253/,
    ],
    [
      'a state_dir that is a file',
      () => ({
        command: 'ADD',
        containerId: 'i2',
        config: network({ nodename: nodeName('input'), state_dir: stateFile() }),
      }),
      7,
      /ipam\.state_dir/,
    ],
    [
      'kubeconfig /dev/zero',
      () => ({
        command: 'ADD',
        containerId: 'i3',
        config: network({ nodename: nodeName('input'), kubeconfig: '/dev/zero' }),
      }),
      7,
      /ipam\.kubeconfig.*\/dev\/zero is not a regular file/,
    ],
    [
      'CHECK with a malformed prevResult',
      () => ({
        command: 'CHECK',
        containerId: 'i4',
        config: network({ nodename: nodeName('input') }, { prevResult: { ips: [{ address: 'garbage' }] } }),
      }),
      7,
      /prevResult\.ips\[0\]\.address/,
    ],
    [
      'an ipam.type that is not ours',
      () => ({
        command: 'ADD',
        containerId: 'i5',
        config: network({ nodename: nodeName('input'), type: 'host-local' }),
      }),
      7,
      /ipam\.type/,
    ],
  ])('%s is refused with a clean error naming the field', async (_, invocation, code, field) => {
    if (invocation().command === 'CHECK') addressOf(await call('ADD', 'input', 'i4'));
    const run = startPlugin(plugin, invocation());
    children.push(run.child);
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 60_000);
    const outcome = await run.outcome;
    clearTimeout(timer);
    expect(outcome.signal, 'the plugin hung').toBeNull();
    expectCleanError(outcome, code, field);
  });
});
