/**
 * How the local cluster starts its servers and makes sure they go: each one logs to `<dir>/<name>.log`
 * and leaves its pid in `<dir>/<name>.pid`, where a clean-up script finds it, and a reaper runs that
 * script once the process that started them is gone, however it went (SIGKILL included).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const reaperScript = path.join(here, 'reaper.sh');
/** The clean-up of a folder of servers and nothing else: stops every pid file's process, removes the folder. */
export const stopScript = path.join(here, 'stop.sh');

export interface ServerOptions {
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Keeps running after this process exits (`npm run cluster:up`, `npm run node:up`). */
  readonly detached?: boolean;
}

/** Starts `binary` with its output appended to `<dir>/<name>.log` and its pid written to `<dir>/<name>.pid`. */
export function spawnServer(
  dir: string,
  name: string,
  binary: string,
  args: readonly string[],
  options: ServerOptions = {},
): ChildProcess {
  const log = fs.openSync(path.join(dir, `${name}.log`), 'a');
  const child = spawn(binary, args, {
    stdio: ['ignore', log, log],
    env: { ...process.env, ...options.env },
    detached: options.detached === true,
  });
  fs.closeSync(log);
  if (child.pid !== undefined) fs.writeFileSync(path.join(dir, `${name}.pid`), String(child.pid));
  if (options.detached === true) child.unref();
  return child;
}

/** Runs `bash cleanScript dir` once this process is gone, unless `dir` was removed first. */
export function startReaper(dir: string, cleanScript: string): ChildProcess {
  const reaper = spawn('bash', [reaperScript, String(process.pid), dir, cleanScript], {
    stdio: 'ignore',
    detached: true,
  });
  reaper.unref();
  return reaper;
}
