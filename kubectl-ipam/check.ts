/**
 * `kubectl ipam check`: what in the cluster's IPAM records disagrees with itself or with the pods and
 * nodes, as a pure function of one snapshot. It only reports; `release` acts on its leaks after reading
 * each of them again.
 */
import { type IPAMBlock, allocationAddress } from '../api/index.js';
import {
  addressToString,
  cidrContains,
  cidrContainsAddress,
  safeParseAddress,
  safeParseCidr,
} from '../ipam/index.js';
import type { Pod } from '../kube/index.js';
import { type LeakReason, leakedAllocations } from '../api/index.js';
import { type ClusterIdentity, type Snapshot, blockNode, poolRange } from './snapshot.js';

export interface LeakCandidate {
  readonly address: string;
  readonly block: string;
  readonly ordinal: number;
  readonly handle: string;
  readonly namespace: string;
  readonly pod: string;
  readonly podUID?: string;
  readonly node: string;
  readonly assignedAt: string;
  readonly ageSeconds: number;
  readonly reason: LeakReason;
}

export interface UnrecordedPod {
  readonly namespace: string;
  readonly pod: string;
  readonly node: string;
  readonly address: string;
}

export interface DuplicateAddress {
  readonly address: string;
  /** Each record of it: the block and the handle holding it there. */
  readonly holders: readonly { readonly block: string; readonly handle: string }[];
}

export interface BlockProblem {
  readonly block: string;
  readonly pool: string;
  readonly node: string;
}

export interface CheckReport {
  readonly kind: 'IpamCheckReport';
  readonly version: 1;
  readonly cluster: ClusterIdentity;
  readonly generatedAt: string;
  readonly leaks: readonly LeakCandidate[];
  readonly unrecordedPods: readonly UnrecordedPod[];
  readonly duplicates: readonly DuplicateAddress[];
  readonly blocksWithoutAffinity: readonly BlockProblem[];
  readonly affinitiesWithoutBlock: readonly BlockProblem[];
  readonly blocksOfDeletedNodes: readonly BlockProblem[];
  readonly blocksOutsidePools: readonly BlockProblem[];
}

export interface CheckOptions {
  readonly now: Date;
  /**
   * Records younger than this are left out: a pod just created may not be listed yet, a claim in progress
   * has its affinity before its block (the operator's leak grace plays the same part).
   */
  readonly graceMs: number;
}

/** The problem lists of a report, by name, in the order they are printed. */
export const problemKinds = [
  'leaks',
  'unrecordedPods',
  'duplicates',
  'blocksWithoutAffinity',
  'affinitiesWithoutBlock',
  'blocksOfDeletedNodes',
  'blocksOutsidePools',
] as const;

export function problemCount(report: CheckReport): number {
  return problemKinds.reduce((sum, kind) => sum + report[kind].length, 0);
}

