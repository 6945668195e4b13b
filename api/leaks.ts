import type { Allocation } from './block.js';
import type { IPAMBlock } from './resources.js';
import { type Cidr, addressAtOrdinal, addressToString, parseCidr } from '../ipam/index.js';
import type { Pod } from '../kube/index.js';

export interface LeakTiming {
  readonly now: number;
  /**
   * An allocation younger than this is never judged leaked: its pod may not show it yet (not in a cache,
   * or its status still reporting the address of a sandbox it replaced).
   */
  readonly graceMs: number;
}

/** The pod of a namespace and name, as one source shows it (an informer cache, a fresh read); undefined: none. */
export type PodLookup = (namespace: string, name: string) => Pod | undefined;

export interface LeakCheck extends LeakTiming {
  /** The pod by namespace and name, from the informer cache. */
  readonly pod: PodLookup;
}

/**
 * When an allocation's grace ends, and it may be judged: the grace runs from the later of its assignment
 * and `suspectedSince`, when a caller that watches over time first found it leaked (the operator; a
 * one-shot reader such as `kubectl ipam release` has only the assignment). An unreadable assignment time
 * counts as just assigned, for ever.
 */
export function leakGraceEnd(allocation: Allocation, graceMs: number, suspectedSince?: number): number {
  const since = Math.max(Date.parse(allocation.assignedAt), suspectedSince ?? Number.NEGATIVE_INFINITY);
  return Number.isNaN(since) ? Number.POSITIVE_INFINITY : since + graceMs;
}

/** Whether an allocation is too young to judge (see `leakGraceEnd`). */
export function withinLeakGrace(
  allocation: Allocation,
  timing: LeakTiming,
  suspectedSince?: number,
): boolean {
  return timing.now < leakGraceEnd(allocation, timing.graceMs, suspectedSince);
}

export type LeakReason = 'pod-gone' | 'pod-replaced' | 'pod-moved' | 'pod-readdressed';

export interface Leak {
  readonly allocation: Allocation;
  /** The pod the allocation names. */
  readonly namespace: string;
  readonly pod: string;
  readonly reason: LeakReason;
}

/**
 * The allocations of a block whose pod is gone, and so may be freed, as the informer cache shows it.
 * The cache may be stale: each is only a candidate until `leakReason` condemns it again on a fresh read
 * of its pod. Allocations within their grace, or without pod details (handles of other users), are
 * never candidates.
 */
export function leakedAllocations(block: IPAMBlock, check: LeakCheck): Leak[] {
  const blockCidr = parseCidr(block.spec.cidr);
  return block.spec.allocations.flatMap((allocation) =>
    withinLeakGrace(allocation, check) ? [] : (allocationLeak(allocation, blockCidr, check.pod) ?? []),
  );
}

/** The allocation's leak, if `pod` shows it leaked; allocations without pod details never are. */
function allocationLeak(allocation: Allocation, blockCidr: Cidr, pod: PodLookup): Leak | undefined {
  const { namespace, pod: podName } = allocation;
  if (namespace === undefined || podName === undefined) return undefined;
  const reason = leakReason(allocation, pod(namespace, podName), blockCidr);
  return reason === undefined ? undefined : { allocation, namespace, pod: podName, reason };
}

/** One address of a handle: the block that records it and its allocation there. */
export interface HandleAddress {
  readonly block: IPAMBlock;
  readonly allocation: Allocation;
}

/** The addresses of each pod handle (an allocation naming a pod) in `blocks`, wherever they are. */
export function podHandles(blocks: readonly IPAMBlock[]): Map<string, HandleAddress[]> {
  const handles = new Map<string, HandleAddress[]>();
  for (const block of blocks) {
    for (const allocation of block.spec.allocations) {
      if (allocation.namespace === undefined || allocation.pod === undefined) continue;
      const addresses = handles.get(allocation.handle) ?? [];
      addresses.push({ block, allocation });
      handles.set(allocation.handle, addresses);
    }
  }
  return handles;
}

export interface HandleLeak extends Leak {
  /** The block that records the address. */
  readonly block: IPAMBlock;
}

/**
 * Why each address of one handle is leaked, or undefined when any of them is still held: a handle's
 * addresses (one per family, maybe in blocks of different nodes) are freed together or not at all, as
 * Calico frees them.
 */
export function handleLeaks(addresses: readonly HandleAddress[], pod: PodLookup): HandleLeak[] | undefined {
  const leaks: HandleLeak[] = [];
  for (const { block, allocation } of addresses) {
    const leak = allocationLeak(allocation, parseCidr(block.spec.cidr), pod);
    if (leak === undefined) return undefined;
    leaks.push({ ...leak, block });
  }
  return leaks.length > 0 ? leaks : undefined;
}

/**
 * Why `pod` (the pod of the allocation's namespace and name, as one read shows it; undefined: there is
 * none) no longer holds the allocation, or undefined if it may. A pod that reports the address holds it,
 * whatever else: a live pod's address is never freed. Otherwise a pod holds its address unless it is
 * another pod of the same name (another UID, when the allocation recorded one), runs on another node,
 * or reports addresses that do not include it on its primary interface (a sandbox recreated with a new
 * address).
 */
export function leakReason(
  allocation: Allocation,
  pod: Pod | undefined,
  blockCidr: Cidr,
): LeakReason | undefined {
  if (!pod) return 'pod-gone';
  const reported = pod.status?.podIPs?.map((entry) => entry.ip) ?? [];
  const address = addressToString(addressAtOrdinal(blockCidr, allocation.ordinal));
  if (reported.includes(address)) return undefined;
  const uid = pod.metadata.uid;
  if (allocation.podUID !== undefined && uid !== undefined && uid !== allocation.podUID)
    return 'pod-replaced';
  const podNode = pod.spec?.nodeName;
  if (podNode !== undefined && podNode !== '' && podNode !== allocation.node) return 'pod-moved';
  const primary = allocation.handle.endsWith('.eth0');
  if (primary && reported.length > 0) return 'pod-readdressed';
  return undefined;
}
