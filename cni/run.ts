/**
 * One plugin invocation: parse the environment and the configuration, take the node lock, run the
 * command, and turn the outcome into stdout and an exit code. `main.ts` loads this module only for
 * commands other than VERSION, so answering VERSION loads neither zod nor the Kubernetes client.
 */
import fs from 'node:fs';
import os from 'node:os';
import { ipamResources } from '../allocator/index.js';
import { KubeClient, loadConnection } from '../kube/index.js';
import { type Invocation, add, check, del, gc, status } from './allocate.js';
import { BorrowRecords } from './borrowed.js';
import { type NetworkConfig, handleOf, parseNetworkConfig, pluginType, versionOf } from './config.js';
import { type Command, type CniEnv, parseEnv } from './env.js';
import { CniError, toCniError } from './errors.js';
import { LockSetupError, LockTimeoutError, acquireLock } from './lock.js';
import { formatResult } from './result.js';
import { type CniVersion, compareVersions, latestVersion } from './versions.js';

export interface Outcome {
  readonly stdout: string;
  readonly exitCode: number;
}

/** The env var naming a file to which each invocation appends its API request counts as a JSON line. */
export const requestLogVariable = 'TOPOLOGY_IPAM_REQUEST_LOG';

/** The oldest config version allowing each command (libcni's skel refuses the same). */
const minimumVersion: Record<Exclude<Command, 'VERSION'>, CniVersion> = {
  ADD: '0.3.0',
  DEL: '0.3.0',
  CHECK: '0.4.0',
  GC: '1.1.0',
  STATUS: '1.1.0',
};

function nodeName(config: NetworkConfig): string {
  const { nodename, nodenameFile } = config.ipam;
  if (nodename !== undefined) return nodename;
  if (nodenameFile !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(nodenameFile, 'utf8').trim();
    } catch (error) {
      throw new CniError({
        kind: 'invalid-config',
        path: 'ipam.nodename_file',
        reason: `cannot read the node name from ${nodenameFile}: ${(error as Error).message}`,
      });
    }
    if (text === '') {
      throw new CniError({
        kind: 'invalid-config',
        path: 'ipam.nodename_file',
        reason: `${nodenameFile} is empty`,
      });
    }
    return text;
  }
  return os.hostname();
}

interface LogEntry {
  command: string;
  node?: string;
  handle?: string;
  lockWaitMs?: number;
  client?: KubeClient;
}

function appendRequestLog(
  env: NodeJS.ProcessEnv,
  started: number,
  entry: LogEntry,
  code: number | null,
): void {
  const file = env[requestLogVariable];
  if (file === undefined || file === '') return;
  const counts = entry.client?.counts ?? { GET: 0, POST: 0, PUT: 0, PATCH: 0, DELETE: 0 };
  const line = {
    time: new Date().toISOString(),
    pid: process.pid,
    command: entry.command,
    node: entry.node,
    handle: entry.handle,
    ms: Math.round(performance.now() - started),
    lockWaitMs: entry.lockWaitMs,
    requests: counts,
    reads: counts.GET,
    writes: counts.POST + counts.PUT + counts.PATCH + counts.DELETE,
    code,
  };
  try {
    // One write() of a short line with O_APPEND: concurrent invocations do not interleave.
    fs.appendFileSync(file, `${JSON.stringify(line)}\n`);
  } catch {
    // A test aid: never fail the invocation because of it.
  }
}

