/**
 * What the CNI installer does on a node, each step idempotent and each file replaced atomically (written
 * beside its target, then renamed over it), so a runtime calling the plugin meanwhile sees the old file
 * or the new one, never half of one:
 *
 * 1. the forwarder binary into the CNI bin directory, as `topology-ipam` (a static executable: it only
 *    hands each CNI command to the node agent over its unix socket, so it needs no credentials, no
 *    node binary and no configuration beyond the conflist), and a copy as `topology-ipam-routes`, the
 *    chained plugin it is when run under that name;
 * 2. the conflist, last: a runtime treats the node's network as ready once a conflist exists;
 * 3. what earlier versions installed and nothing uses any more: the `node` binary and the plugin bundle
 *    next to the launcher, and the copied credentials (`<net dir>/topology-ipam/`, which held a token).
 *
 * Files are compared before writing, so a re-sync that finds nothing changed writes nothing.
 *
 * The temporary file is beside its target on purpose: containerd 1.6 reloads its CNI configuration on a
 * folder event other than create or chmod, so it misses a conflist moved in from another folder (one
 * create event) but takes ours on the rename event of the temporary name (the real-node suite installs
 * the conflist after containerd has started, as the DaemonSet does).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { type Logger, errorMessage, pluginName, routesPluginName } from '../common/index.js';
import type { InstallerSettings } from './settings.js';

/** `removed`: a file an earlier version installed, gone now. */
export type FileOutcome = 'written' | 'unchanged' | 'removed';
/** Each file the step considered, by its path as the installer sees it. */
export type StepReport = Record<string, FileOutcome>;

export class InstallerError extends Error {
  override readonly name = 'InstallerError';
}

/** Where things go, as the installer sees them. */
export interface InstallPaths {
  readonly binDir: string;
  readonly conflist: string;
  /** Where versions before the node agent copied the plugin's CA, token and kubeconfig. */
  readonly legacyCredentialsDir: string;
}

