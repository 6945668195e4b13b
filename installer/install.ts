/**
 * What the CNI installer does on a node, each step idempotent and each file replaced atomically (written
 * beside its target, then renamed over it), so a runtime calling the plugin meanwhile sees the old file
 * or the new one, never half of one:
 *
 * 1. the node binary, the plugin bundle and its launcher into the CNI bin directory, in that order (the
 *    launcher last: it is what runtimes execute, and it needs the other two);
 * 2. the plugin's credentials into `<net dir>/topology-ipam/`: the cluster CA, the service account token
 *    (re-copied whenever the projected token rotates; only a token bound to this node, since the chart's
 *    admission policy lets each node's token write only that node's blocks) and a kubeconfig naming both
 *    files by host path;
 * 3. the conflist, last, with the plugin's `ipam` section completed with that kubeconfig and this node's
 *    name: a runtime treats the node's network as ready once a conflist exists, so it comes last.
 *
 * Files are compared before writing, so a re-sync that finds nothing changed writes nothing.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify as toYaml } from 'yaml';
import { z } from 'zod';
import { type InstallerSettings, apiServerUrl } from './settings.js';

/** The plugin's name: the CNI `type`, the launcher's file name, the credentials folder. */
export const pluginName = 'topology-ipam';

export type FileOutcome = 'written' | 'unchanged';
/** Each file the step considered, by its path as the installer sees it. */
export type StepReport = Record<string, FileOutcome>;

export type LogLevel = 'info' | 'warn' | 'error';
export type InstallerLog = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

export class InstallerError extends Error {
  override readonly name = 'InstallerError';
}

/** Where things go, as the installer and as the host see them. */
export interface InstallPaths {
  readonly binDir: string;
  readonly credentialsDir: string;
  readonly hostCredentialsDir: string;
  readonly conflist: string;
}

export function installPaths(settings: InstallerSettings): InstallPaths {
  return {
    binDir: settings.CNI_BIN_DIR,
    credentialsDir: path.join(settings.CNI_NET_DIR, pluginName),
    hostCredentialsDir: path.posix.join(settings.HOST_CNI_NET_DIR, pluginName),
    conflist: path.join(settings.CNI_NET_DIR, settings.CNI_CONF_NAME),
  };
}

const pluginSchema = z.looseObject({
  type: z.string().min(1, 'every plugin has a "type"'),
  ipam: z.looseObject({ type: z.string().optional() }).optional(),
});
const conflistSchema = z.looseObject({
  cniVersion: z.string({ error: 'the conflist needs a "cniVersion"' }),
  name: z.string({ error: 'the conflist needs a "name"' }).min(1),
  plugins: z.array(pluginSchema).min(1, 'the conflist needs at least one plugin'),
});

/**
 * The conflist to write: `template` (JSON) with `kubeconfig` and `nodename` filled into the `ipam` section
 * of every plugin whose IPAM is this plugin, unless the template already sets them.
 */
export function renderConflist(template: string, options: { nodeName: string; kubeconfig: string }): string {
  let json: unknown;
  try {
    json = JSON.parse(template);
  } catch (error) {
    throw new InstallerError(`CNI_NETWORK_CONFIG is not JSON: ${(error as Error).message}`);
  }
  const parsed = conflistSchema.safeParse(json);
  if (!parsed.success) {
    throw new InstallerError(`CNI_NETWORK_CONFIG is not a conflist: ${z.prettifyError(parsed.error)}`);
  }
  const conflist = parsed.data;
  const ours = (plugin: (typeof conflist.plugins)[number]) => plugin.ipam?.type === pluginName;
  const plugins = conflist.plugins.map((plugin) => {
    if (!ours(plugin)) return plugin;
    return {
      ...plugin,
      ipam: { kubeconfig: options.kubeconfig, nodename: options.nodeName, ...plugin.ipam },
    };
  });
  if (!conflist.plugins.some(ours)) {
    throw new InstallerError(
      `CNI_NETWORK_CONFIG has no plugin with "ipam": {"type": "${pluginName}"}: pods would get no address from topology-ipam`,
    );
  }
  return `${JSON.stringify({ ...conflist, plugins }, null, 2)}\n`;
}

