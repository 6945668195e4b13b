/** Test data for the planners: small factories for pools, blocks and allocations. Used by tests only. */
import {
  type Allocation,
  type CoolingAddress,
  type IPAMBlock,
  type IPPool,
  type IPPoolSpecInput,
  type IPPoolStatus,
  splitFromAnnotation,
} from '../../api/index.js';
import { type PoolView, poolView } from './pools.js';

/** The creation time of pools that do not say otherwise. */
export const T0 = '2024-01-01T00:00:00Z';

export interface PoolOptions {
  readonly createdAt?: string;
  readonly deleting?: boolean;
  readonly generation?: number;
  readonly status?: IPPoolStatus;
  /** The pool it was split from (its split-from annotation). */
  readonly splitFrom?: string;
}

export function ipPool(name: string, spec: IPPoolSpecInput, options: PoolOptions = {}): IPPool {
  return {
    apiVersion: 'ipam.topology-ipam.dev/v1alpha1',
    kind: 'IPPool',
    metadata: {
      name,
      creationTimestamp: options.createdAt ?? T0,
      ...(options.deleting === true ? { deletionTimestamp: '2024-06-01T00:00:00Z' } : {}),
      ...(options.generation === undefined ? {} : { generation: options.generation }),
      ...(options.splitFrom === undefined
        ? {}
        : { annotations: { [splitFromAnnotation]: options.splitFrom } }),
    },
    spec,
    ...(options.status === undefined ? {} : { status: options.status }),
  };
}

/** A status with only the Allocatable condition, as the operator writes it. */
export const allocatableStatus = (
  status: 'True' | 'False' | 'Unknown',
  reason: string,
  observedGeneration = 1,
  message = '',
): IPPoolStatus => ({
  conditions: [{ type: 'Allocatable', status, reason, message, lastTransitionTime: T0, observedGeneration }],
});

/** A pool as the operator leaves it once in service: Allocatable for its current generation (1). */
export const clearedPool = (name: string, spec: IPPoolSpecInput, options: PoolOptions = {}): IPPool =>
  ipPool(name, spec, { generation: 1, status: allocatableStatus('True', 'OK'), ...options });

export const view = (name: string, spec: IPPoolSpecInput, options: PoolOptions = {}): PoolView =>
  poolView(ipPool(name, spec, options));

/** An allocation without pod details unless `fields` adds them. */
export function allocation(ordinal: number, fields: Partial<Allocation> = {}): Allocation {
  return {
    ordinal,
    handle: `k8s-pod-network.c${ordinal}.eth0`,
    node: 'node-a',
    assignedAt: T0,
    ...fields,
  };
}

/** `count` allocations at ordinals 1..count (past the reserved network address). */
export const allocations = (count: number): Allocation[] =>
  Array.from({ length: count }, (_, index) => allocation(index + 1));

export function block(
  cidr: string,
  pool: string,
  node: string,
  contents: {
    readonly allocations?: Allocation[];
    readonly cooling?: CoolingAddress[];
    readonly draining?: boolean;
  } = {},
): IPAMBlock {
  return {
    apiVersion: 'ipam.topology-ipam.dev/v1alpha1',
    kind: 'IPAMBlock',
    metadata: { name: cidr.replace(/[./:]/g, '-') },
    spec: {
      cidr,
      pool,
      node,
      allocations: contents.allocations ?? [],
      cooling: contents.cooling ?? [],
      ...(contents.draining === undefined ? {} : { draining: contents.draining }),
    },
  };
}
