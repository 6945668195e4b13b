/**
 * The CNI installer the chart's DaemonSet runs on every node: installs the forwarder and the conflist into
 * the host's CNI directories, then (WATCH=true) keeps them in place until SIGTERM. Logs are
 * JSON lines on stdout; a failed first install exits 1 with one readable line.
 */
import { errorMessage } from '../common/index.js';
import { jsonLogger } from '../runtime/index.js';
import { runInstaller } from './install.js';
import { installerSettings } from './settings.js';

const log = jsonLogger({
  write: (line) => process.stdout.write(line),
  base: { component: 'cni-installer' },
});

export async function main(): Promise<number> {
  const settings = installerSettings();
  const shutdown = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info('stopping', { signal });
      shutdown.abort();
    });
  }
  await runInstaller(settings, { signal: shutdown.signal, log });
  return 0;
}

process.exitCode = await main().catch((error: unknown) => {
  log.error('install failed', { error: errorMessage(error) });
  return 1;
});
