/**
 * Test and benchmark support: builds the real forwarder into a CNI bin folder, runs a node agent for
 * every node a test uses (as the chart's DaemonSet does: in this process, or as a process of its own
 * where a test kills it), and runs the forwarder exactly as a container runtime does (CNI_* environment,
 * network configuration on stdin, result on stdout).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RunningAgent, startAgent } from '../agent/agent.js';
import { agentNodeFlags } from '../agent/settings.js';
import { pluginName, routesPluginName } from '../common/index.js';
import { KubeClient, type RequestCounts, loadConnection } from '../kube/index.js';
import { type ComponentProcess, startComponentProcess } from '../local-cluster/operator-process.js';
import { buildForwarder } from './build.js';

export interface InstalledPlugin {
  /** The temporary folder holding everything below; `removePlugin` deletes it. */
  readonly root: string;
  /** A CNI bin folder holding the forwarder `topology-ipam`. */
  readonly binDir: string;
  readonly executable: string;
  /** The cluster the node agents talk to. */
  readonly kubeconfig: string;
  /** The in-process node agents, by node. */
  readonly agents: Map<string, RunningAgent>;
  /** Their start-ups, by node: concurrent invocations for one node share one agent. */
  readonly startingAgents: Map<string, Promise<RunningAgent>>;
}

export async function installPlugin(options: { readonly kubeconfig: string }): Promise<InstalledPlugin> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-cni-'));
  const binDir = path.join(root, 'bin');
  fs.mkdirSync(binDir, { recursive: true });
  await buildForwarder(binDir);
  return {
    root,
    binDir,
    executable: path.join(binDir, pluginName),
    kubeconfig: options.kubeconfig,
    agents: new Map(),
    startingAgents: new Map(),
  };
}

/** Stops every in-process agent and deletes the folder. */
export async function removePlugin(plugin: InstalledPlugin): Promise<void> {
  await Promise.all([...plugin.agents.values()].map((agent) => agent.stop(5_000)));
  plugin.agents.clear();
  plugin.startingAgents.clear();
  fs.rmSync(plugin.root, { recursive: true, force: true });
}

/**
 * The chained `topology-ipam-routes` as a runtime runs it after the main plugin (the chart's conflist
 * lists it after ptp): its executable, and its stdin, the network with the main plugin's result as
 * prevResult.
 */
export function chainedRoutesPlugin(
  plugin: InstalledPlugin,
  network: { readonly cniVersion: string; readonly name: string },
  mainResult: string,
): { readonly executable: string; readonly stdin: string } {
  return {
    executable: path.join(plugin.binDir, routesPluginName),
    stdin: JSON.stringify({
      ...network,
      type: routesPluginName,
      prevResult: JSON.parse(mainResult) as unknown,
    }),
  };
}

export interface ProcessOutcome {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `executable` as a runtime runs a plugin: `env` alone, `stdin` written. With `keepStdinOpen` a
 * program that reads stdin to its end hangs (until killed after 20 s), so the test sees it did not read.
 */
export function runWithStdin(
  executable: string,
  env: NodeJS.ProcessEnv,
  stdin: string,
  { keepStdinOpen = false } = {},
): Promise<ProcessOutcome> {
  const child = spawn(executable, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.on('error', () => undefined);
  child.stdin.write(stdin);
  if (!keepStdinOpen) child.stdin.end();
  const hang = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode) => {
      clearTimeout(hang);
      child.stdin.destroy();
      resolve({ exitCode, stdout, stderr });
    });
  });
}

/** Where Debian's containernetworking-plugins package puts the reference plugins (bridge...). */
export const debianPlugins = '/usr/lib/cni';

/** What a test running Debian's bridge plugin in network namespaces lacks on this machine, said so. */
export function missingNamespacePrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (network namespaces and a bridge are created)');
  if (!fs.existsSync(`${debianPlugins}/bridge`))
    missing.push(`${debianPlugins}/bridge (apt-get install containernetworking-plugins)`);
  if (spawnSync('ip', ['-V']).status !== 0) missing.push('ip (apt-get install iproute2)');
  if (spawnSync('ping', ['-V']).status !== 0) missing.push('ping (apt-get install iputils-ping)');
  return missing;
}

