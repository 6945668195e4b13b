/**
 * Real pods on a real node: a kubelet and containerd registered against a real control plane, the pod
 * network set up by this project's installer code, forwarder and node agent. No scheduler runs: pods
 * name their node. Proves that a pod waits, with the reason in its events, until a pool selects its node;
 * that its address then comes from its rack's pool and is recorded on a block under the pod's handle;
 * that pods on the node reach each other; and that deleting them releases their addresses.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IpamResources, ipamResources } from '../../allocator/index.js';
import type { Allocation } from '../../api/index.js';
import { cidrContainsAddress, parseAddress, parseCidr } from '../../ipam/index.js';
import { KubeClient, loadConnection } from '../../kube/index.js';
import { ControlPlane } from '../control-plane.js';
import { installCrds } from '../crds.js';
import { eventually } from '../eventually.js';
import { createAllocatablePool } from '../pools.js';
import { testImage } from './image.js';
import { RealNode, networkName } from './node.js';

const nodeName = 'rack-0-node-0';
const pool = { name: 'rack-0', cidr: '10.77.0.0/24' };

interface PodJson {
  metadata: { name: string; uid: string };
  status?: { phase?: string; podIP?: string };
}

let plane: ControlPlane | undefined;
let node: RealNode | undefined;
let resources: IpamResources;

function kubectl(args: readonly string[], input?: string): string {
  if (plane === undefined) throw new Error('no control plane');
  return execFileSync(plane.binaries.kubectl, args, {
    env: { ...process.env, KUBECONFIG: plane.kubeconfigPath },
    input,
    encoding: 'utf8',
    stdio: 'pipe',
  });
}

function createPod(name: string, command: readonly string[], restartPolicy: 'Always' | 'Never'): void {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName,
      restartPolicy,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: testImage, imagePullPolicy: 'Never', command }],
    },
  };
  kubectl(['create', '-f', '-'], JSON.stringify(pod));
}

const getPod = (name: string): PodJson => JSON.parse(kubectl(['get', 'pod', name, '-o', 'json'])) as PodJson;

/** Waits until the pod is in `phase`; a pod that ends in another phase fails at once. */
function podInPhase(name: string, phase: string): Promise<PodJson> {
  return eventually(
    () => {
      const pod = getPod(name);
      if (pod.status?.phase === phase) return pod;
      if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded')
        throw new Error(`pod ${name} ended ${pod.status.phase}: ${kubectl(['describe', 'pod', name])}`);
      return undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
}

/** The sandbox containerd made for the pod: its id is the container id CNI was called with. */
function sandboxOf(podUid: string): string {
  if (node === undefined) throw new Error('no node');
  for (const id of node.ctr(['containers', 'list', '--quiet']).split('\n').filter(Boolean)) {
    const info = JSON.parse(node.ctr(['containers', 'info', id])) as { Labels?: Record<string, string> };
    if (
      info.Labels?.['io.cri-containerd.kind'] === 'sandbox' &&
      info.Labels['io.kubernetes.pod.uid'] === podUid
    )
      return id;
  }
  throw new Error(`no sandbox for pod ${podUid}`);
}

async function allocations(): Promise<Allocation[]> {
  const blocks = (await resources.blocks.list()).items;
  return blocks.flatMap((block) => block.spec.allocations);
}

beforeAll(async () => {
  plane = await ControlPlane.start();
  installCrds(plane.binaries.kubectl, plane.kubeconfigPath);
  resources = ipamResources(new KubeClient(loadConnection(plane.kubeconfigPath)));
  node = await RealNode.start({
    name: nodeName,
    labels: { rack: '0' },
    stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-node-')),
    kubelet: path.join(plane.binaries.binDir, 'kubelet'),
    kubeconfig: plane.kubeconfigPath,
  });
});

afterAll(async () => {
  node?.stop();
  await plane?.stop();
});

describe('a real node', () => {
  it('registers with its rack label', () => {
    const labels = JSON.parse(
      kubectl(['get', 'node', nodeName, '-o', 'jsonpath={.metadata.labels}']),
    ) as Record<string, string>;
    expect(labels.rack).toBe('0');
  });

  it("runs pods with addresses from the rack's pool, reachable from each other, released on delete", async () => {
    // Before any pool selects the node, the reason is in the pod's events, where `kubectl describe` shows it.
    createPod('server', ['sleep', '3600'], 'Always');
    await eventually(
      () =>
        kubectl(['get', 'events', '--field-selector', 'involvedObject.name=server', '-o', 'json']).includes(
          `no IPv4 pool selects node ${nodeName}`,
        ) || undefined,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    await createAllocatablePool(resources, {
      metadata: { name: pool.name },
      spec: { cidr: pool.cidr, blockSize: 28, nodeSelector: 'rack == "0"' },
    });
    const server = await podInPhase('server', 'Running');
    const ip = server.status?.podIP ?? '';
    expect(cidrContainsAddress(parseCidr(pool.cidr), parseAddress(ip))).toBe(true);

    const blocks = (await resources.blocks.list()).items;
    const holder = blocks.find((block) =>
      block.spec.allocations.some((allocation) => allocation.pod === 'server'),
    );
    expect(holder && cidrContainsAddress(parseCidr(holder.spec.cidr), parseAddress(ip))).toBe(true);
    expect(holder?.spec.allocations.find((allocation) => allocation.pod === 'server')).toMatchObject({
      handle: `${networkName}.${sandboxOf(server.metadata.uid)}.eth0`,
      namespace: 'default',
      podUID: server.metadata.uid,
      node: nodeName,
    });

    createPod('client', ['ping', '-c', '3', '-W', '5', ip], 'Never');
    const client = await podInPhase('client', 'Succeeded');
    expect(client.status?.podIP).not.toBe(ip);

    kubectl(['delete', 'pod', 'server', 'client', '--wait=true', '--timeout=90s']);
    await eventually(
      async () =>
        (await allocations()).some((allocation) => allocation.node === nodeName) ? undefined : true,
      { timeoutMs: 60_000 },
    );
  });
});