export function installPaths(settings: InstallerSettings): InstallPaths {
  return {
    binDir: settings.CNI_BIN_DIR,
    conflist: path.join(settings.CNI_NET_DIR, settings.CNI_CONF_NAME),
    legacyCredentialsDir: path.join(settings.CNI_NET_DIR, pluginName),
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
 * The conflist to write: `template` (JSON) as it is, once it is known to be a conflist with a plugin whose
 * IPAM is this plugin. Nothing node-specific is added: the forwarder needs only the agent's socket, whose
 * default is the same on every node.
 */
export function renderConflist(template: string): string {
  let json: unknown;
  try {
    json = JSON.parse(template);
  } catch (error) {
    throw new InstallerError(`CNI_NETWORK_CONFIG is not JSON: ${errorMessage(error)}`);
  }
  const parsed = conflistSchema.safeParse(json);
  if (!parsed.success) {
    throw new InstallerError(`CNI_NETWORK_CONFIG is not a conflist: ${z.prettifyError(parsed.error)}`);
  }
  if (!parsed.data.plugins.some((plugin) => plugin.ipam?.type === pluginName)) {
    throw new InstallerError(
      `CNI_NETWORK_CONFIG has no plugin with "ipam": {"type": "${pluginName}"}: pods would get no address from topology-ipam`,
    );
  }
  return `${JSON.stringify(parsed.data, null, 2)}\n`;
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

const exists = (file: string): Promise<boolean> =>
  fs.access(file).then(
    () => true,
    () => false,
  );

/**
 * The forwarder in the image, and where it goes on the host: under its own name and under the chained
 * plugin's, which the binary reads to choose its mode (a runtime runs the binary its `type` names).
 */
function forwarder(settings: InstallerSettings): { source: string; targets: string[] } {
  return {
    source: path.join(settings.SOURCE_DIR, pluginName),
    targets: [pluginName, routesPluginName].map((name) => path.join(installPaths(settings).binDir, name)),
  };
}

export async function installForwarder(settings: InstallerSettings): Promise<StepReport> {
  const { source, targets } = forwarder(settings);
  await fs.mkdir(installPaths(settings).binDir, { recursive: true, mode: 0o755 });
  const report: StepReport = {};
  for (const target of targets) {
    try {
      report[target] = await copyIfChanged(source, target, 0o755);
    } catch (error) {
      throw new InstallerError(`cannot install ${source} as ${target}: ${errorMessage(error)}`);
    }
  }
  return report;
}

/** True when the forwarder is in place under both names (a cheap check for the re-sync loop: no hashing). */
export async function forwarderPresent(settings: InstallerSettings): Promise<boolean> {
  const present = await Promise.all(forwarder(settings).targets.map(exists));
  return present.every(Boolean);
}

export async function syncConflist(settings: InstallerSettings): Promise<StepReport> {
  if (settings.CNI_NETWORK_CONFIG.trim() === '') return {};
  const { conflist } = installPaths(settings);
  const content = renderConflist(settings.CNI_NETWORK_CONFIG);
  await fs.mkdir(path.dirname(conflist), { recursive: true, mode: 0o755 });
  return { [conflist]: await writeIfChanged(conflist, content, 0o644) };
}

async function removeIfPresent(file: string): Promise<FileOutcome | undefined> {
  try {
    await fs.rm(file);
    return 'removed';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Removes what versions before the node agent installed and nothing reads any more: the credentials
 * (a copy of a service account token has no business on the host once no plugin uses it), then the
 * `node` binary and the bundle the launcher ran. `node` goes only while the bundle is still there, as
 * proof it is ours, and the bundle last, so an interrupted clean-up is finished by the next one.
 */
export async function removeLegacyFiles(settings: InstallerSettings): Promise<StepReport> {
  const { binDir, legacyCredentialsDir } = installPaths(settings);
  const report: StepReport = {};
  const note = (file: string, outcome: FileOutcome | undefined) => {
    if (outcome !== undefined) report[file] = outcome;
  };
  for (const name of ['kubeconfig', 'token', 'ca.crt']) {
    const file = path.join(legacyCredentialsDir, name);
    note(file, await removeIfPresent(file));
  }
  await fs.rmdir(legacyCredentialsDir).catch((error: unknown) => {
    // Absent, or holding files we did not write: either way not ours to remove.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY') throw error;
  });
  const bundle = path.join(binDir, `${pluginName}.mjs`);
  if (await exists(bundle)) {
    const node = path.join(binDir, 'node');
    note(node, await removeIfPresent(node));
    note(bundle, await removeIfPresent(bundle));
  }
  return report;
}

/** The forwarder, then the conflist, then the clean-up of an earlier version's files: everything, once. */
export async function installOnce(settings: InstallerSettings): Promise<StepReport> {
  return {
    ...(await installForwarder(settings)),
    ...(await syncConflist(settings)),
    ...(await removeLegacyFiles(settings)),
  };
}

/** One re-sync: the conflist, and the forwarder if it went missing. */
export async function resync(settings: InstallerSettings): Promise<StepReport> {
  return {
    ...((await forwarderPresent(settings)) ? {} : await installForwarder(settings)),
    ...(await syncConflist(settings)),
  };
}

const changed = (report: StepReport): string[] =>
  Object.entries(report)
    .filter(([, outcome]) => outcome !== 'unchanged')
    .map(([file]) => file);

/**
 * Installs, then (with WATCH) re-syncs every SYNC_SECONDS until `signal` aborts. A failed first install
 * throws (the pod restarts and shows the error); a failed re-sync is logged and retried.
 */
export async function runInstaller(
  settings: InstallerSettings,
  options: { signal: AbortSignal; log: Logger },
): Promise<void> {
  const { log, signal } = options;
  const first = await installOnce(settings);
  log.info('installed', {
    node: settings.NODE_NAME,
    changed: changed(first),
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
      const files = changed(report);
      if (files.length > 0) log.info('updated', { changed: files });
    } catch (error) {
      log.error('re-sync failed; retrying', { error: errorMessage(error) });
    }
  }
}
