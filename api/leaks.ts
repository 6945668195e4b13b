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

export interface LeakCheck extends LeakTiming {
  /** The pod by namespace and name, from the informer cache. */
  readonly pod: (namespace: string, name: string) => Pod | undefined;
}

/** Whether an allocation is too young to judge. An unreadable time counts as just assigned. */
export function withinLeakGrace(allocation: Allocation, timing: LeakTiming): boolean {
  const assignedAt = Date.parse(allocation.assignedAt);
  return Number.isNaN(assignedAt) || timing.now - assignedAt < timing.graceMs;
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
  const leaks: Leak[] = [];
  for (const allocation of block.spec.allocations) {
    const { namespace, pod: podName } = allocation;
    if (namespace === undefined || podName === undefined || withinLeakGrace(allocation, check)) continue;
    const reason = leakReason(allocation, check.pod(namespace, podName), blockCidr);
    if (reason !== undefined) leaks.push({ allocation, namespace, pod: podName, reason });
  }
  return leaks;
}

/**
 * Why `pod` (the pod of the allocation's namespace and name, as one read shows it; undefined: there is
 * none) no longer holds the allocation, or undefined if it may. A pod holds its address unless it is
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
  const uid = pod.metadata.uid;
  if (allocation.podUID !== undefined && uid !== undefined && uid !== allocation.podUID)
    return 'pod-replaced';
  const podNode = pod.spec?.nodeName;
  if (podNode !== undefined && podNode !== '' && podNode !== allocation.node) return 'pod-moved';
  const reported = pod.status?.podIPs?.map((entry) => entry.ip) ?? [];
  const primary = allocation.handle.endsWith('.eth0');
  const address = addressToString(addressAtOrdinal(blockCidr, allocation.ordinal));
  if (primary && reported.length > 0 && !reported.includes(address)) return 'pod-readdressed';
  return undefined;
}
