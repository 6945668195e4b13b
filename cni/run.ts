/**
 * One CNI request, as the node agent serves it for the forwarder: parse the environment and the
 * configuration, refuse what the spec refuses, run the command on a backend (the agent's addresses), and
 * turn the outcome into the plugin's stdout and exit code. Never throws: every failure becomes the
 * CNI error object of `errors.ts`.
 */
import { pluginName } from '../common/index.js';
import { handleOf, type NetworkConfig, parseNetworkConfig, versionOf } from './config.js';
import { type Command, type CniEnv, parseEnv } from './env.js';
import { CniError, toCniError } from './errors.js';
import { type IpamResult, formatResult } from './result.js';
import { type CniVersion, compareVersions, latestVersion, versionInfo } from './versions.js';

export interface Outcome {
  readonly stdout: string;
  readonly exitCode: number;
}

export interface CommandRequest {
  readonly env: CniEnv;
  readonly config: NetworkConfig;
  /** Epoch ms after which no retry starts (`ipam.timeout_seconds` from the request's arrival). */
  readonly deadline: number;
}

/** What serves the commands once the request is valid. */
export interface CommandBackend {
  add(request: CommandRequest): Promise<IpamResult>;
  del(request: CommandRequest): Promise<void>;
  check(request: CommandRequest): Promise<void>;
  gc(request: CommandRequest): Promise<void>;
  status(request: CommandRequest): Promise<void>;
}

/** What a served request was, for logs and metrics. */
export interface RequestSummary {
  readonly command: string;
  readonly handle?: string;
  readonly code: number | null;
}

/** The oldest config version allowing each command (libcni's skel refuses the same). */
const minimumVersion: Record<Exclude<Command, 'VERSION'>, CniVersion> = {
  ADD: '0.3.0',
  DEL: '0.3.0',
  CHECK: '0.4.0',
  GC: '1.1.0',
  STATUS: '1.1.0',
};

function validate(env: CniEnv, config: NetworkConfig): void {
  if (env.command === 'VERSION') return;
  const minimum = minimumVersion[env.command];
  if (compareVersions(config.cniVersion, minimum) < 0) {
    throw new CniError({
      kind: 'incompatible-version',
      version: config.cniVersion,
      reason: `${env.command} needs cniVersion ${minimum} or later; the configuration says ${config.cniVersion}`,
    });
  }
  if (config.ipam.type !== pluginName) {
    throw new CniError({
      kind: 'invalid-config',
      path: 'ipam.type',
      reason: `ipam.type is ${JSON.stringify(config.ipam.type.slice(0, 64))}, but this is the ${pluginName} plugin: the runtime ran the wrong binary`,
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
}

async function dispatch(backend: CommandBackend, request: CommandRequest): Promise<string> {
  switch (request.env.command) {
    case 'ADD':
      return JSON.stringify(formatResult(request.config.cniVersion, await backend.add(request)));
    case 'DEL':
      await backend.del(request);
      return '';
    case 'GC':
      await backend.gc(request);
      return '';
    case 'CHECK':
      await backend.check(request);
      return '';
    case 'STATUS':
      await backend.status(request);
      return '';
    case 'VERSION':
      return versionInfo();
  }
}

/** Runs one request to its outcome; never throws. `summary` hears what it was. */
export async function run(
  processEnv: Readonly<Record<string, string | undefined>>,
  stdin: string,
  backend: CommandBackend,
  summary?: (served: RequestSummary) => void,
): Promise<Outcome> {
  let cniVersion: string = versionOf(stdin) ?? latestVersion;
  let handle: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const command = processEnv.CNI_COMMAND ?? '';
  try {
    const env = parseEnv(processEnv);
    if (env.command === 'VERSION') return { stdout: versionInfo(), exitCode: 0 };
    const config = parseNetworkConfig(stdin);
    cniVersion = config.cniVersion;
    validate(env, config);
    if (env.containerId !== '') handle = handleOf(config.name, env.containerId, env.ifname);
    const timeoutMs = config.ipam.timeoutSeconds * 1000;
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
    const stdout = await Promise.race([
      dispatch(backend, { env, config, deadline: Date.now() + timeoutMs }),
      hung,
    ]);
    summary?.({ command, ...(handle === undefined ? {} : { handle }), code: null });
    return { stdout, exitCode: 0 };
  } catch (error) {
    const object = toCniError(error, cniVersion);
    summary?.({ command, ...(handle === undefined ? {} : { handle }), code: object.code });
    return { stdout: JSON.stringify(object), exitCode: 1 };
  } finally {
    clearTimeout(timer);
  }
}
