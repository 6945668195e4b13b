/**
 * Issue 9, items 7 to 11, through the real plugin (the forwarder) and node agents on the real API
 * server: an unprivileged process can neither use nor block the node agent, a node agent killed with
 * kill -9 loses and duplicates nothing, credentials never reach an error, GC without its list releases
 * nothing, handles do not collide, and bad input gets a clean error.
 *
 * Before the node agent, item 7 was about the node lock (a file lock an unprivileged process could
 * squat, freed by kill -9 of its holder); its equivalents now are the agent's socket and the agent's
 * own death. Item 8's malformed kubeconfig is the agent's setting now (a conflist's is ignored).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpamResources } from '../allocator/index.js';
import { type IPAMBlock, labels } from '../api/index.js';
import { removePoolAndBlocks } from '../local-cluster/cleanup.js';
import { type AdminClients, adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import {
  type InstalledPlugin,
  type Invocation,
  type PluginOutcome,
  agentSocket,
  installPlugin,
  invokePlugin,
  removePlugin,
  startAgentProcess,
  startNodeAgent,
  startPlugin,
} from './testing.js';
import { type ComponentProcess, startComponentProcess } from '../local-cluster/operator-process.js';
import { createAllocatablePool } from '../local-cluster/pools.js';
import { assignedIp } from './plan.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const octet = randomInt(100, 250);
const pool = { name: `${prefix}-pool`, cidr: `10.${octet}.${randomInt(0, 250)}.0/24` };
const killPool = { name: `${prefix}-kill`, cidr: `10.${octet + 2}.0.0/24` };
/** The nodes a pool of their own selects, by this label. */
const poolLabel = 'topology-ipam.test/pool';
const nodeKeys = ['socket', 'kill', 'absent', 'gc', 'handles', 'legacy', 'input'] as const;
type NodeKey = (typeof nodeKeys)[number];
const nodeName = (key: NodeKey) => `${prefix}-${key}`;
const ownPool: Partial<Record<NodeKey, string>> = { kill: killPool.name };
const networkName = `${prefix}-net`;
const handle = (containerId: string) => `${networkName}.${containerId}.eth0`;
const secretToken = `tok3n-${randomInt(1e9, 2e9)}-never-print-me`;

let plugin: InstalledPlugin;
let admin: AdminClients | undefined;
let resources: IpamResources;
const children: ChildProcess[] = [];
const agentProcesses: ComponentProcess[] = [];

function network(ipam: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    cniVersion: '1.1.0',
    name: networkName,
    type: 'bridge',
    ipam: { type: 'topology-ipam', ...ipam },
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

/** Every address recorded in the node's blocks, by handle; no handle twice. */
async function recordedOn(node: NodeKey): Promise<Map<string, string>> {
  const recorded = new Map<string, string>();
  for (const block of await blocksOf(node)) {
    for (const allocation of block.spec.allocations) {
      expect(recorded.has(allocation.handle), `${allocation.handle} recorded twice`).toBe(false);
      recorded.set(allocation.handle, assignedIp(block, allocation.ordinal).address);
    }
  }
  return recorded;
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

/** The node's agent as a process of its own (to kill it), stopped after the file. */
async function agentProcess(node: NodeKey, settings: Record<string, string> = {}) {
  const agent = await startAgentProcess(plugin, nodeName(node), settings);
  agentProcesses.push(agent);
  return agent;
}

beforeAll(async () => {
  plugin = await installPlugin({ kubeconfig: cluster.kubeconfig });
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  for (const key of nodeKeys) {
    const own = ownPool[key];
    await createNodes(admin.nodes, [nodeName(key)], own ? { [poolLabel]: own } : {});
  }
  await createAllocatablePool(resources, {
    metadata: { name: pool.name },
    spec: { cidr: pool.cidr, blockSize: 28 },
  });
  await createAllocatablePool(resources, {
    metadata: { name: killPool.name },
    spec: { cidr: killPool.cidr, blockSize: 28, nodeSelector: `${poolLabel} == "${killPool.name}"` },
  });
}, 120_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const agent of agentProcesses) agent.process.kill('SIGKILL');
  if ((plugin as InstalledPlugin | undefined) !== undefined) await removePlugin(plugin);
  if (admin === undefined) return;
  await removePoolAndBlocks(resources, pool.name);
  await removePoolAndBlocks(resources, killPool.name);
  await removeNodes(admin.nodes, nodeKeys.map(nodeName));
  admin.client.close();
});

