/**
 * The CNI installer the chart's DaemonSet runs on every node: installs the forwarder and the conflist into
 * the host's CNI directories, then (WATCH=true) keeps them in place until SIGTERM. Logs are
 * JSON lines on stdout; a failed first install exits 1 with one readable line.
 */
import { type InstallerLog, runInstaller } from './install.js';
import { installerSettings } from './settings.js';

const log: InstallerLog = (level, message, fields = {}) => {
  process.stdout.write(
    `${JSON.stringify({ time: new Date().toISOString(), level, msg: message, component: 'cni-installer', ...fields })}\n`,
  );
};

export async function main(): Promise<number> {
  const settings = installerSettings();
  const shutdown = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log('info', 'stopping', { signal });
      shutdown.abort();
    });
  }
  await runInstaller(settings, { signal: shutdown.signal, log });
  return 0;
}

process.exitCode = await main().catch((error: unknown) => {
  log('error', 'install failed', { error: error instanceof Error ? error.message : String(error) });
  return 1;
});
