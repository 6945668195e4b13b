/**
 * `npm run cluster:up` / `npm run cluster:down`: a local control plane (etcd + kube-apiserver on
 * loopback) for people and scripts. `up` reuses a running one; `down` stops it and removes its state.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ControlPlane, type ControlPlaneState } from '../local-cluster/control-plane.js';
import { installCrds } from '../local-cluster/crds.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const clusterDir = path.join(repo, '.cache', 'cluster');
const stateFile = path.join(clusterDir, 'state.json');

function readState(): ControlPlaneState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile, 'utf8')) as ControlPlaneState;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts the local control plane unless one is running; returns its state. */
export async function clusterUp(): Promise<ControlPlaneState> {
  const existing = readState();
  if (existing && existing.pids.length > 0 && existing.pids.every(isAlive)) return existing;
  if (existing) await clusterDown();
  fs.mkdirSync(clusterDir, { recursive: true });
  const plane = await ControlPlane.start({ stateDir: path.join(clusterDir, 'state'), detached: true });
  installCrds(plane.binaries.kubectl, plane.kubeconfigPath);
  const state = plane.state();
  fs.writeFileSync(stateFile, JSON.stringify(state, null, 2));
  return state;
}

export async function clusterDown(): Promise<void> {
  const state = readState();
  if (state) {
    for (const pid of state.pids) if (isAlive(pid)) process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 40 && state.pids.some(isAlive); i++) await sleep(250);
    for (const pid of state.pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  fs.rmSync(clusterDir, { recursive: true, force: true });
}

async function main(command: string | undefined): Promise<void> {
  switch (command ?? '') {
    case 'up': {
      const state = await clusterUp();
      process.stdout.write(`# local control plane at ${state.server}\n`);
      process.stdout.write(`export KUBECONFIG=${state.kubeconfigPath}\n`);
      process.stdout.write(`export PATH=${state.binDir}:$PATH\n`);
      return;
    }
    case 'down':
      await clusterDown();
      process.stdout.write('local control plane stopped and removed\n');
      return;
    default:
      process.stderr.write('usage: cluster.ts up|down\n');
      process.exitCode = 2;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv[2]);