/** A kubeconfig for the plugin: the server, and the CA and token by file, re-read by the plugin per request. */
export function renderKubeconfig(options: { server: string; caFile: string; tokenFile: string }): string {
  return toYaml({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': pluginName,
    clusters: [
      { name: 'cluster', cluster: { server: options.server, 'certificate-authority': options.caFile } },
    ],
    users: [{ name: pluginName, user: { tokenFile: options.tokenFile } }],
    contexts: [{ name: pluginName, context: { cluster: 'cluster', user: pluginName } }],
  });
}

const tokenClaimsSchema = z.looseObject({
  'kubernetes.io': z.looseObject({ node: z.looseObject({ name: z.string() }).optional() }).optional(),
});

/**
 * The node a service-account token is bound to: its `kubernetes.io.node.name` claim, which the API server
 * sets for a token bound to a Pod (the pod's node) or to a Node, and hands to admission as
 * `authentication.kubernetes.io/node-name`. `undefined` for a token bound to no node or not a JWT. The
 * signature is not checked: the API server checks it on every request; this only spots a token that the
 * chart's node restriction would refuse.
 */
export function tokenNodeName(token: string): string | undefined {
  const [, payload] = token.trim().split('.');
  if (payload === undefined) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = tokenClaimsSchema.safeParse(claims);
  return parsed.success ? parsed.data['kubernetes.io']?.node?.name : undefined;
}