/** A short name for a node: unix socket paths are short, node names may be long. */
const nodeId = (node: string): string => createHash('sha256').update(node).digest('hex').slice(0, 16);

/** The socket of a node's agent. */
export function agentSocket(plugin: InstalledPlugin, node: string): string {
  return path.join(plugin.root, 'agents', `${nodeId(node)}.sock`);
}

/** The node's in-process agent, started (and synced) if it is not running yet. */
export async function startNodeAgent(
  plugin: InstalledPlugin,
  node: string,
  options: { readonly kubeconfig?: string } = {},
): Promise<RunningAgent> {
  let starting = plugin.startingAgents.get(node);
  if (starting === undefined) {
    starting = (async () => {
      const agent = await startAgent({
        node,
        client: new KubeClient(loadConnection(options.kubeconfig ?? plugin.kubeconfig), {
          userAgent: 'topology-ipam-agent',
        }),
        socketPath: agentSocket(plugin, node),
      });
      plugin.agents.set(node, agent);
      // An agent whose credential may not list or watch never syncs: say why instead of hanging.
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(
            new Error(`the agent of ${node} did not sync in 60 s: ${agent.health().reasons.join('; ')}`),
          );
        }, 60_000);
      });
      await Promise.race([Promise.all([agent.cache.synced, agent.workloads.synced]), timedOut]).finally(
        () => {
          clearTimeout(timer);
        },
      );
      return agent;
    })();
    plugin.startingAgents.set(node, starting);
    starting.catch(() => plugin.startingAgents.delete(node));
  }
  return starting;
}

export async function stopNodeAgent(plugin: InstalledPlugin, node: string): Promise<void> {
  const agent = plugin.agents.get(node);
  plugin.agents.delete(node);
  plugin.startingAgents.delete(node);
  await agent?.stop(5_000);
}

/** API requests the in-process agents have sent so far, summed. */
export function agentRequests(plugin: InstalledPlugin): { reads: number; writes: number } {
  const total: RequestCounts = { GET: 0, POST: 0, PUT: 0, PATCH: 0, DELETE: 0 };
  for (const agent of plugin.agents.values())
    for (const [method, count] of Object.entries(agent.client.counts))
      total[method as keyof RequestCounts] += count;
  return { reads: total.GET, writes: total.POST + total.PUT + total.PATCH + total.DELETE };
}

/** The node a configuration is for (its ipam.nodename), if it names one. */
function nodeOf(config: Record<string, unknown>): string | undefined {
  const ipam = config.ipam as { nodename?: unknown } | undefined;
  return typeof ipam?.nodename === 'string' ? ipam.nodename : undefined;
}

/** The configuration with ipam.agent_socket pointing at its node's agent, unless it names a socket. */
function withAgentSocket(plugin: InstalledPlugin, config: Record<string, unknown>): Record<string, unknown> {
  const ipam = config.ipam as Record<string, unknown> | undefined;
  const node = nodeOf(config);
  if (ipam === undefined || node === undefined || 'agent_socket' in ipam) return config;
  return { ...config, ipam: { ...ipam, agent_socket: agentSocket(plugin, node) } };
}

export interface Invocation {
  readonly command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';
  readonly config: Record<string, unknown>;
  readonly containerId?: string;
  readonly ifname?: string;
  readonly podNamespace?: string;
  readonly podName?: string;
  /** K8S_POD_UID, as containerd and CRI-O pass it; none by default. */
  readonly podUID?: string;
  /** CNI_PATH; the plugin's own folder by default. */
  readonly cniPath?: string;
}

export interface PluginOutcome {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The parsed stdout, if any. */
  readonly json: Record<string, unknown> | undefined;
  readonly pid: number;
  readonly ms: number;
}

/** The configuration a runtime passes for a bridge network whose IPAM is this plugin on `node`. */
export function bridgeNetwork(
  plugin: InstalledPlugin,
  options: { readonly name: string; readonly node: string },
): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: options.name,
    type: 'bridge',
    ipam: { type: 'topology-ipam', nodename: options.node, agent_socket: agentSocket(plugin, options.node) },
  };
}

