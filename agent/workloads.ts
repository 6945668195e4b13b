/**
 * The pods of this node and every namespace, for their pool and address annotations and the namespaces'
 * labels (pools' namespaceSelector): kept by informers, so a steady-state ADD reads nothing. The pods are
 * watched by field selector `spec.nodeName=<node>`, and both are trimmed as they arrive to the annotations
 * of `cni/pool-annotations.ts` (and a namespace's labels), so the caches stay small.
 *
 * A pod the cache does not hold yet (its watch event still on its way, or the cache not listed yet), or one
 * held under another UID than the runtime names (re-created under the same name), is read from the API
 * server; so is its namespace when the cache lacks it: at most one read of each per ADD. Requests do not
 * wait for these caches: while they are not listed (or failing), ADDs read instead.
 */
import { workloadAnnotationNames } from '../api/index.js';
import type { Workload } from '../cni/pool-annotations.js';
import {
  type KubeClient,
  type Namespace,
  type Pod,
  Informer,
  ResourceClient,
  coreResources,
  isNotFound,
  trimMetadata,
} from '../kube/index.js';

const trimPod = (pod: Pod): Pod => trimMetadata(pod, { annotations: workloadAnnotationNames, labels: false });
const trimNamespace = (namespace: Namespace): Namespace =>
  trimMetadata(namespace, { annotations: workloadAnnotationNames, labels: true });

/** Who an ADD is for, as the runtime names it (`K8S_POD_*`). */
export interface PodIdentity {
  readonly namespace?: string | undefined;
  readonly name?: string | undefined;
  readonly uid?: string | undefined;
}

/** Where an ADD's pod and namespace come from: the caches, else one read each. */
export interface WorkloadSource {
  /** The pod, trimmed; undefined when it does not exist. */
  pod(namespace: string, name: string, uid: string | undefined): Promise<Pod | undefined>;
  /** The namespace, trimmed; undefined when it does not exist. */
  namespace(name: string): Promise<Namespace | undefined>;
}

export class WorkloadCache implements WorkloadSource {
  private readonly podsApi: ResourceClient<Pod>;
  private readonly namespacesApi: ResourceClient<Namespace>;
  private readonly pods: Informer<Pod>;
  private readonly namespaces: Informer<Namespace>;

  constructor(client: KubeClient, node: string, onError?: (what: string, error: unknown) => void) {
    this.podsApi = new ResourceClient<Pod>(client, coreResources.pods);
    this.namespacesApi = new ResourceClient<Namespace>(client, coreResources.namespaces);
    const options = (what: string) => ({
      maxBackoffMs: 5_000,
      onError: (error: unknown) => onError?.(what, error),
    });
    this.pods = new Informer(this.podsApi, {
      ...options('pods of this node'),
      fieldSelector: `spec.nodeName=${node}`,
      transform: trimPod,
    });
    this.namespaces = new Informer(this.namespacesApi, {
      ...options('namespaces'),
      transform: trimNamespace,
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return Promise.all([this.pods.run(signal), this.namespaces.run(signal)]).then(() => undefined);
  }

  get synced(): Promise<void> {
    return Promise.all([this.pods.synced, this.namespaces.synced]).then(() => undefined);
  }

  /** Whether the cache holds the pod (tests wait for it). */
  holdsPod(namespace: string, name: string): boolean {
    return this.pods.get(`${namespace}/${name}`) !== undefined;
  }

  async pod(namespace: string, name: string, uid: string | undefined): Promise<Pod | undefined> {
    const cached = this.pods.get(`${namespace}/${name}`);
    if (cached !== undefined && (uid === undefined || cached.metadata.uid === uid)) return cached;
    return orNotFound(this.podsApi.get(name, namespace).then(trimPod));
  }

  async namespace(name: string): Promise<Namespace | undefined> {
    return this.namespaces.get(name) ?? orNotFound(this.namespacesApi.get(name).then(trimNamespace));
  }
}

async function orNotFound<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * The pod an ADD is for and its namespace, as `cni/pool-annotations.ts` reads them. Undefined when the
 * runtime names no pod (not Kubernetes). A pod that no longer exists has no annotations.
 */
export async function readWorkload(source: WorkloadSource, pod: PodIdentity): Promise<Workload | undefined> {
  const { namespace, name } = pod;
  if (namespace === undefined || name === undefined) return undefined;
  const [podObject, namespaceObject] = await Promise.all([
    source.pod(namespace, name, pod.uid),
    source.namespace(namespace),
  ]);
  return {
    pod: `${namespace}/${name}`,
    podAnnotations: podObject?.metadata.annotations,
    namespaceAnnotations: namespaceObject?.metadata.annotations,
    namespaceLabels: namespaceObject?.metadata.labels ?? {},
  };
}