async function dispatch(
  env: CniEnv,
  config: NetworkConfig,
  invocation: Invocation,
  entry: LogEntry,
): Promise<string> {
  const locked = async <T>(body: () => Promise<T>): Promise<T> => {
    let lock;
    try {
      lock = await acquireLock(config.ipam.lockDir, invocation.node, invocation.deadline);
    } catch (error) {
      if (error instanceof LockTimeoutError) throw new CniError({ kind: 'try-again', reason: error.message });
      if (error instanceof LockSetupError) {
        throw new CniError(
          {
            kind: 'invalid-config',
            path: 'ipam.lock_dir',
            reason: `cannot take the node lock: ${error.message}`,
          },
          { cause: error },
        );
      }
      throw error;
    }
    entry.lockWaitMs = lock.waitedMs;
    try {
      return await body();
    } finally {
      await lock.release();
    }
  };
  switch (env.command) {
    case 'ADD':
      return JSON.stringify(formatResult(config.cniVersion, await locked(() => add(invocation))));
    case 'DEL':
      await locked(() => del(invocation));
      return '';
    case 'GC':
      await locked(() => gc(invocation));
      return '';
    case 'CHECK':
      await check(invocation);
      return '';
    case 'STATUS':
      await status(invocation);
      return '';
    case 'VERSION':
      throw new Error('VERSION is answered by main.ts');
  }
}

/** Runs one invocation to its outcome; never throws. */
export async function run(processEnv: NodeJS.ProcessEnv, stdin: string): Promise<Outcome> {
  const started = performance.now();
  const entry: LogEntry = { command: processEnv.CNI_COMMAND ?? '' };
  let cniVersion: string = versionOf(stdin) ?? latestVersion;
  let timer: NodeJS.Timeout | undefined;
  try {
    const env = parseEnv(processEnv);
    const config = parseNetworkConfig(stdin);
    cniVersion = config.cniVersion;
    if (env.command === 'VERSION') throw new Error('VERSION is answered by main.ts');
    const minimum = minimumVersion[env.command];
    if (compareVersions(config.cniVersion, minimum) < 0) {
      throw new CniError({
        kind: 'incompatible-version',
        version: config.cniVersion,
        reason: `${env.command} needs cniVersion ${minimum} or later; the configuration says ${config.cniVersion}`,
      });
    }
    if (config.ipam.type !== pluginType) {
      throw new CniError({
        kind: 'invalid-config',
        path: 'ipam.type',
        reason: `ipam.type is ${JSON.stringify(config.ipam.type.slice(0, 64))}, but this is the ${pluginType} plugin: the runtime ran the wrong binary`,
      });
    }
    // GC releases whatever is not listed: without the list (missing, or its key misspelt) it would release all.
    if (env.command === 'GC' && config.validAttachments === undefined) {
      throw new CniError({
        kind: 'invalid-config',
        path: 'cni.dev/valid-attachments',
        reason:
          'GC needs cni.dev/valid-attachments, the attachments still in use (an empty list if none); without it nothing is released',
      });
    }
    const node = nodeName(config);
    entry.node = node;
    if (env.containerId !== '') entry.handle = handleOf(config.name, env.containerId, env.ifname);
    const client = new KubeClient(loadConnection(config.ipam.kubeconfig), { userAgent: 'topology-ipam-cni' });
    entry.client = client;
    const timeoutMs = config.ipam.timeoutSeconds * 1000;
    const invocation: Invocation = {
      env,
      config,
      node,
      resources: ipamResources(client),
      borrowed: new BorrowRecords(config.ipam.stateDir),
      deadline: Date.now() + timeoutMs,
    };
    // A request the API server never answers must not hang the runtime: give up a little after the deadline.
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new CniError({
            kind: 'try-again',
            reason: `no outcome within ${config.ipam.timeoutSeconds} s (ipam.timeout_seconds)`,
          }),
        );
      }, timeoutMs + 1000);
    });
    try {
      const stdout = await Promise.race([dispatch(env, config, invocation, entry), hung]);
      appendRequestLog(processEnv, started, entry, null);
      return { stdout, exitCode: 0 };
    } finally {
      client.close();
    }
  } catch (error) {
    const object = toCniError(error, cniVersion);
    appendRequestLog(processEnv, started, entry, object.code);
    return { stdout: JSON.stringify(object), exitCode: 1 };
  } finally {
    clearTimeout(timer);
  }
}
