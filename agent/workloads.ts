/**
 * The pod and namespace a request is for, read from the API server for their pool annotations: at most
 * one read of each per ADD, and only for an ADD that assigns a new address (a watch of the node's pods
 * would save even those; a later step).
 */
import type { IpFamily } from '../ipam/index.js';
import {
  type KubeClient,
  type Namespace,
  type Pod,
  ResourceClient,
  coreResources,
  isNotFound,
} from '../kube/index.js';
import { type Annotations, type WorkloadAnnotations, poolAnnotation } from '../cni/pool-annotations.js';

export interface WorkloadReader {
  /** The object's annotations; undefined when it does not exist (the pod deleted meanwhile). */
  podAnnotations(namespace: string, name: string): Promise<Annotations>;
  namespaceAnnotations(name: string): Promise<Annotations>;
}

export function workloadReader(client: KubeClient): WorkloadReader {
  const pods = new ResourceClient<Pod>(client, coreResources.pods);
  const namespaces = new ResourceClient<Namespace>(client, coreResources.namespaces);
  const annotationsOf = async (read: Promise<Pod | Namespace>): Promise<Annotations> => {
    try {
      return (await read).metadata.annotations ?? {};
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  };
  return {
    podAnnotations: (namespace, name) => annotationsOf(pods.get(name, namespace)),
    namespaceAnnotations: (name) => annotationsOf(namespaces.get(name)),
  };
}

/**
 * The annotations that may choose the pools of `families` for the pod: the pod's, and its namespace's
 * only when the pod's leave a family unchosen. Undefined when the runtime names no pod (not Kubernetes).
 */
export async function readWorkloadAnnotations(
  reader: WorkloadReader,
  pod: { readonly namespace?: string; readonly name?: string },
  families: readonly IpFamily[],
): Promise<WorkloadAnnotations | undefined> {
  const { namespace, name } = pod;
  if (namespace === undefined || name === undefined) return undefined;
  const podAnnotations = await reader.podAnnotations(namespace, name);
  const chosen = families.every((family) => poolAnnotation(podAnnotations, family) !== undefined);
  return {
    pod: `${namespace}/${name}`,
    podAnnotations,
    namespaceAnnotations: chosen ? undefined : await reader.namespaceAnnotations(namespace),
  };
}
