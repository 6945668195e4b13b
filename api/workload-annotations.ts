/**
 * The annotations with which a pod, or its namespace, chooses the pools and addresses of its addresses:
 * ours (`ipam.topology-ipam.dev/…`) and Calico's (`cni.projectcalico.org/…`, so that a migrating
 * cluster's manifests keep working), with the same meaning; on one object ours wins. The node agent parses
 * them strictly for an ADD (cni/pool-annotations.ts); the operator asks only whether a pod asks for a pool
 * (`requestsPool`), to keep serving that pool's block on a node its nodeSelector does not select.
 */
import {
  type Cidr,
  type IpFamily,
  cidrContainsAddress,
  cidrEquals,
  safeParseAddress,
  safeParseCidr,
} from '../ipam/index.js';

export type Annotations = Readonly<Record<string, string>> | undefined;

/** The annotations choosing a family's pools, ours first. */
export const poolAnnotationNames: Readonly<Record<IpFamily, readonly string[]>> = {
  4: ['ipam.topology-ipam.dev/ipv4pools', 'cni.projectcalico.org/ipv4pools'],
  6: ['ipam.topology-ipam.dev/ipv6pools', 'cni.projectcalico.org/ipv6pools'],
};

/** The annotations asking for exact addresses (on the pod only, as in Calico), ours first. */
export const requestedAddressAnnotationNames: readonly string[] = [
  'ipam.topology-ipam.dev/ipAddrs',
  'cni.projectcalico.org/ipAddrs',
];

/** Every annotation above: what a cache of pods or namespaces keeps of their annotations. */
export const workloadAnnotationNames: readonly string[] = [
  ...poolAnnotationNames[4],
  ...poolAnnotationNames[6],
  ...requestedAddressAnnotationNames,
];

/** The first of `names` set on an object, with its value. */
export function firstAnnotation(
  annotations: Annotations,
  names: readonly string[],
): { readonly name: string; readonly value: string } | undefined {
  for (const name of names) {
    const value = annotations?.[name];
    if (value !== undefined) return { name, value };
  }
  return undefined;
}

/** The strings of a JSON list; none when the value is not one (the strict parse reports that at ADD). */
function leniently(value: string | undefined): string[] {
  if (value === undefined) return [];
  try {
    const json: unknown = JSON.parse(value);
    return Array.isArray(json) ? json.filter((item): item is string => typeof item === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * Whether a pod asks for `pool` explicitly: its own pool annotation of the pool's family (else its
 * namespace's) names the pool or its exact CIDR, or its `ipAddrs` holds an address inside the pool.
 */
export function requestsPool(
  pool: { readonly name: string; readonly cidr: Cidr },
  podAnnotations: Annotations,
  namespaceAnnotations: Annotations,
): boolean {
  const names = poolAnnotationNames[pool.cidr.family];
  const chosen = firstAnnotation(podAnnotations, names) ?? firstAnnotation(namespaceAnnotations, names);
  const namesPool = leniently(chosen?.value).some((ref) => {
    if (ref === pool.name) return true;
    const cidr = safeParseCidr(ref);
    return cidr.ok && cidrEquals(cidr.value, pool.cidr);
  });
  const addresses = leniently(firstAnnotation(podAnnotations, requestedAddressAnnotationNames)?.value);
  return (
    namesPool ||
    addresses.some((text) => {
      const address = safeParseAddress(text);
      return address.ok && cidrContainsAddress(pool.cidr, address.value);
    })
  );
}
