/**
 * The operator under API-server outages, as real processes against a control plane of this file's own
 * (stopping the shared one would disturb the other test files): a hung or dead API server must make a
 * leader exit rather than wedge, and the probes must say what is true.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labels as apiLabels } from '../api/index.js';
import {
  ApiTimeoutError,
  KubeClient,
  type Lease,
  type Node,
  ResourceClient,
  loadConnection,
} from '../kube/index.js';
import { adminClients } from '../local-cluster/clients.js';
import { ControlPlane } from '../local-cluster/control-plane.js';
import { installCrds } from '../local-cluster/crds.js';
import { eventually } from '../local-cluster/eventually.js';
import { type OperatorProcess, startOperatorProcess } from '../local-cluster/operator-process.js';
import { freePort } from '../local-cluster/ports.js';
import type { IpamResources } from '../allocator/index.js';

let plane: ControlPlane;
let client: KubeClient;
let resources: IpamResources;
let nodes: ResourceClient<Node>;
let leases: ResourceClient<Lease>;
const namespace = 'liveness';
const processes: OperatorProcess[] = [];

/** An operator process on this file's control plane, with short leader-election times. */
function startOperator(name: string, settings: Readonly<Record<string, string>>): OperatorProcess {
  const started = startOperatorProcess(name, {
    KUBECONFIG: plane.kubeconfigPath,
    POD_NAMESPACE: namespace,
    WEBHOOK_ENABLED: 'false',
    HEALTH_PORT: '0',
    API_TIMEOUT_SECONDS: '1',
    ...settings,
  });
  processes.push(started);
  return started;
}

const running = (replica: OperatorProcess) =>
  replica.process.exitCode === null && replica.process.signalCode === null;

async function addNode(name: string): Promise<void> {
  await nodes.create({ metadata: { name, labels: { liveness: 'yes' } } });
}

/** Waits until `node` holds a block: a leader is running its controllers. */
async function blockArrives(node: string): Promise<void> {
  await eventually(
    async () =>
      (await resources.blocks.list({ labelSelector: `${apiLabels.node}=${node}` })).items.length > 0
        ? true
        : undefined,
    { timeoutMs: 90_000, intervalMs: 250 },
  );
}

/** The live replica holding `lease`, once one does. */
async function leaderOf(lease: string, replicas: readonly OperatorProcess[]): Promise<OperatorProcess> {
  return eventually(
    async () => {
      const holder = (await leases.get(lease, namespace)).spec.holderIdentity;
      return replicas.find((replica) => replica.name === holder && running(replica));
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
}

/** Waits at most `ms` for the process to exit; its code, or 'running'. */
const exitWithin = (replica: OperatorProcess, ms: number): Promise<number | null | 'running'> =>
  Promise.race([replica.exited, sleep(ms, 'running' as const)]);

function probe(port: number, path: '/healthz' | '/readyz'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, timeout: 5_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, body });
      });
    });
    request.on('timeout', () => request.destroy(new Error('probe timed out')));
    request.on('error', reject);
  });
}

beforeAll(async () => {
  plane = await ControlPlane.start();
  installCrds(plane.binaries.kubectl, plane.kubeconfigPath);
  ({ client, resources, nodes, leases } = adminClients(plane.kubeconfigPath, { requestTimeoutMs: 5_000 }));
  await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name: namespace } } });
  await resources.pools.create({
    metadata: { name: 'liveness' },
    spec: { cidr: '10.124.0.0/16', nodeSelector: 'has(liveness)' },
  });
});

afterAll(async () => {
  for (const replica of processes) replica.process.kill('SIGKILL');
  plane.resumeApiServer();
  client.close();
  await plane.stop();
});

