/**
 * `npm run bench [-- NAME...]`: runs the benchmarks in bench/ one after another, each in its own
 * process so one's garbage does not weigh on the next. With no names it runs those that need no control
 * plane (forwarder builds the Go forwarder); the ones that start one (operator, cni) run when named.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const withoutControlPlane = ['selector', 'pools', 'forwarder'];
const here = path.dirname(fileURLToPath(import.meta.url));
const names = process.argv.length > 2 ? process.argv.slice(2) : withoutControlPlane;

for (const name of names) {
  process.stdout.write(`\n== bench/${name}.ts\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, `${name}.ts`)], {
    stdio: 'inherit',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
