/**
 * CNI STATUS driven by the runtime: with the node's conflist at cniVersion 1.1.0, containerd 2 runs
 * STATUS on the network each time the kubelet asks the runtime for its status (every 5 s), and the
 * kubelet turns a failed STATUS into the node's Ready condition, our error in its message. Proves it
 * with the agent's own answer (no pool selects the node: code 50) and with the forwarder's (the agent
 * cannot be reached: code 11), and that the node turns Ready again once the cause is gone. The node starts at 1.0.0 (as
 * the chart's default) and is moved to 1.1.0 once a pool selects it, as an upgrade of the chart's
 * `cni.conflist.cniVersion` would: at 1.1.0 a node no pool selects is not Ready, so it would not start.
 * (containerd, up to 2.4, never calls GC: see README.)
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipamResources } from '../../allocator/index.js';
import { KubeClient, loadConnection } from '../../kube/index.js';
import { eventually } from '../eventually.js';
import { createAllocatablePool } from '../pools.js';
import { LocalCluster } from './cluster.js';
import type { RealNode } from './node.js';

const nodeName = 'status-node';
const pool = 'status-rack-0';

let cluster: LocalCluster | undefined;

function theNode(): RealNode {
  const node = cluster?.nodes[0];
  if (node === undefined) throw new Error('no node');
  return node;
}

/** The node's Ready condition as `<status> <message>`. */
function readiness(): string {
  if (cluster === undefined) throw new Error('no cluster');
  return cluster.kubectl([
    'get',
    'node',
    nodeName,
    '-o',
    'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}',
  ]);
}

const becomes = (predicate: (ready: string) => boolean): Promise<string> =>
  eventually(
    () => {
      const ready = readiness();
      return predicate(ready) ? ready : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 500 },
  );

beforeAll(async () => {
  cluster = await LocalCluster.start({ nodes: [{ name: nodeName, labels: { rack: '0' } }] });
  const resources = ipamResources(new KubeClient(loadConnection(cluster.plane.kubeconfigPath)));
  await createAllocatablePool(resources, {
    metadata: { name: pool },
    spec: { cidr: '10.78.0.0/24', blockSize: 28, nodeSelector: 'rack == "0"' },
  });
  const node = theNode();
  await node.useConflist({ ...node.conflist().json, cniVersion: '1.1.0' });
});

afterAll(() => {
  cluster?.stop();
});

describe('a node whose network is at CNI 1.1.0', () => {
  it("is not Ready while the agent's STATUS fails, with its reason, and Ready again after", async () => {
    cluster?.kubectl(['label', 'node', nodeName, 'rack=1', '--overwrite']);
    try {
      const notReady = await becomes((ready) => ready.startsWith('False'));
      expect(notReady).toContain('NetworkPluginNotReady');
      // Code 50's message, then the agent's details: the pool passed over and why.
      expect(notReady).toContain(
        `plugin not available; IPv4 pools passed over: ${pool}: nodeSelector rack == "0" does not match`,
      );
    } finally {
      cluster?.kubectl(['label', 'node', nodeName, 'rack=0', '--overwrite']);
    }
    await becomes((ready) => ready.startsWith('True'));
  });

  it('is not Ready while its agent cannot be reached, and Ready again once it can', async () => {
    const socket = theNode().paths.agentSocket;
    const away = `${socket}.away`;
    fs.renameSync(socket, away);
    try {
      const notReady = await becomes((ready) => ready.startsWith('False'));
      expect(notReady).toContain('topology-ipam node agent unreachable');
    } finally {
      fs.renameSync(away, socket);
    }
    await becomes((ready) => ready.startsWith('True'));
  });
});
