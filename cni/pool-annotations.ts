/**
 * Pool selection by annotation: a pod, or its namespace, names the pools its addresses come from, as a
 * JSON list of IPPool names or CIDRs (`ipam.topology-ipam.dev/ipv4pools`, `…/ipv6pools`, or Calico's
 * `cni.projectcalico.org/ipv4pools`, `…/ipv6pools`, so that a migrating cluster's manifests keep working).
 * Per family, the pod's annotation wins, then its namespace's, then the network configuration's
 * `ipam.pools`. Pure: the agent reads the pod and the namespace.
 */
import type { IpFamily } from '../ipam/index.js';
import { type PoolRef, readPoolRef } from './config.js';
import { CniError } from './errors.js';

/** The annotations choosing a family's pools, ours first: on one object, ours wins over Calico's. */
export const poolAnnotationNames: Readonly<Record<IpFamily, readonly string[]>> = {
  4: ['ipam.topology-ipam.dev/ipv4pools', 'cni.projectcalico.org/ipv4pools'],
  6: ['ipam.topology-ipam.dev/ipv6pools', 'cni.projectcalico.org/ipv6pools'],
};

export type Annotations = Readonly<Record<string, string>> | undefined;

/** Where a request's pools come from: the network configuration, or an annotation (for its errors). */
export type PoolSource =
  | { readonly kind: 'config' }
  | {
      readonly kind: 'annotation';
      readonly annotation: string;
      readonly on: 'pod' | 'namespace';
      /** `namespace/name`. */
      readonly pod: string;
    };

export interface PoolSelection {
  /** Empty: every Automatic pool that serves the node. */
  readonly refs: readonly PoolRef[];
  readonly source: PoolSource;
}

/** The annotations of a pod and of its namespace (undefined: not read, or none). */
export interface WorkloadAnnotations {
  /** `namespace/name`. */
  readonly pod: string;
  readonly podAnnotations: Annotations;
  readonly namespaceAnnotations: Annotations;
}

/** The annotation on an object that chooses `family`'s pools, if any. */
export function poolAnnotation(
  annotations: Annotations,
  family: IpFamily,
): { readonly name: string; readonly value: string } | undefined {
  for (const name of poolAnnotationNames[family]) {
    const value = annotations?.[name];
    if (value !== undefined) return { name, value };
  }
  return undefined;
}

export const annotationError = (source: Exclude<PoolSource, { kind: 'config' }>, reason: string): CniError =>
  new CniError({
    kind: 'invalid-annotation',
    annotation: source.annotation,
    on: source.on,
    pod: source.pod,
    reason,
  });

/** Parses an annotation's value: a JSON list of IPPool names or CIDRs of `family`. */
export function parsePoolAnnotation(
  value: string,
  family: IpFamily,
  source: Exclude<PoolSource, { kind: 'config' }>,
): PoolRef[] {
  const example = family === 4 ? '["pool-a", "10.0.0.0/16"]' : '["pool-a", "fd00::/48"]';
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw annotationError(
      source,
      `${source.annotation} is not JSON: ${JSON.stringify(value)}; write a JSON list of IPPool names or CIDRs, e.g. ${example}`,
    );
  }
  if (!Array.isArray(json)) {
    throw annotationError(
      source,
      `${source.annotation} is ${JSON.stringify(value)}, not a JSON list; write e.g. ${example}`,
    );
  }
  return json.map((item: unknown, index) => {
    if (typeof item !== 'string') {
      throw annotationError(
        source,
        `${source.annotation}[${index}] is ${JSON.stringify(item)}, not a string (an IPPool name or a CIDR)`,
      );
    }
    const read = readPoolRef(item, family);
    if (!read.ok) throw annotationError(source, `${source.annotation}[${index}]: ${read.reason}`);
    return read.ref;
  });
}

/**
 * The pools of `family` a request may use: the pod's annotation, else its namespace's, else the
 * network configuration's `configured` (no workload: a runtime that names no pod). An empty annotated
 * list means every Automatic pool, as in Calico, and still hides the namespace's annotation.
 */
export function selectPools(
  family: IpFamily,
  workload: WorkloadAnnotations | undefined,
  configured: readonly PoolRef[],
): PoolSelection {
  if (workload !== undefined) {
    for (const [on, annotations] of [
      ['pod', workload.podAnnotations],
      ['namespace', workload.namespaceAnnotations],
    ] as const) {
      const found = poolAnnotation(annotations, family);
      if (found === undefined) continue;
      const source = { kind: 'annotation', annotation: found.name, on, pod: workload.pod } as const;
      return { refs: parsePoolAnnotation(found.value, family, source), source };
    }
  }
  return { refs: configured, source: { kind: 'config' } };
}
