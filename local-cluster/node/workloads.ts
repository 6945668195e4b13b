/** Test pods on a local cluster's real nodes: Deployments of the test image, and waiting for them. */
import { eventually } from '../eventually.js';
import type { LocalCluster } from './cluster.js';
import { testImage } from './image.js';

export interface PodJson {
  metadata: { name: string; uid: string };
  spec: { nodeName?: string };
  status?: { phase?: string; podIP?: string };
}

export interface DeploymentOptions {
  readonly replicas?: number;
  /** The pod is Ready only once this file exists in it (an exec probe: the kubelet runs it through containerd). */
  readonly readyWhen?: string;
  /** Pins the pods to this node. */
  readonly nodeName?: string;
}

/** A Deployment `name` (pods labelled app=name) of test pods running `command`. */
export function createDeployment(
  cluster: LocalCluster,
  name: string,
  command: readonly string[],
  options: DeploymentOptions = {},
): void {
  const labels = { app: name };
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas: options.replicas ?? 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 1,
          ...(options.nodeName === undefined
            ? {}
            : { nodeSelector: { 'kubernetes.io/hostname': options.nodeName } }),
          containers: [
            {
              name: 'main',
              image: testImage,
              imagePullPolicy: 'Never',
              command,
              ...(options.readyWhen === undefined
                ? {}
                : { readinessProbe: { exec: { command: ['cat', options.readyWhen] }, periodSeconds: 1 } }),
            },
          ],
        },
      },
    },
  };
  cluster.kubectl(['create', '-f', '-'], JSON.stringify(deployment));
}

export const podsOf = (cluster: LocalCluster, app: string): PodJson[] =>
  (JSON.parse(cluster.kubectl(['get', 'pods', '-l', `app=${app}`, '-o', 'json'])) as { items: PodJson[] })
    .items;

/** Waits until every pod of the Deployment is Ready and returns them. */
export async function readyPods(cluster: LocalCluster, app: string): Promise<PodJson[]> {
  await eventually(
    () =>
      cluster.kubectl(['rollout', 'status', `deployment/${app}`, '--timeout=5s']).includes('successfully') ||
      undefined,
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  return podsOf(cluster, app);
}