export function environmentFor(plugin: InstalledPlugin, invocation: Invocation): NodeJS.ProcessEnv {
  const containerId = invocation.containerId ?? '';
  return {
    PATH: process.env.PATH,
    CNI_COMMAND: invocation.command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: containerId === '' ? '' : `/var/run/netns/cni-${containerId}`,
    CNI_IFNAME: invocation.ifname ?? (containerId === '' ? '' : 'eth0'),
    CNI_PATH: invocation.cniPath ?? plugin.binDir,
    CNI_ARGS: [
      'IgnoreUnknown=1',
      `K8S_POD_NAMESPACE=${invocation.podNamespace ?? 'default'}`,
      `K8S_POD_NAME=${invocation.podName ?? (containerId === '' ? 'none' : `pod-${containerId}`)}`,
      ...(invocation.podUID === undefined ? [] : [`K8S_POD_UID=${invocation.podUID}`]),
    ].join(';'),
  };
}

/**
 * Starts one invocation; `outcome` settles when it exits (also when killed). The configuration's node
 * (ipam.nodename) is served by its agent, which must be running (see `startNodeAgent`) unless the test
 * wants it absent; `invokePlugin` starts it.
 */
export function startPlugin(
  plugin: InstalledPlugin,
  invocation: Invocation,
): { child: ChildProcess; outcome: Promise<PluginOutcome> } {
  const started = performance.now();
  const config = withAgentSocket(plugin, invocation.config);
  const child = spawn(plugin.executable, [], {
    env: environmentFor(plugin, invocation),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.on('error', () => undefined);
  child.stdin.end(JSON.stringify(config));
  const outcome = new Promise<PluginOutcome>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode, signal) => {
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() === '' ? undefined : (JSON.parse(stdout) as Record<string, unknown>);
      } catch {
        json = undefined;
      }
      resolve({
        exitCode,
        signal,
        stdout,
        stderr,
        json,
        pid: child.pid ?? -1,
        ms: performance.now() - started,
      });
    });
  });
  return { child, outcome };
}

/** Runs one invocation to its end, with the agent of the configuration's node started first. */
export async function invokePlugin(plugin: InstalledPlugin, invocation: Invocation): Promise<PluginOutcome> {
  const node = nodeOf(invocation.config);
  if (node !== undefined) await startNodeAgent(plugin, node);
  return startPlugin(plugin, invocation).outcome;
}

/** Runs `tasks` with at most `limit` in flight. */
export async function inParallel<T>(limit: number, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next++;
      const task = tasks[index];
      if (task) results[index] = await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** What the agent of `node` runs with: its node, credentials and socket, a health port on loopback. */
export function agentSettings(plugin: InstalledPlugin, node: string): Record<string, string> {
  return {
    NODE_NAME: node,
    KUBECONFIG: plugin.kubeconfig,
    AGENT_SOCKET: agentSocket(plugin, node),
    HEALTH_PORT: '0',
    HEALTH_ADDRESS: '127.0.0.1',
  };
}

/**
 * The node's agent as a process of its own (agent/main.ts, or its built bundle `entry`, as the DaemonSet
 * runs it), for tests that kill it; resolves once it has synced and listens. Stop it with its
 * `process.kill()`.
 */
export async function startAgentProcess(
  plugin: InstalledPlugin,
  node: string,
  settings: Readonly<Record<string, string>> = {},
  entry = 'agent/main.ts',
): Promise<ComponentProcess> {
  const agent = startComponentProcess(
    `agent-${node}`,
    entry,
    { ...agentSettings(plugin, node), ...settings },
    agentNodeFlags,
  );
  const deadline = Date.now() + 60_000;
  while (!agent.logs.some((line) => line.includes('"caches synced"'))) {
    if (agent.process.exitCode !== null || agent.process.signalCode !== null || Date.now() > deadline) {
      agent.process.kill('SIGKILL');
      throw new Error(`the agent of ${node} did not start:\n${agent.logs.join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return agent;
}
