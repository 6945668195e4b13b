/**
 * The reaper guarantee of a local cluster: once the process that started it is gone, even killed with
 * SIGKILL (no clean-up of its own can run), its nodes' pods and daemons, the control plane and
 * everything they left on the host go. Runs after the pods suite (files run one at a time): two
 * kubelets on one host would share the kubelet's fixed device-plugin socket.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { eventually } from '../eventually.js';

const clusterModule = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cluster.ts');

interface Started {
  stateDir: string;
  pids: number[];
  hostId: string;
  addressLink: string;
}

/**
 * Whether `pid` runs: a zombie does not (a server whose parent was killed waits, exited, for whatever
 * adopted it to collect it).
 */
function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('a local cluster whose starting process is killed', () => {
  it('is removed by its reaper: processes, state folder, cgroups, bridge and links', async () => {
    const script = `
      const { LocalCluster } = await import(${JSON.stringify(clusterModule)});
      const { readFileSync } = await import('node:fs');
      const cluster = await LocalCluster.start({ nodes: [{ name: 'reaped-node', labels: {} }] });
      const { stateDir, pids } = cluster.state();
      const addressLink = readFileSync(stateDir + '/address-link', 'utf8');
      console.log(JSON.stringify({ stateDir, pids, hostId: cluster.nodes[0].hostId, addressLink }));`;
    const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    owner.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const started = await eventually(
      () => {
        if (owner.exitCode !== null) throw new Error(`the owner exited with ${owner.exitCode}`);
        const line = output.split('\n').find((candidate) => candidate.startsWith('{'));
        return line === undefined ? undefined : (JSON.parse(line) as Started);
      },
      { timeoutMs: 240_000, intervalMs: 250 },
    );
    expect(started.pids.every(isRunning)).toBe(true);

    const exited = once(owner, 'exit');
    owner.kill('SIGKILL');
    await exited;
    await eventually(() => (fs.existsSync(started.stateDir) ? undefined : true), {
      timeoutMs: 90_000,
      intervalMs: 500,
    });
    expect(started.pids.filter(isRunning)).toEqual([]);
    const hierarchies = fs.readdirSync('/sys/fs/cgroup');
    expect(
      hierarchies.filter((hierarchy) =>
        fs.existsSync(path.join('/sys/fs/cgroup', hierarchy, started.hostId)),
      ),
    ).toEqual([]);
    expect(fs.existsSync(path.join('/sys/class/net', started.hostId))).toBe(false);
    // The host's end of the node's veth, and the link of the API server's address.
    expect(fs.existsSync(path.join('/sys/class/net', `${started.hostId}v`))).toBe(false);
    expect(fs.existsSync(path.join('/sys/class/net', started.addressLink))).toBe(false);
  });
});
