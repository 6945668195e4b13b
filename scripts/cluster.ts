/**
 * `npm run cluster:up` / `npm run cluster:down`: a local control plane (etcd + kube-apiserver on
 * loopback) for people and scripts. `npm run node:up` / `npm run node:down`: a local cluster with a real
 * node labelled rack=0 (containerd + kubelet, with a controller-manager and a scheduler; as root). `up`
 * reuses a running one; `down` stops it and removes its state.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ControlPlane, type ControlPlaneState } from '../local-cluster/control-plane.js';
import { installCrds } from '../local-cluster/crds.js';
import { LocalCluster, type LocalClusterState, stopLocalCluster } from '../local-cluster/node/cluster.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const clusterDir = path.join(repo, '.cache', 'cluster');
const stateFile = path.join(clusterDir, 'state.json');
/** The node cluster's state folder, and its state file inside (removed with it). */
const nodeClusterDir = path.join(repo, '.cache', 'node-cluster');
const nodeStateFile = path.join(nodeClusterDir, 'state.json');

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

const readState = (): ControlPlaneState | undefined => readJson(stateFile) as ControlPlaneState | undefined;

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

/** Starts the local cluster with one real node unless one is running; returns its state. */
export async function nodeClusterUp(): Promise<LocalClusterState> {
  const existing = readJson(nodeStateFile) as LocalClusterState | undefined;
  if (existing && existing.pids.length > 0 && existing.pids.every(isAlive)) return existing;
  nodeClusterDown();
  const cluster = await LocalCluster.start({
    stateDir: nodeClusterDir,
    detached: true,
    nodes: [{ name: 'rack-0-node-0', labels: { rack: '0' } }],
  });
  const state = cluster.state();
  fs.writeFileSync(nodeStateFile, JSON.stringify(state, null, 2));
  return state;
}

export function nodeClusterDown(): void {
  stopLocalCluster(nodeClusterDir);
}

function printUsage(state: { server: string; kubeconfigPath: string; binDir: string }, what: string): void {
  process.stdout.write(`# ${what} at ${state.server}\n`);
  process.stdout.write(`export KUBECONFIG=${state.kubeconfigPath}\n`);
  process.stdout.write(`export PATH=${state.binDir}:$PATH\n`);
}

async function main(command: string | undefined): Promise<void> {
  switch (command ?? '') {
    case 'up':
      printUsage(await clusterUp(), 'local control plane');
      return;
    case 'down':
      await clusterDown();
      process.stdout.write('local control plane stopped and removed\n');
      return;
    case 'node-up': {
      const state = await nodeClusterUp();
      printUsage(state, `local cluster with node ${state.nodes.join(', ')}`);
      return;
    }
    case 'node-down':
      nodeClusterDown();
      process.stdout.write('local cluster and its nodes stopped and removed\n');
      return;
    default:
      process.stderr.write('usage: cluster.ts up|down|node-up|node-down\n');
      process.exitCode = 2;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv[2]);
