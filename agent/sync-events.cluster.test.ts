/**
 * Failed syncs of routes and natOutgoing are Events on the Node, from the real API server: the agent
 * syncs into a network namespace that does not exist yet (every `ip -n` and `nft` fails), then into it
 * once it is made. Needs root, iproute2 and nftables; the namespace is removed whatever happens.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, loadConnection } from '../kube/index.js';
import { type AdminClients, adminClients, createNodes, removeNodes } from '../local-cluster/clients.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import { type RunningAgent, startAgent } from './agent.js';

const cluster = clusterTestContext(import.meta.url);
const node = `${cluster.prefix}-node`;
const netns = `se${process.pid % 100_000}-node`;
let dir: string;
let admin: AdminClients;
let agent: RunningAgent | undefined;

const withReason = (reason: string) => cluster.events(`involvedObject.name=${node},reason=${reason}`);
/** The Events of `reason` once there is one. */
const recorded = (reason: string) =>
  eventually(() => {
    const events = withReason(reason);
    return events.length > 0 ? events : undefined;
  });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-sync-events-'));
  admin = adminClients(cluster.kubeconfig);
  await createNodes(admin.nodes, [node]);
});

afterAll(async () => {
  await agent?.stop(5_000);
  try {
    execFileSync('ip', ['netns', 'del', netns], { stdio: 'pipe' });
  } catch {
    // Never made (a failure before it) or gone already.
  }
  cluster.tryKubectl([
    'delete',
    'events',
    '-n',
    'default',
    '--field-selector',
    `involvedObject.name=${node}`,
  ]);
  await removeNodes(admin.nodes, [node]);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('Events on the Node about route and natOutgoing syncs', () => {
  it('records one Warning with the advice for a streak of failed syncs, and a Normal Event when they go through again', async () => {
    const running = await startAgent({
      node,
      client: new KubeClient(loadConnection(cluster.kubeconfig), { userAgent: 'topology-ipam-agent' }),
      socketPath: path.join(dir, 'agent.sock'),
      routes: { netns, resyncMs: 200 },
      natOutgoing: { netns, resyncMs: 200 },
    });
    agent = running;
    // A streak of several failed runs of each.
    await eventually(
      () =>
        ((running.routes?.sync.failures ?? 0) >= 3 && (running.natOutgoing?.sync.failures ?? 0) >= 3) ||
        undefined,
    );
    for (const [reason, what] of [
      ['RouteSyncFailed', 'routes'],
      ['NatSyncFailed', 'natOutgoing table'],
    ] as const) {
      const events = await recorded(reason);
      expect(events).toEqual([
        expect.objectContaining({
          type: 'Warning',
          count: 1,
          involvedObject: expect.objectContaining({ kind: 'Node', name: node }) as unknown,
        }),
      ]);
      expect(events[0]?.message).toMatch(new RegExp(`^${what} not synced; .+\\. The error: .*${netns}`));
    }
    expect(cluster.kubectl(['describe', 'node', node])).toMatch(/Warning\s+RouteSyncFailed/);

    execFileSync('ip', ['netns', 'add', netns], { stdio: 'pipe' });
    for (const reason of ['RouteSyncRecovered', 'NatSyncRecovered']) {
      expect(await recorded(reason)).toEqual([expect.objectContaining({ type: 'Normal', count: 1 })]);
    }
    expect(running.routes?.sync.lastError).toBeUndefined();
    expect(running.natOutgoing?.sync.lastError).toBeUndefined();
    // Still one Warning each: the failed runs after the first added none.
    expect(withReason('RouteSyncFailed')).toHaveLength(1);
    expect(withReason('NatSyncFailed')).toHaveLength(1);
  });
});
