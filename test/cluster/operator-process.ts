import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'operator', 'main.ts');

/** A real operator process, as its Deployment runs it. */
export interface OperatorProcess {
  readonly name: string;
  readonly process: ChildProcess;
  /** Its JSON log lines, as they come. */
  readonly logs: string[];
  /** Its exit code (null if killed by a signal). */
  readonly exited: Promise<number | null>;
}

/** Starts operator/main.ts with the given settings (POD_NAME is `name`), its logs collected. */
export function startOperatorProcess(
  name: string,
  settings: Readonly<Record<string, string>>,
): OperatorProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', main], {
    env: { ...process.env, ...settings, POD_NAME: name },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: string[] = [];
  child.stderr
    .setEncoding('utf8')
    .on('data', (chunk: string) => logs.push(...chunk.split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      resolve(code);
    }),
  );
  return { name, process: child, logs, exited };
}
