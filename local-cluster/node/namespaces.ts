/**
 * A node of its own on a shared host, as kind's node containers are: a network namespace whose eth0 (a
 * veth from the host) holds the node's InternalIP, and a mount namespace with a fresh /var/lib (the
 * kubelet's fixed device-plugin folder and libcni's result cache land there, not on the host) in which the
 * node's own folder is also `nodeFolder`, one path on every node as a DaemonSet's hostPaths need. Its
 * containerd, kubelet and pods (hostNetwork ones included) live in them. A holder process keeps them: a
 * server of the node's folder, so they go when clean.sh stops it and the rest of the node.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freeTestAddress } from './address.js';

/** The node's folder as the node sees it. */
export const nodeFolder = '/var/lib/topology-ipam-node';

export interface NodeNamespaces {
  /** The holder's pid: `nsenter --target` enters its namespaces. */
  readonly pid: number;
  /** The node's InternalIP, on its eth0. */
  readonly address: string;
}

/** The host's end of a node's veth: `<host id>v`, which clean.sh deletes. */
const hostLink = (hostId: string): string => `${hostId}v`;

/**
 * Starts the holder with `spawn` (a server of the node's folder `dir`), and wires its eth0 to the host: a
 * /32 route to the node on the host's end, a link-scope default route in the node (the host answers ARP
 * for its own addresses, the API server's among them).
 */
export async function startNodeNamespaces(
  dir: string,
  hostId: string,
  spawn: (binary: string, args: readonly string[]) => ChildProcess,
): Promise<NodeNamespaces> {
  const ready = path.join(dir, 'namespaces.ready');
  const holder = spawn('unshare', [
    '--mount',
    '--net',
    '--propagation',
    'private',
    'bash',
    '-ec',
    `mount -t tmpfs -o mode=0755 tmpfs /var/lib
mkdir ${nodeFolder} && mount --bind "$0" ${nodeFolder}
ip link set lo up
touch "$1"
exec sleep infinity`,
    dir,
    ready,
  ]);
  const deadline = Date.now() + 10_000;
  while (!fs.existsSync(ready)) {
    if (holder.exitCode !== null || Date.now() > deadline)
      throw new Error(`the node's namespaces did not start; see ${path.join(dir, 'namespaces.log')}`);
    await sleep(50);
  }
  const pid = holder.pid ?? 0;
  const address = freeTestAddress();
  const link = hostLink(hostId);
  execFileSync('ip', ['link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(pid)]);
  execFileSync('ip', ['link', 'set', link, 'up']);
  execFileSync('ip', ['route', 'add', `${address}/32`, 'dev', link]);
  execFileSync('nsenter', [
    `--target=${pid}`,
    '--net',
    'sh',
    '-ec',
    `ip link set eth0 up; ip addr add ${address}/32 dev eth0; ip route add default dev eth0 scope link`,
  ]);
  return { pid, address };
}

/**
 * `binary args` run in the node's namespaces, as `nsenter` arguments (it execs, so keeps the pid), in this
 * process's working directory (entering a mount namespace would start it in `/`).
 */
export const inNamespaces = (
  namespaces: NodeNamespaces,
  binary: string,
  args: readonly string[],
): [string, string[]] => [
  'nsenter',
  [`--target=${namespaces.pid}`, '--mount', '--net', `--wd=${process.cwd()}`, '--', binary, ...args],
];