async function readOrUndefined(file: string): Promise<Buffer | undefined> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function modeOf(file: string): Promise<number | undefined> {
  try {
    return (await fs.stat(file)).mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

const temporaryBeside = (file: string) => `${file}.tmp-${process.pid}`;

/** Renames `temporary` over `file`, removing `temporary` if that fails. */
async function replaceWith(temporary: string, file: string, mode: number): Promise<void> {
  try {
    await fs.chmod(temporary, mode);
    await fs.rename(temporary, file);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}

/** Writes `content` to `file` (atomically, with `mode`) unless it already holds exactly that. */
export async function writeIfChanged(
  file: string,
  content: string | Buffer,
  mode: number,
): Promise<FileOutcome> {
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  const existing = await readOrUndefined(file);
  if (existing?.equals(bytes) === true && (await modeOf(file)) === mode) return 'unchanged';
  const temporary = temporaryBeside(file);
  await fs.writeFile(temporary, bytes, { mode });
  await replaceWith(temporary, file, mode);
  return 'written';
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Copies `source` to `target` (atomically, with `mode`) unless `target` already has the same bytes. */
export async function copyIfChanged(source: string, target: string, mode: number): Promise<FileOutcome> {
  const [from, to] = await Promise.all([fs.stat(source), fs.stat(target).catch(() => undefined)]);
  if (
    to?.size === from.size &&
    (to.mode & 0o777) === mode &&
    (await sha256(source)) === (await sha256(target))
  ) {
    return 'unchanged';
  }
  const temporary = temporaryBeside(target);
  await fs.copyFile(source, temporary);
  await replaceWith(temporary, target, mode);
  return 'written';
}

/** The files to install into the CNI bin directory, in installation order. */
export function binaries(settings: InstallerSettings): { source: string; name: string }[] {
  return [
    // The launcher runs `node` from its own directory: runtimes call plugins with a minimal PATH.
    { source: settings.NODE_BINARY ?? process.execPath, name: 'node' },
    { source: path.join(settings.SOURCE_DIR, `${pluginName}.mjs`), name: `${pluginName}.mjs` },
    { source: path.join(settings.SOURCE_DIR, pluginName), name: pluginName },
  ];
}

export async function installBinaries(settings: InstallerSettings): Promise<StepReport> {
  const { binDir } = installPaths(settings);
  await fs.mkdir(binDir, { recursive: true, mode: 0o755 });
  const report: StepReport = {};
  for (const { source, name } of binaries(settings)) {
    const target = path.join(binDir, name);
    try {
      report[target] = await copyIfChanged(source, target, name.endsWith('.mjs') ? 0o644 : 0o755);
    } catch (error) {
      throw new InstallerError(`cannot install ${source} as ${target}: ${(error as Error).message}`);
    }
  }
  return report;
}

/** True when every binary is in place (a cheap check for the re-sync loop: no hashing). */
export async function binariesPresent(settings: InstallerSettings): Promise<boolean> {
  const { binDir } = installPaths(settings);
  const present = await Promise.all(
    binaries(settings).map(({ name }) =>
      fs.access(path.join(binDir, name)).then(
        () => true,
        () => false,
      ),
    ),
  );
  return present.every(Boolean);
}

export async function syncCredentials(settings: InstallerSettings): Promise<StepReport> {
  const { credentialsDir, hostCredentialsDir } = installPaths(settings);
  const read = async (name: string): Promise<Buffer> => {
    const file = path.join(settings.SERVICE_ACCOUNT_DIR, name);
    try {
      return await fs.readFile(file);
    } catch (error) {
      throw new InstallerError(
        `cannot read the service account's ${name} (${file}): ${(error as Error).message}`,
      );
    }
  };
  const [ca, token] = await Promise.all([read('ca.crt'), read('token')]);
  const tokenFile = path.join(settings.SERVICE_ACCOUNT_DIR, 'token');
  if (token.toString('utf8').trim() === '') {
    throw new InstallerError(`the service account token ${tokenFile} is empty`);
  }
  // Never the token itself in a message: only where it is and which node it names.
  const boundTo = tokenNodeName(token.toString('utf8'));
  if (boundTo !== settings.NODE_NAME) {
    throw new InstallerError(
      `the service account token ${tokenFile} is ${boundTo === undefined ? 'bound to no node' : `bound to node ${boundTo}`}, not to this node (${settings.NODE_NAME}): the API server would refuse the plugin's writes of this node's blocks. Mount a projected service account token (the chart's DaemonSet does), which the API server binds to the installer pod and its node`,
    );
  }
  await fs.mkdir(credentialsDir, { recursive: true, mode: 0o700 });
  await fs.chmod(credentialsDir, 0o700);
  const kubeconfig = renderKubeconfig({
    server: apiServerUrl(settings),
    caFile: path.posix.join(hostCredentialsDir, 'ca.crt'),
    tokenFile: path.posix.join(hostCredentialsDir, 'token'),
  });
  const report: StepReport = {};
  // The kubeconfig last: it names the other two.
  for (const [name, content] of [
    ['ca.crt', ca],
    ['token', token],
    ['kubeconfig', kubeconfig],
  ] as const) {
    const file = path.join(credentialsDir, name);
    report[file] = await writeIfChanged(file, content, 0o600);
  }
  return report;
}

export async function syncConflist(settings: InstallerSettings): Promise<StepReport> {
  if (settings.CNI_NETWORK_CONFIG.trim() === '') return {};
  const { conflist, hostCredentialsDir } = installPaths(settings);
  const content = renderConflist(settings.CNI_NETWORK_CONFIG, {
    nodeName: settings.NODE_NAME,
    kubeconfig: path.posix.join(hostCredentialsDir, 'kubeconfig'),
  });
  await fs.mkdir(path.dirname(conflist), { recursive: true, mode: 0o755 });
  return { [conflist]: await writeIfChanged(conflist, content, 0o644) };
}

/** Binaries, credentials, conflist: everything, once. */
export async function installOnce(settings: InstallerSettings): Promise<StepReport> {
  return {
    ...(await installBinaries(settings)),
    ...(await syncCredentials(settings)),
    ...(await syncConflist(settings)),
  };
}

/** One re-sync: the credentials (the token rotates), the conflist, and the binaries if any went missing. */
export async function resync(settings: InstallerSettings): Promise<StepReport> {
  return {
    ...((await binariesPresent(settings)) ? {} : await installBinaries(settings)),
    ...(await syncCredentials(settings)),
    ...(await syncConflist(settings)),
  };
}

const written = (report: StepReport): string[] =>
  Object.entries(report)
    .filter(([, outcome]) => outcome === 'written')
    .map(([file]) => file);

/**
 * Installs, then (with WATCH) re-syncs every SYNC_SECONDS until `signal` aborts. A failed first install
 * throws (the pod restarts and shows the error); a failed re-sync is logged and retried.
 */
export async function runInstaller(
  settings: InstallerSettings,
  options: { signal: AbortSignal; log: InstallerLog },
): Promise<void> {
  const { log, signal } = options;
  const first = await installOnce(settings);
  log('info', 'installed', {
    node: settings.NODE_NAME,
    written: written(first),
    checked: Object.keys(first).length,
  });
  if (!settings.WATCH) return;
  while (!signal.aborted) {
    try {
      await sleep(settings.SYNC_SECONDS * 1000, undefined, { signal });
    } catch {
      break;
    }
    try {
      const report = await resync(settings);
      const changed = written(report);
      if (changed.length > 0) log('info', 'updated', { written: changed });
    } catch (error) {
      log('error', 're-sync failed; retrying', { error: (error as Error).message });
    }
  }
}
