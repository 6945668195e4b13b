/**
 * Pool and address selection by annotation: a pod, or its namespace, names the pools its addresses come
 * from, as a JSON list of IPPool names or CIDRs (`ipam.topology-ipam.dev/ipv4pools`, `…/ipv6pools`, or
 * Calico's `cni.projectcalico.org/ipv4pools`, `…/ipv6pools`, so that a migrating cluster's manifests keep
 * working). Per family, the pod's annotation wins, then its namespace's, then the network configuration's
 * `ipam.pools`. A pod may also ask for exact addresses (`…/ipAddrs`, one per family; on the pod only, as
 * in Calico). Pure: the agent reads the pod and the namespace.
 */
import {
  type Annotations,
  firstAnnotation,
  poolAnnotationNames,
  requestedAddressAnnotationNames,
} from '../api/index.js';
import { type Address, type IpFamily, addressToString, safeParseAddress } from '../ipam/index.js';
import { type PoolRef, readPoolRef } from './config.js';
import { CniError } from './errors.js';

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
  /** The labels of the pod's namespace, for the pools' namespaceSelector; undefined: no pod named. */
  readonly namespaceLabels: Readonly<Record<string, string>> | undefined;
}

/** The annotations of a pod and of its namespace, and the namespace's labels (undefined: none found). */
export interface Workload {
  /** `namespace/name`. */
  readonly pod: string;
  readonly podAnnotations: Annotations;
  readonly namespaceAnnotations: Annotations;
  /** For the pools' namespaceSelector; none when the namespace was not found. */
  readonly namespaceLabels: Readonly<Record<string, string>>;
}

/** The annotation on an object that chooses `family`'s pools, if any. */
export const poolAnnotation = (
  annotations: Annotations,
  family: IpFamily,
): { readonly name: string; readonly value: string } | undefined =>
  firstAnnotation(annotations, poolAnnotationNames[family]);

export type AnnotationSource = Exclude<PoolSource, { kind: 'config' }>;

export const annotationError = (source: AnnotationSource, reason: string): CniError =>
  new CniError({
    kind: 'invalid-annotation',
    annotation: source.annotation,
    on: source.on,
    pod: source.pod,
    reason,
  });

/** An annotation's value as a JSON list of strings (`what` each is, for the errors). */
function stringList(value: string, source: AnnotationSource, what: string, example: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw annotationError(
      source,
      `${source.annotation} is not JSON: ${JSON.stringify(value)}; write a JSON list of ${what}s, e.g. ${example}`,
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
        `${source.annotation}[${index}] is ${JSON.stringify(item)}, not a string (${what})`,
      );
    }
    return item;
  });
}

/** Parses an annotation's value: a JSON list of IPPool names or CIDRs of `family`. */
export function parsePoolAnnotation(value: string, family: IpFamily, source: AnnotationSource): PoolRef[] {
  const example = family === 4 ? '["pool-a", "10.0.0.0/16"]' : '["pool-a", "fd00::/48"]';
  return stringList(value, source, 'an IPPool name or a CIDR', example).map((item, index) => {
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
  workload: Workload | undefined,
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
      return {
        refs: parsePoolAnnotation(found.value, family, source),
        source,
        namespaceLabels: workload.namespaceLabels,
      };
    }
  }
  return { refs: configured, source: { kind: 'config' }, namespaceLabels: workload?.namespaceLabels };
}

/** An address a pod asks for, and the annotation that asked (for its errors). */
export interface RequestedAddress {
  readonly address: Address;
  readonly source: AnnotationSource;
}

/**
 * The addresses the pod's `ipAddrs` annotation asks for, by family: exactly one address per family the
 * network assigns, as in Calico. Refused (code 7, naming the annotation and the pod): a value that is not a
 * JSON list of addresses, two addresses of one family, and an address of a family the network does not
 * assign. Only the pod's own annotation counts (a namespace's would give all its pods one address).
 */
export function requestedAddresses(
  workload: Workload | undefined,
  families: readonly IpFamily[],
): ReadonlyMap<IpFamily, RequestedAddress> {
  const found = firstAnnotation(workload?.podAnnotations, requestedAddressAnnotationNames);
  if (workload === undefined || found === undefined) return new Map();
  const source: AnnotationSource = {
    kind: 'annotation',
    annotation: found.name,
    on: 'pod',
    pod: workload.pod,
  };
  const byFamily = new Map<IpFamily, RequestedAddress>();
  stringList(found.value, source, 'an IP address', '["10.0.0.5", "fd00::5"]').forEach((item, index) => {
    const parsed = safeParseAddress(item);
    if (!parsed.ok) {
      throw annotationError(
        source,
        `${found.name}[${index}]: ${JSON.stringify(item)} is not an IP address (${parsed.error.message})`,
      );
    }
    const { family } = parsed.value;
    const earlier = byFamily.get(family);
    if (earlier !== undefined) {
      throw annotationError(
        source,
        `${found.name} asks for two IPv${family} addresses (${addressToString(earlier.address)} and ${item}); a pod gets one address per family`,
      );
    }
    if (!families.includes(family)) {
      throw annotationError(
        source,
        `${found.name} asks for the IPv${family} address ${item}, but the network assigns IPv${families.join(' and IPv')} only`,
      );
    }
    byFamily.set(family, { address: parsed.value, source });
  });
  return byFamily;
}