/** Runs one invocation through the forwarder to whatever agent serves the node (none started here). */
const send = (
  command: Invocation['command'],
  node: NodeKey,
  containerId: string,
  ipam: Record<string, unknown> = {},
) =>
  startPlugin(plugin, {
    command,
    containerId,
    config: network({ nodename: nodeName(node), ...ipam }),
  }).outcome;

describe('the node agent’s socket (issue 9, item 7; was: the node lock)', () => {
  it('an unprivileged local process can neither ask the agent for an address nor block ADD or DEL on the node', async () => {
    await startNodeAgent(plugin, nodeName('socket'));
    const socket = agentSocket(plugin, nodeName('socket'));
    // The test's temporary folder is root's alone: open it, so that what keeps nobody out is the agent's.
    fs.chmodSync(plugin.root, 0o711);
    let answer = '';
    try {
      const stranger = spawn(
        'setpriv',
        [
          '--reuid=nobody',
          '--regid=nogroup',
          '--clear-groups',
          process.execPath,
          '-e',
          `require('net')
             .connect(${JSON.stringify(socket)})
             .on('connect', () => { console.log('connected'); process.exit(0); })
             .on('error', (error) => { console.log(error.code); process.exit(0); });`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      children.push(stranger);
      stranger.stdout.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
      await new Promise((resolve) => stranger.on('close', resolve));
    } finally {
      fs.chmodSync(plugin.root, 0o700);
    }
    expect(answer.trim()).toBe('EACCES');
    // A local client that connects and never sends its request holds nobody up.
    const idle = net.connect(socket);
    await new Promise((resolve, reject) => idle.once('connect', resolve).once('error', reject));
    try {
      const ipam = { timeout_seconds: 10 };
      addressOf(await call('ADD', 'socket', 's1', { ipam }));
      expect((await call('DEL', 'socket', 's1', { ipam })).exitCode).toBe(0);
    } finally {
      idle.destroy();
    }
  });

  it('with no agent on the node, the plugin fails with code 11 naming the socket', async () => {
    const outcome = await send('ADD', 'absent', 'a1');
    expectCleanError(outcome, 11, /agent unreachable/);
    expect(String(outcome.json?.details)).toContain(agentSocket(plugin, nodeName('absent')));
  });
});

describe('kill -9 of a node agent mid-flight (issue 9, item 7; was: kill -9 of the node lock’s holder)', () => {
  it('forwarders in flight get code 11; a new agent returns the addresses recorded, none twice; DEL empties every block', async () => {
    // Blocks of 16 addresses: 60 ADDs claim blocks one after the other, so many are in flight at the kill.
    const ipam = { pools: [killPool.name], timeout_seconds: 60 };
    const ids = Array.from({ length: 60 }, (_, i) => `k${i}`);
    const first = await agentProcess('kill');
    // Killed the moment a first forwarder has its answer (the others still waiting for theirs).
    const outcomes = await Promise.all(
      ids.map((id) =>
        send('ADD', 'kill', id, ipam).then((outcome) => {
          if (outcome.exitCode === 0) first.process.kill('SIGKILL');
          return outcome;
        }),
      ),
    );
    expect(first.process.killed).toBe(true);
    expect(await first.exited).toBeNull();
    const answered = new Map<string, string>();
    outcomes.forEach((outcome, i) => {
      if (outcome.exitCode === 0) answered.set(handle(ids[i] ?? ''), addressOf(outcome));
      else expectCleanError(outcome, 11, /agent unreachable/);
    });
    expect(answered.size).toBeGreaterThan(0);
    expect(answered.size).toBeLessThan(ids.length);
    // With the agent gone (its socket file left behind), a runtime is told to try again.
    const meanwhile = await send('ADD', 'kill', 'meanwhile', ipam);
    expectCleanError(meanwhile, 11, /agent unreachable/);
    expect(String(meanwhile.json?.details)).toContain(agentSocket(plugin, nodeName('kill')));

    // What the API server holds: at most one address per handle, none twice, every answered one recorded.
    const recorded = await recordedOn('kill');
    expect(new Set(recorded.values()).size).toBe(recorded.size);
    for (const id of recorded.keys()) expect(ids.map(handle)).toContain(id);
    for (const [id, address] of answered) expect(recorded.get(id)).toBe(address);

    // A new agent starts from the API server's state: a re-ADD returns the address recorded, if any.
    await agentProcess('kill');
    const again = await Promise.all(ids.map((id) => send('ADD', 'kill', id, ipam)));
    const addresses = again.map((outcome) => addressOf(outcome));
    expect(new Set(addresses).size).toBe(ids.length);
    for (const [id, address] of recorded) expect(addresses[ids.map(handle).indexOf(id)]).toBe(address);
    expect(await recordedOn('kill')).toEqual(new Map(ids.map((id, i) => [handle(id), addresses[i]])));

    const deleted = await Promise.all(ids.map((id) => send('DEL', 'kill', id, ipam)));
    for (const outcome of deleted) expect(outcome.exitCode, outcome.stdout).toBe(0);
    const blocks = await blocksOf('kill');
    expect(blocks.length).toBeGreaterThan(1);
    for (const block of blocks) expect(block.spec.allocations).toEqual([]);
  }, 300_000);
});

/**
 * Runs the node agent (agent/main.ts, as the DaemonSet does) with `kubeconfig`, expecting it to fail to
 * start: exit code 1 and one JSON line saying why, which it resolves with.
 */
async function refusedStart(kubeconfig: string): Promise<string> {
  const agent = startComponentProcess('agent-refused', 'agent/main.ts', {
    NODE_NAME: nodeName('input'),
    KUBECONFIG: kubeconfig,
    AGENT_SOCKET: path.join(plugin.root, 'refused', 'agent.sock'),
    HEALTH_PORT: '0',
    HEALTH_ADDRESS: '127.0.0.1',
  });
  agentProcesses.push(agent);
  expect(await agent.exited).toBe(1);
  // 'exit' may come before the last of its stderr.
  if (agent.process.stderr) await finished(agent.process.stderr);
  expect(agent.logs).toHaveLength(1);
  const [line] = agent.logs;
  expect(line).toMatch(/"agent failed"/);
  return line ?? '';
}

describe('credentials never reach an error (issue 9, item 8)', () => {
  const malformed = () => {
    const file = path.join(plugin.root, 'malformed.kubeconfig');
    const text = fs.readFileSync(cluster.kubeconfig, 'utf8');
    // A real kubeconfig with one more user whose token's quote is never closed.
    fs.writeFileSync(file, `${text}\n# broken below\nextra:\n  - token: "${secretToken}\n    name: [x\n`);
    return file;
  };

  it('the node agent fails to start on it with one line naming the file and line, not the token', async () => {
    const kubeconfig = malformed();
    const output = await refusedStart(kubeconfig);
    expect(output).toContain(kubeconfig);
    expect(output).toMatch(/not valid YAML: \w+ at line \d+, column \d+/);
    expect(output).not.toContain(secretToken);
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
  const fileNotDir = () => {
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
    await startNodeAgent(plugin, nodeName('input'));
    if (invocation().command === 'CHECK') addressOf(await call('ADD', 'input', 'i4'));
    const run = startPlugin(plugin, invocation());
    children.push(run.child);
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 60_000);
    const outcome = await run.outcome;
    clearTimeout(timer);
    expect(outcome.signal, 'the plugin hung').toBeNull();
    expectCleanError(outcome, code, field);
  });
  it('the node agent fails to start on kubeconfig /dev/zero, saying it is not a regular file', async () => {
    expect(await refusedStart('/dev/zero')).toMatch(/\/dev\/zero is not a regular file/);
  });

  it('the settings a conflist of an earlier release holds (kubeconfig, state_dir, lock_dir, nodename_file) are accepted and ignored', async () => {
    const file = fileNotDir();
    const earlier = { kubeconfig: '/dev/zero', state_dir: file, lock_dir: file, nodename_file: file };
    const added = await call('ADD', 'input', 'i6', { ipam: earlier });
    addressOf(added);
    expect(
      (await call('CHECK', 'input', 'i6', { ipam: earlier, extra: { prevResult: added.json } })).exitCode,
    ).toBe(0);
    expect((await call('DEL', 'input', 'i6', { ipam: earlier })).exitCode).toBe(0);
  });
});
