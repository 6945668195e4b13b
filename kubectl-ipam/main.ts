/** The `kubectl-ipam` executable: kubectl runs it for `kubectl ipam …` when it is on PATH. */
import { errorStack } from '../common/index.js';
import { runPlugin } from './plugin.js';
import { progressLine } from './terminal.js';

runPlugin(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  tty: process.stdout.isTTY,
  progress: progressLine(process.stderr.isTTY, (text) => process.stderr.write(text)),
  now: () => new Date(),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`error: ${errorStack(error)}\n`);
    process.exitCode = 2;
  },
);
