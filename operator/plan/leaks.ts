import type { Allocation } from '../../api/index.js';
import type { IPAMBlock } from '../../allocator/index.js';
import { addressAtOrdinal, addressToString, parseCidr } from '../../ipam/index.js';
import type { Pod } from '../../kube/index.js';

export interface LeakCheck {
  /** The pod by namespace and name, from the informer cache. */
  readonly pod: (namespace: string, name: string) => Pod | undefined;
  readonly now: number;
  /** An allocation younger than this is never collected: its pod may not be visible in the cache yet. */
  readonly graceMs: number;
}

export type LeakReason = 'pod-gone' | 'pod-moved' | 'pod-readdressed';

/**
 * The allocations of a block whose pod is gone, and so may be freed. Never one whose pod still holds
 * it: a pod that exists on the allocation's node keeps its address unless the pod reports addresses
 * that do not include it on its primary interface (a sandbox recreated with a new address). Allocations
 * without pod details (handles of other users) are never collected here.
 */
export function leakedAllocations(
  block: IPAMBlock,
  check: LeakCheck,
): { allocation: Allocation; reason: LeakReason }[] {
  const blockCidr = parseCidr(block.spec.cidr);
  const leaks: { allocation: Allocation; reason: LeakReason }[] = [];
  for (const allocation of block.spec.allocations) {
    const { namespace, pod: podName } = allocation;
    if (namespace === undefined || podName === undefined) continue;
    // An unreadable time counts as just assigned: never collect early (as cooling does for releases).
    const assignedAt = Date.parse(allocation.assignedAt);
    if (Number.isNaN(assignedAt) || check.now - assignedAt < check.graceMs) continue;
    const pod = check.pod(namespace, podName);
    if (!pod) {
      leaks.push({ allocation, reason: 'pod-gone' });
      continue;
    }
    const podNode = pod.spec?.nodeName;
    if (podNode !== undefined && podNode !== '' && podNode !== allocation.node) {
      leaks.push({ allocation, reason: 'pod-moved' });
      continue;
    }
    const reported = pod.status?.podIPs?.map((entry) => entry.ip) ?? [];
    const primary = allocation.handle.endsWith('.eth0');
    const address = addressToString(addressAtOrdinal(blockCidr, allocation.ordinal));
    if (primary && reported.length > 0 && !reported.includes(address)) {
      leaks.push({ allocation, reason: 'pod-readdressed' });
    }
  }
  return leaks;
}