export function checkCluster(snapshot: Snapshot, options: CheckOptions): CheckReport {
  const now = options.now.getTime();
  // Objects read from the API server always carry their creation time; one that cannot be read is young.
  const young = (timestamp: string | undefined) => {
    if (timestamp === undefined) return false;
    const at = Date.parse(timestamp);
    return Number.isNaN(at) || now - at < options.graceMs;
  };
  const pods = new Map(
    snapshot.pods.map((pod) => [podKey(pod.metadata.namespace ?? '', pod.metadata.name), pod]),
  );
  const blockNames = new Set(snapshot.blocks.map((block) => block.metadata.name));
  const affinityNames = new Set(snapshot.affinities.map((affinity) => affinity.metadata.name));
  const nodeNames = new Set(snapshot.nodes.map((node) => node.metadata.name));
  const problem = (block: IPAMBlock): BlockProblem => ({
    block: block.spec.cidr,
    pool: block.spec.pool,
    node: blockNode(block),
  });
  return {
    kind: 'IpamCheckReport',
    version: 1,
    cluster: snapshot.cluster,
    generatedAt: options.now.toISOString(),
    leaks: snapshot.blocks.flatMap((block) =>
      safeParseCidr(block.spec.cidr).ok
        ? leakedAllocations(block, {
            pod: (namespace, name) => pods.get(podKey(namespace, name)),
            now,
            graceMs: options.graceMs,
          }).map((leak) => ({
            address: addressToString(allocationAddress(block.spec, leak.allocation.ordinal)),
            block: block.spec.cidr,
            ordinal: leak.allocation.ordinal,
            handle: leak.allocation.handle,
            namespace: leak.namespace,
            pod: leak.pod,
            ...(leak.allocation.podUID === undefined ? {} : { podUID: leak.allocation.podUID }),
            node: leak.allocation.node,
            assignedAt: leak.allocation.assignedAt,
            ageSeconds: Math.floor((now - Date.parse(leak.allocation.assignedAt)) / 1000),
            reason: leak.reason,
          }))
        : [],
    ),
    unrecordedPods: unrecordedPods(snapshot, (pod) => young(pod.metadata.creationTimestamp)),
    duplicates: duplicateAddresses(snapshot.blocks),
    blocksWithoutAffinity: snapshot.blocks
      .filter((block) => !affinityNames.has(block.metadata.name) && !young(block.metadata.creationTimestamp))
      .map(problem),
    affinitiesWithoutBlock: snapshot.affinities
      .filter(
        (affinity) => !blockNames.has(affinity.metadata.name) && !young(affinity.metadata.creationTimestamp),
      )
      .map((affinity) => ({ block: affinity.spec.cidr, pool: affinity.spec.pool, node: affinity.spec.node })),
    blocksOfDeletedNodes: snapshot.blocks.filter((block) => !nodeNames.has(blockNode(block))).map(problem),
    blocksOutsidePools: blocksOutsidePools(snapshot).map(problem),
  };
}

const podKey = (namespace: string, name: string) => `${namespace}/${name}`;

/**
 * Pods reporting an address of one of the pools that no block records: assigned by something else, or
 * recorded in a block since deleted. Host-network pods report the node's address and are skipped.
 */
function unrecordedPods(snapshot: Snapshot, tooYoung: (pod: Pod) => boolean): UnrecordedPod[] {
  const ranges = snapshot.pools.flatMap((pool) => poolRange(pool)?.cidr ?? []);
  const recorded = new Set(
    snapshot.blocks.flatMap((block) =>
      safeParseCidr(block.spec.cidr).ok
        ? block.spec.allocations.map((allocation) =>
            addressToString(allocationAddress(block.spec, allocation.ordinal)),
          )
        : [],
    ),
  );
  return snapshot.pods.flatMap((pod) => {
    if (pod.spec?.hostNetwork === true || tooYoung(pod)) return [];
    return (pod.status?.podIPs ?? []).flatMap(({ ip }) => {
      const address = safeParseAddress(ip);
      if (!address.ok) return [];
      const canonical = addressToString(address.value);
      const inPool = ranges.some((range) => cidrContainsAddress(range, address.value));
      if (!inPool || recorded.has(canonical)) return [];
      return [
        {
          namespace: pod.metadata.namespace ?? '',
          pod: pod.metadata.name,
          node: pod.spec?.nodeName ?? '',
          address: canonical,
        },
      ];
    });
  });
}

/** Addresses recorded as held in more than one block (blocks that overlap). */
function duplicateAddresses(blocks: readonly IPAMBlock[]): DuplicateAddress[] {
  const holders = new Map<string, { block: string; handle: string }[]>();
  for (const block of blocks) {
    if (!safeParseCidr(block.spec.cidr).ok) continue;
    for (const allocation of block.spec.allocations) {
      const address = addressToString(allocationAddress(block.spec, allocation.ordinal));
      const list = holders.get(address) ?? [];
      list.push({ block: block.spec.cidr, handle: allocation.handle });
      holders.set(address, list);
    }
  }
  return [...holders]
    .filter(([, list]) => list.length > 1)
    .map(([address, list]) => ({ address, holders: list }));
}

/** Blocks no pool contains (their pool deleted, or written by hand). */
function blocksOutsidePools(snapshot: Snapshot): IPAMBlock[] {
  const ranges = snapshot.pools.flatMap((pool) => poolRange(pool)?.cidr ?? []);
  return snapshot.blocks.filter((block) => {
    const cidr = safeParseCidr(block.spec.cidr);
    return !cidr.ok || !ranges.some((range) => cidrContains(range, cidr.value));
  });
}
