/**
 * The operator and the node agents as their Deployment and DaemonSet run them: the real bundles
 * (dist/operator/main.mjs, dist/agent/agent.mjs) in processes of their own, started again whenever one
 * exits (as the kubelet restarts a container), and killed with SIGKILL on demand. Their JSON logs are
 * appended to a file per component, kept when a run fails.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { killAndWait } from '../local-cluster/control-plane.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const operatorBundle = path.join(repo, 'dist', 'operator', 'main.mjs');
export const agentBundle = path.join(repo, 'dist', 'agent', 'agent.mjs');

/** Builds dist/operator/main.mjs and dist/agent/agent.mjs from the working tree (`npm run build -- operator agent`). */
export function buildBundles(): void {
  execFileSync(
    process.execPath,
    ['--import', 'tsx', path.join(repo, 'scripts', 'build.ts'), 'operator', 'agent'],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

export interface SupervisedProcessOptions {
  readonly bundle: string;
  /** Node's own flags, before the bundle (the agent's V8 memory flags, as its DaemonSet passes them). */
  readonly nodeFlags?: readonly string[];
  /** The environment of the `start`-th start (0 first), as a new pod would get it. */
  readonly env: (start: number) => Readonly<Record<string, string>>;
  /** Every start's stderr (its JSON log) is appended here. */
  readonly logFile: string;
  /** A start is ready once a line of its log contains this; at once if unset. */
  readonly readyWhenLogged?: string;
}

/** How long a start may take to log that it is ready: the API server may be restarting meanwhile. */
const readyTimeoutMs = 180_000;

export class SupervisedProcess {
  private child: ChildProcess | undefined;
  private starts = 0;
  private stopping = false;
  private readyNow: Promise<void> = Promise.resolve();
  /** Exits the driver did not cause (a crash, lost leadership): the supervisor restarted each. */
  unexpectedExits = 0;

  constructor(private readonly options: SupervisedProcessOptions) {}

  /**
   * Resolves once the running start is ready; through restarts after a crash (each gets a second to
   * come), but rejects if none is ready within a few minutes.
   */
  async whenReady(): Promise<void> {
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      try {
        await this.readyNow;
        return;
      } catch (error) {
        if (this.stopping || Date.now() > deadline) throw error;
        await sleep(1500);
      }
    }
  }

  start(): void {
    // One container per pod: if the supervisor's own restart after a crash came first, that one runs.
    if (this.child !== undefined) return;
    const log = fs.createWriteStream(this.options.logFile, { flags: 'a' });
    const child = spawn(process.execPath, [...(this.options.nodeFlags ?? []), this.options.bundle], {
      env: { PATH: process.env.PATH, ...this.options.env(this.starts++) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    child.stderr.pipe(log);
    const marker = this.options.readyWhenLogged;
    this.readyNow =
      marker === undefined
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            let seen = '';
            const timer = setTimeout(() => {
              reject(new Error(`${this.options.logFile}: no "${marker}" within ${readyTimeoutMs / 1000} s`));
            }, readyTimeoutMs);
            child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
              // Keep only a marker's length of the previous chunk: enough for one split across chunks.
              seen = seen.slice(-marker.length) + chunk;
              if (seen.includes(marker)) {
                clearTimeout(timer);
                resolve();
              }
            });
            child.once('exit', (code, signal) => {
              clearTimeout(timer);
              reject(new Error(`${this.options.logFile}: exited (${signal ?? code}) before it was ready`));
            });
          });
    // Whoever waits for readiness sees a failure; an unwatched start must not crash the driver.
    this.readyNow.catch(() => undefined);
    child.once('exit', () => {
      if (this.child !== child || this.stopping) return;
      this.child = undefined;
      this.unexpectedExits++;
      // A kubelet restarts a crashed container after a back-off; one second stands in for it.
      void sleep(1000).then(() => {
        if (!this.stopping) this.start();
      });
    });
  }

  /** kill -9 of the running start. Nothing runs until `start`, as between a crash and the kubelet's restart. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await killAndWait(child, 'SIGKILL');
  }

  /** kill -9, then a new start at once, as a Deployment would schedule a new replica. */
  async killAndRestart(): Promise<void> {
    await this.kill();
    this.start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await killAndWait(this.child, 'SIGTERM');
  }
}
