/**
 * The plugin's entry point, kept thin: VERSION is answered at once from a module with no imports; every
 * other command loads `run.ts` (zod, the Kubernetes client) on demand, reads stdin, prints the outcome
 * and exits with its code.
 */
import { versionInfo } from './versions.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function finish(stdout: string, exitCode: number): void {
  // Exit only once stdout is flushed (it may be a pipe); pending sockets and timers must not keep us alive.
  if (stdout === '') process.exit(exitCode);
  process.stdout.write(stdout, () => process.exit(exitCode));
}

if (process.env.CNI_COMMAND === 'VERSION') {
  finish(versionInfo(), 0);
} else {
  const { run } = await import('./run.js');
  const outcome = await run(process.env, await readStdin());
  finish(outcome.stdout, outcome.exitCode);
}
