/**
 * The project's own images (images/Dockerfile, built here by local-cluster/images/build.sh) run on a real
 * node after `importProjectImages`: the cni image's installer puts the forwarder in place and the
 * forwarder answers VERSION, the network tools run on the image's glibc, and the node agent turns ready
 * against the API server; the operator image's default command turns ready too. The pods use the host's
 * network, reaching the API server as a pod does (service account token and CA, KUBERNETES_SERVICE_*),
 * so that they need neither the pod network nor Services: installing the chart is the helm tests' part.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConnection } from '../../kube/index.js';
import { freePort } from '../ports.js';
import { LocalCluster } from './cluster.js';
import { type ProjectImages, importProjectImages, projectImages } from './project-images.js';

const nodeName = 'images-node';
let cluster: LocalCluster | undefined;
let images: ProjectImages;
/** How a pod on the host's network reaches the API server. */
let apiServerEnv: { name: string; value: string }[];

function kubectl(args: readonly string[], input?: string): string {
  if (cluster === undefined) throw new Error('no cluster');
  return cluster.kubectl(args, input);
}

/** An exec probe the image's node runs (no shell in the images): ready once /readyz on `port` answers 200. */
const readyzProbe = (port: number) => ({
  exec: {
    command: [
      '/nodejs/bin/node',
      '-e',
      `fetch('http://127.0.0.1:${String(port)}/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
    ],
  },
  periodSeconds: 2,
  timeoutSeconds: 10,
});

/** Creates a host-network pod of `containers` (and `initContainers`), and waits until it is Ready. */
async function readyPod(name: string, spec: Record<string, unknown>): Promise<{ uid: string }> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { nodeName, hostNetwork: true, restartPolicy: 'Never', terminationGracePeriodSeconds: 1, ...spec },
  };
  kubectl(['create', '-f', '-'], JSON.stringify(pod));
  const deadline = Date.now() + 150_000;
  for (;;) {
    const status = JSON.parse(kubectl(['get', 'pod', name, '-o', 'jsonpath={.status}'])) as {
      phase?: string;
      conditions?: { type: string; status: string }[];
    };
    if (status.conditions?.some(({ type, status: value }) => type === 'Ready' && value === 'True')) break;
    // Its containers' last words are in the status (FallbackToLogsOnError).
    if (status.phase === 'Failed' || Date.now() > deadline)
      throw new Error(`pod ${name} not Ready: ${JSON.stringify(status)}`);
    await sleep(1000);
  }
  return { uid: kubectl(['get', 'pod', name, '-o', 'jsonpath={.metadata.uid}']) };
}

/** What a container of a pod wrote, from the kubelet's log files (CRI lines: time, stream, tag, text). */
function containerLog(pod: string, uid: string, container: string): string {
  const node = cluster?.nodes[0];
  if (node === undefined) throw new Error('no node');
  const dir = path.join(node.options.stateDir, 'kubelet', 'pod-logs', `default_${pod}_${uid}`, container);
  return fs
    .readFileSync(path.join(dir, '0.log'), 'utf8')
    .split('\n')
    .map((line) => line.split(' ').slice(3).join(' '))
    .join('\n');
}

beforeAll(async () => {
  cluster = await LocalCluster.start({ nodes: [{ name: nodeName, labels: { rack: '0' } }] });
  const [node] = cluster.nodes;
  if (node === undefined) throw new Error('no node');
  images = importProjectImages(node, await projectImages());
  // The pods act as the chart's service accounts would; which rights those need is the chart's test.
  kubectl([
    'create',
    'clusterrolebinding',
    'project-images-test',
    '--clusterrole=cluster-admin',
    '--serviceaccount=default:default',
  ]);
  const server = new URL(loadConnection(cluster.plane.kubeconfigPath).server);
  apiServerEnv = [
    { name: 'KUBERNETES_SERVICE_HOST', value: server.hostname.replace(/^\[|\]$/g, '') },
    { name: 'KUBERNETES_SERVICE_PORT', value: server.port },
  ];
});

afterAll(() => {
  cluster?.stop();
});

describe('the project images on a real node', () => {
  it('are stored under their full references', () => {
    const node = cluster?.nodes[0];
    const stored = node?.ctr(['images', 'list', '--quiet']).split('\n') ?? [];
    expect(stored).toEqual(expect.arrayContaining([images.operator, images.cni]));
  });

  it('cni: the installer installs the forwarder, which answers VERSION; ip and nft run; the agent turns ready', async () => {
    const healthPort = await freePort();
    const cni = { name: 'cni', mountPath: '/cni' };
    const container = (name: string, more: Record<string, unknown>) => ({
      name,
      image: images.cni,
      imagePullPolicy: 'Never',
      terminationMessagePolicy: 'FallbackToLogsOnError',
      volumeMounts: [cni],
      ...more,
    });
    const { uid } = await readyPod('cni-image', {
      volumes: [{ name: 'cni', emptyDir: {} }],
      initContainers: [
        container('installer', {
          args: ['/opt/topology-ipam/installer.mjs'],
          env: [
            { name: 'NODE_NAME', value: nodeName },
            { name: 'CNI_BIN_DIR', value: '/cni/bin' },
            { name: 'CNI_NET_DIR', value: '/cni/net.d' },
          ],
        }),
        container('forwarder', {
          command: ['/cni/bin/topology-ipam'],
          env: [{ name: 'CNI_COMMAND', value: 'VERSION' }],
        }),
        container('ip', { command: ['ip', '-V'] }),
        container('nft', { command: ['nft', '--version'] }),
      ],
      // The image's default command: the agent.
      containers: [
        container('agent', {
          env: [
            ...apiServerEnv,
            { name: 'NODE_NAME', value: nodeName },
            // A folder of its own: the agent makes its socket's folder private, which uid 65532 cannot do to the volume's root.
            { name: 'AGENT_SOCKET', value: '/cni/agent/agent.sock' },
            { name: 'HEALTH_PORT', value: String(healthPort) },
          ],
          readinessProbe: readyzProbe(healthPort),
        }),
      ],
    });
    expect(
      JSON.parse(containerLog('cni-image', uid, 'forwarder')) as { supportedVersions?: string[] },
    ).toMatchObject({ supportedVersions: expect.arrayContaining(['1.0.0']) as unknown });
    expect(containerLog('cni-image', uid, 'ip')).toMatch(/iproute2/);
    expect(containerLog('cni-image', uid, 'nft')).toMatch(/nftables/);
    expect(containerLog('cni-image', uid, 'agent')).toContain('caches synced');
  });

  it("operator: the image's default command turns ready", async () => {
    const healthPort = await freePort();
    const { uid } = await readyPod('operator-image', {
      containers: [
        {
          name: 'operator',
          image: images.operator,
          imagePullPolicy: 'Never',
          terminationMessagePolicy: 'FallbackToLogsOnError',
          env: [
            ...apiServerEnv,
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'HEALTH_PORT', value: String(healthPort) },
            // Its certificate, Secret and Service are the chart's.
            { name: 'WEBHOOK_ENABLED', value: 'false' },
          ],
          readinessProbe: readyzProbe(healthPort),
        },
      ],
    });
    const log = containerLog('operator-image', uid, 'operator');
    expect(log).toContain('"component":"operator"');
    expect(log).toContain('operator-image');
  });
});
