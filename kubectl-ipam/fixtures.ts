/** Test data: snapshots, nodes, pods and affinities. Used by tests only. */
import type { BlockAffinity, IPAMBlock } from '../api/index.js';
import type { Node, Pod } from '../kube/index.js';
import { T0 } from '../operator/plan/fixtures.js';
import type { Snapshot } from './snapshot.js';

export { T0, allocation, block, clearedPool } from '../operator/plan/fixtures.js';

export const cluster = { server: 'https://127.0.0.1:6443', uid: 'cluster-uid' };

export function snapshot(parts: Partial<Omit<Snapshot, 'cluster'>>): Snapshot {
  return {
    cluster,
    pools: [],
    blocks: [],
    affinities: [],
    nodes: [],
    pods: [],
    config: undefined,
    ...parts,
  };
}

export const node = (name: string): Node => ({ metadata: { name, creationTimestamp: T0 } });

export function pod(namespace: string, name: string, nodeName: string, ip?: string, uid?: string): Pod {
  return {
    metadata: { namespace, name, creationTimestamp: T0, ...(uid === undefined ? {} : { uid }) },
    spec: { nodeName },
    status: ip === undefined ? {} : { podIP: ip, podIPs: [{ ip }] },
  };
}

/** The confirmed affinity of a block, named like it. */
export function affinityOf(block: IPAMBlock): BlockAffinity {
  return {
    metadata: { name: block.metadata.name, creationTimestamp: T0 },
    spec: { node: block.spec.node, cidr: block.spec.cidr, pool: block.spec.pool, state: 'confirmed' },
  };
}
