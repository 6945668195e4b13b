/**
 * The node agents across an API-server restart (issue 9, item 12). After a restart each custom resource's
 * watch cache initialises on first use, answering 429 "storage is (re)initializing" meanwhile. The
 * plugin once kept the rejected read of the IPAMConfig (and of the pools) for the whole invocation, so
 * every retry failed at once with the same 429: hundreds of "conflicts" until the deadline, then code 11.
 * Now the agents, started before the restart as the DaemonSet's are, ride it out: their watches break,
 * their informers list again, and ADDs succeed after. Whether an agent is the one that meets the 429
 * depends on timing (the API server's own start-up touches some caches), so the test restarts three
 * times, with a fresh node (no block yet) each time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClients, createNodes } from '../local-cluster/clients.js';
import { ControlPlane } from '../local-cluster/control-plane.js';
import { installCrds } from '../local-cluster/crds.js';
import { eventually } from '../local-cluster/eventually.js';
import {
  type InstalledPlugin,
  installPlugin,
  invokePlugin,
  removePlugin,
  startNodeAgent,
} from './testing.js';
import { createAllocatablePool } from '../local-cluster/pools.js';

// Its own control plane: restarting the shared one would disturb the other test files.
let plane: ControlPlane;
let plugin: InstalledPlugin;
const nodeNames = ['node-a', 'node-b', 'node-c'];

beforeAll(async () => {
  plane = await ControlPlane.start();
  installCrds(plane.binaries.kubectl, plane.kubeconfigPath);
  plugin = await installPlugin({ kubeconfig: plane.kubeconfigPath });
  const { client, nodes, resources } = adminClients(plane.kubeconfigPath);
  await createNodes(nodes, nodeNames);
  await createAllocatablePool(resources, {
    metadata: { name: 'pool-a' },
    spec: { cidr: '10.77.0.0/24', blockSize: 28 },
  });
  client.close();
  for (const name of nodeNames) await startNodeAgent(plugin, name);
}, 300_000);

afterAll(async () => {
  if ((plugin as InstalledPlugin | undefined) !== undefined) await removePlugin(plugin);
  await plane.stop();
});

const add = (node: string, containerId: string) =>
  invokePlugin(plugin, {
    command: 'ADD',
    containerId,
    config: {
      cniVersion: '1.0.0',
      name: 'net',
      type: 'bridge',
      ipam: { type: 'topology-ipam', nodename: node, timeout_seconds: 30 },
    },
  });

describe('the node agents across an API-server restart', () => {
  it.each(nodeNames)(
    'the first ADD after a restart (on %s) claims a block and assigns an address, instead of retrying one 429 until code 11',
    async (node) => {
      await plane.killApiServer();
      await plane.startApiServer();
      const outcome = await add(node, 'after-restart');
      expect(outcome.exitCode, outcome.stdout).toBe(0);
      expect(outcome.json?.ips).toEqual([
        { address: expect.stringMatching(/^10\.77\.0\.\d+\/28$/) as unknown },
      ]);
      // Every agent, this one included, is back in sync with the API server.
      for (const agent of plugin.agents.values()) {
        await eventually(() => (agent.health().ready ? true : undefined), { timeoutMs: 60_000 });
      }
      // The nodes that claimed a block before this restart assign from it as before.
      for (const before of nodeNames.slice(0, nodeNames.indexOf(node))) {
        const again = await add(before, `after-restart-${node}`);
        expect(again.exitCode, again.stdout).toBe(0);
      }
    },
    180_000,
  );
});
