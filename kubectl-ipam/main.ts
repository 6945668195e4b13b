/** The `kubectl-ipam` executable: kubectl runs it for `kubectl ipam …` when it is on PATH. */
import { errorStack } from '../common/index.js';
import { runPlugin } from './plugin.js';

runPlugin(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  tty: process.stdout.isTTY,
  // One line on the terminal, rewritten as each list arrives, cleared before the output.
  ...(process.stderr.isTTY
    ? { progress: (text: string | undefined) => process.stderr.write(`\r\u001b[K${text ?? ''}`) }
    : {}),
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
