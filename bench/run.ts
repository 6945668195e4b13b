/**
 * `npm run bench [-- NAME...] [-- FLAGS]`: runs the benchmarks in bench/ one after another, each in its
 * own process so one's garbage does not weigh on the next; the arguments from the first flag on go to
 * each of them (`npm run bench -- pods --repetitions 10`). With no names it runs those that need no
 * control plane (forwarder builds the Go forwarder); the ones that start one (operator, cni, pods) run
 * when named.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const withoutControlPlane = ['selector', 'pools', 'forwarder'];
const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const firstFlag = args.findIndex((arg) => arg.startsWith('-'));
const named = firstFlag === -1 ? args : args.slice(0, firstFlag);
const flags = firstFlag === -1 ? [] : args.slice(firstFlag);
const names = named.length > 0 ? named : withoutControlPlane;

for (const name of names) {
  process.stdout.write(`\n== bench/${name}.ts\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, `${name}.ts`), ...flags], {
    stdio: 'inherit',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
