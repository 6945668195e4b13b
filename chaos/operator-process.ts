/**
 * The operator as its Deployment runs it: the real bundle (dist/operator/main.mjs) in a process of its own,
 * started again whenever it exits (as the kubelet would restart the container), and killed with SIGKILL
 * on demand. Each start is a new replica name, as a new pod would be.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { killAndWait } from '../test/cluster/control-plane.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bundle = path.join(repo, 'dist', 'operator', 'main.mjs');

/** Builds dist/operator/main.mjs from the working tree (`npm run build`'s first step). */
export function buildOperatorBundle(): void {
  execFileSync(process.execPath, ['--import', 'tsx', path.join(repo, 'scripts', 'build.ts')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export interface OperatorProcessOptions {
  readonly kubeconfig: string;
  readonly namespace: string;
  readonly leakGraceSeconds: number;
  /** Every replica's stderr (its JSON log) is appended here. */
  readonly logFile: string;
}

export class OperatorProcess {
  private child: ChildProcess | undefined;
  private starts = 0;
  private stopping = false;
  /** Exits the driver did not cause (lost leadership, a crash): the supervisor restarted it. */
  unexpectedExits = 0;

  constructor(private readonly options: OperatorProcessOptions) {}

  start(): void {
    const log = fs.openSync(this.options.logFile, 'a');
    const name = `chaos-operator-${this.starts++}`;
    const child = spawn(process.execPath, [bundle], {
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: this.options.kubeconfig,
        POD_NAMESPACE: this.options.namespace,
        POD_NAME: name,
        WEBHOOK_ENABLED: 'false',
        HEALTH_PORT: '0',
        LEASE_DURATION_SECONDS: '4',
        RENEW_DEADLINE_SECONDS: '3',
        RETRY_PERIOD_SECONDS: '0.5',
        LEAK_GRACE_SECONDS: String(this.options.leakGraceSeconds),
      },
      stdio: ['ignore', 'ignore', log],
    });
    fs.closeSync(log);
    this.child = child;
    child.once('exit', () => {
      if (this.child !== child || this.stopping) return;
      this.unexpectedExits++;
      // A kubelet restarts a crashed container after a back-off; one second stands in for it.
      void sleep(1000).then(() => {
        if (this.child === child && !this.stopping) this.start();
      });
    });
  }

  /** kill -9 of the running replica, then a new one, as a Deployment would start. */
  async killAndRestart(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await killAndWait(child, 'SIGKILL');
    this.start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await killAndWait(this.child, 'SIGTERM');
  }
}
