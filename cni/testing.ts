/**
 * Test and benchmark support: builds the real bundle with its launcher into a folder and runs it exactly
 * as a container runtime does (CNI_* environment, network configuration on stdin, result on stdout).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildPlugin, pluginName } from './build.js';
import { requestLogVariable } from './run.js';

export interface InstalledPlugin {
  /** The temporary folder holding everything below; `removePlugin` deletes it. */
  readonly root: string;
  /** A CNI bin folder holding the launcher `topology-ipam` and its bundle. */
  readonly binDir: string;
  readonly executable: string;
  /** The file each invocation appends its request counts to. */
  readonly requestLog: string;
  readonly stateDir: string;
}

export async function installPlugin(): Promise<InstalledPlugin> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-cni-'));
  const binDir = path.join(root, 'bin');
  await buildPlugin(binDir);
  return {
    root,
    binDir,
    executable: path.join(binDir, pluginName),
    requestLog: path.join(root, 'requests.jsonl'),
    stateDir: path.join(root, 'state'),
  };
}

export function removePlugin(plugin: InstalledPlugin): void {
  fs.rmSync(plugin.root, { recursive: true, force: true });
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

export interface RequestLogEntry {
  readonly pid: number;
  readonly command: string;
  readonly handle?: string;
  readonly node?: string;
  readonly ms: number;
  readonly reads: number;
  readonly writes: number;
  readonly code: number | null;
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
  options: { readonly name: string; readonly kubeconfig: string; readonly node: string },
): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: options.name,
    type: 'bridge',
    ipam: {
      type: 'topology-ipam',
      kubeconfig: options.kubeconfig,
      state_dir: plugin.stateDir,
      nodename: options.node,
    },
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
    [requestLogVariable]: plugin.requestLog,
  };
}

/** Starts one invocation; `outcome` settles when it exits (also when killed). */
export function startPlugin(
  plugin: InstalledPlugin,
  invocation: Invocation,
): { child: ChildProcess; outcome: Promise<PluginOutcome> } {
  const started = performance.now();
  const child = spawn(plugin.executable, [], {
    env: environmentFor(plugin, invocation),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.on('error', () => undefined);
  child.stdin.end(JSON.stringify(invocation.config));
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

export function invokePlugin(plugin: InstalledPlugin, invocation: Invocation): Promise<PluginOutcome> {
  return startPlugin(plugin, invocation).outcome;
}

/** The request-log entries written so far, optionally only those of some process ids. */
export function requestLog(plugin: InstalledPlugin, pids?: readonly number[]): RequestLogEntry[] {
  if (!fs.existsSync(plugin.requestLog)) return [];
  const entries = fs
    .readFileSync(plugin.requestLog, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as RequestLogEntry);
  return pids === undefined ? entries : entries.filter((entry) => pids.includes(entry.pid));
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