describe('the operator when the API server stops answering', () => {
  it('probes turn 503 with a reason while the API server is frozen, and 200 again once it answers', async () => {
    const port = await freePort();
    // A renew deadline longer than the outage: this replica keeps leading, so only the probes change.
    const replica = startOperator('probed', {
      HEALTH_PORT: String(port),
      LEASE_NAME: 'probed',
      LEASE_DURATION_SECONDS: '120',
      RENEW_DEADLINE_SECONDS: '90',
      RETRY_PERIOD_SECONDS: '0.5',
      API_UNREACHABLE_NOT_READY_SECONDS: '1',
      API_UNREACHABLE_UNHEALTHY_SECONDS: '2',
    });
    const statuses = async () => [
      (await probe(port, '/healthz')).status,
      (await probe(port, '/readyz')).status,
    ];
    await eventually(async () => ((await statuses()).join() === '200,200' ? true : undefined), {
      timeoutMs: 90_000,
    });

    plane.pauseApiServer();
    try {
      const [live, ready] = await eventually(
        async () => {
          const answers = [await probe(port, '/healthz'), await probe(port, '/readyz')];
          return answers.every((answer) => answer.status === 503) ? answers : undefined;
        },
        { timeoutMs: 60_000 },
      );
      expect(live?.body).toMatch(/^the API server has not answered for [\d.]+ s \(bound 2 s\)$/m);
      expect(ready?.body).toMatch(/^the API server has not answered for [\d.]+ s \(bound 1 s\)$/m);
      // A request to the frozen server fails with the timeout error instead of hanging.
      const hung = new KubeClient(loadConnection(plane.kubeconfigPath), { requestTimeoutMs: 1_000 });
      await expect(hung.request('GET', '/api/v1/nodes')).rejects.toBeInstanceOf(ApiTimeoutError);
      hung.close();
    } finally {
      plane.resumeApiServer();
    }

    await eventually(async () => ((await statuses()).join() === '200,200' ? true : undefined), {
      timeoutMs: 90_000,
    });
    expect(running(replica)).toBe(true);
    replica.process.kill('SIGTERM');
    expect(await replica.exited).toBe(0);
  }, 240_000);

  it('a leader that cannot renew exits non-zero, hung or refused, and two replicas keep a leader through two outages', async () => {
    const settings = {
      LEASE_NAME: 'pair',
      LEASE_DURATION_SECONDS: '3',
      RENEW_DEADLINE_SECONDS: '2',
      RETRY_PERIOD_SECONDS: '0.5',
    };
    const replicas = [startOperator('pair-a', settings), startOperator('pair-b', settings)];
    await addNode('liveness-n0');
    await blockArrives('liveness-n0');

    // Outage 1: the API server hangs (SIGSTOP), longer than the renew deadline. The leader must give up
    // and exit while it still hangs: no request may block its renewal loop.
    const first = await leaderOf('pair', replicas);
    plane.pauseApiServer();
    let firstExit: number | null | 'running';
    try {
      firstExit = await exitWithin(first, 60_000);
    } finally {
      plane.resumeApiServer();
    }
    expect(firstExit).not.toBe('running');
    expect(firstExit).not.toBe(0);
    expect(first.logs.some((line) => line.includes('"lost leadership"'))).toBe(true);
    expect(first.logs.some((line) => line.includes('ApiTimeoutError'))).toBe(true);
    expect(replicas.filter(running)).toHaveLength(1);
    // The Deployment would start a fresh replica; the survivor or the fresh one takes over.
    replicas.push(startOperator('pair-c', settings));
    const second = await leaderOf('pair', replicas);
    await addNode('liveness-n1');
    await blockArrives('liveness-n1');

    // Outage 2: the API server is gone (connections refused) longer than the renew deadline.
    await plane.killApiServer();
    let secondExit: number | null | 'running';
    try {
      secondExit = await exitWithin(second, 60_000);
    } finally {
      await plane.startApiServer();
    }
    expect(secondExit).not.toBe('running');
    expect(secondExit).not.toBe(0);
    expect(replicas.filter(running)).toHaveLength(1);
    replicas.push(startOperator('pair-d', settings));

    // Still a leader, and it works: a new node gets its block.
    const third = await leaderOf('pair', replicas);
    expect(running(third)).toBe(true);
    await addNode('liveness-n2');
    await blockArrives('liveness-n2');
  }, 400_000);
});
