import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A real component process (the operator, a node agent), as its Deployment or DaemonSet runs it. */
export interface ComponentProcess {
  readonly name: string;
  readonly process: ChildProcess;
  /** Its JSON log lines, as they come. */
  readonly logs: string[];
  /** Its exit code (null if killed by a signal). */
  readonly exited: Promise<number | null>;
}
export type OperatorProcess = ComponentProcess;

/** The arguments of `node` that run `<entry>` (a path from the repository root) with `nodeFlags`. */
export function componentArgs(entry: string, nodeFlags: readonly string[] = []): string[] {
  const file = path.resolve(repo, entry);
  return [...nodeFlags, ...(file.endsWith('.mjs') ? [file] : ['--import', 'tsx', file])];
}

/**
 * Starts `<entry>` (a path from the repository root: TypeScript runs under tsx, a built `.mjs` bundle on
 * plain node) with `env` added, its logs collected.
 */
export function startComponentProcess(
  name: string,
  entry: string,
  env: Readonly<Record<string, string>>,
  nodeFlags: readonly string[] = [],
): ComponentProcess {
  const child = spawn(process.execPath, componentArgs(entry, nodeFlags), {
    env: { ...process.env, ...env },
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

/** Starts operator/main.ts with the given settings (POD_NAME is `name`), its logs collected. */
export function startOperatorProcess(
  name: string,
  settings: Readonly<Record<string, string>>,
): OperatorProcess {
  return startComponentProcess(name, 'operator/main.ts', { ...settings, POD_NAME: name });
}
