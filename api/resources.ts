/**
 * The resource model's one home: for each custom resource, its kind, plural, group/version, scope, short
 * names, printer columns, spec and status schemas and the CEL rules the API server enforces, and the type
 * of its objects. The CRD generator (crds.ts) and the typed client (allocator's `ipamResources`) both read
 * this table, so a resource is named and shaped in exactly one place.
 */
import type { z } from 'zod';
import { BLOCK_SIZE_LIMITS, MAX_BLOCK_ADDRESSES } from '../ipam/index.js';
import type { KubeObject } from '../kube/index.js';
import { type BlockAffinitySpec, blockAffinitySpecSchema } from './affinity.js';
import { type IPAMBlockSpec, ipamBlockSpecSchema } from './block.js';
import { type IPAMConfigSpec, ipamConfigName, ipamConfigSpecSchema } from './config.js';
import { apiGroup, apiVersionName } from './group.js';
import { type IPPoolStatus, ipPoolStatusSchema } from './pool.js';
import { ALL_NODES_SELECTOR, type IPPoolSpecInput, ipPoolSpecSchema } from './pool-spec.js';
import { RESERVED_RANGES, type ReservedRange } from './pool-validation.js';
import {
  type IPReservationSpec,
  type IPReservationStatus,
  ipReservationSpecSchema,
  ipReservationStatusSchema,
} from './reservation.js';
import type { CelRule } from './structural-schema.js';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'date' | 'number';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface ResourceDefinition {
  kind: string;
  plural: string;
  group: string;
  version: string;
  scope: 'Cluster' | 'Namespaced';
  shortNames: string[];
  description: string;
  spec: z.ZodType;
  status?: z.ZodType;
  printerColumns: PrinterColumn[];
  /** Rules on the whole object (they may read metadata.name). */
  rootRules?: CelRule[];
  /** Rules attached at a path under the object, with an optional string bound to keep CEL costs low. */
  fieldRules?: {
    path: string;
    rules?: CelRule[];
    maxLength?: number;
    listType?: 'set' | 'map';
    listMapKeys?: string[];
  }[];
}

/** Every resource of this project: one group and version, cluster-scoped. */
const clusterScoped = { group: apiGroup, version: apiVersionName, scope: 'Cluster' } as const;

const immutable = (field: string): CelRule => ({ rule: 'self == oldSelf', message: `${field} is immutable` });

const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/**
 * A pool's CIDR overlaps a reserved range (RESERVED_RANGES of pool-validation.ts, which the webhook checks too). The API
 * server's cidr() refuses IPv4-mapped addresses, so ::ffff:0:0/96 cannot be written in CEL, and a pool
 * inside it already fails isCIDR; a pool containing it contains the /95 around it, which can be written.
 */
function reservedRangeRule({ cidr, name, source }: ReservedRange): CelRule {
  const message = `cidr must not overlap the ${name} range ${cidr} (${source}): its addresses can never be a pod's`;
  if (cidr === '::ffff:0:0/96')
    return { rule: "!isCIDR(self) || !cidr(self).containsCIDR('::fffe:0:0/95')", message };
  const range = `cidr('${cidr}')`;
  return {
    rule: `!isCIDR(self) || !(cidr(self).containsCIDR(${range}) || ${range}.containsCIDR(cidr(self)))`,
    message,
  };
}

/** What blockCidrProblem (block.ts) checks, for the API server. */
const blockCidrRules: CelRule[] = [
  { rule: 'isCIDR(self)', message: 'cidr must be a CIDR such as 10.244.0.64/26 or fd00:10:244::40/122' },
  {
    rule: '!isCIDR(self) || cidr(self).masked() == cidr(self)',
    message: 'cidr must not have host bits set: use the network address',
  },
  {
    rule: '!isCIDR(self) || string(cidr(self)) == self',
    message:
      'cidr must be written canonically (lower case, shortest form), as the block names derive from it',
  },
  {
    rule:
      `!isCIDR(self) || cidr(self).prefixLength() >= ` +
      `(cidr(self).ip().family() == 4 ? ${BLOCK_SIZE_LIMITS[4].min} : ${BLOCK_SIZE_LIMITS[6].min})`,
    message: `a block's prefix length must be ${BLOCK_SIZE_LIMITS[4].min}-32 for IPv4 and ${BLOCK_SIZE_LIMITS[6].min}-128 for IPv6`,
  },
  immutable('cidr'),
];

/**
 * Every ordinal of a block's list lies inside the block. CEL has no power function, so the block's size
 * is looked up by its host bits, which the prefix-length rule keeps at most log2(MAX_BLOCK_ADDRESSES).
 */
function ordinalsInsideBlock(list: 'allocations' | 'cooling'): CelRule {
  const hostBits = '((cidr(self.cidr).ip().family() == 4 ? 32 : 128) - cidr(self.cidr).prefixLength())';
  const sizes: number[] = [];
  for (let size = 1; size <= MAX_BLOCK_ADDRESSES; size *= 2) sizes.push(size);
  return {
    rule:
      `!isCIDR(self.cidr) || ${hostBits} >= ${sizes.length} || ` +
      `self.${list}.all(entry, entry.ordinal < [${sizes.join(', ')}][${hostBits}])`,
    message: `every ordinal in ${list} must lie inside the block: below its number of addresses`,
    fieldPath: `.${list}`,
    reason: 'FieldValueInvalid',
  };
}

const isLoadBalancer = "has(self.allowedUses) && self.allowedUses.exists(u, u == 'LoadBalancer')";
const isOn = (mode: string) => `(has(self.${mode}) && self.${mode} != 'Never')`;

/** What validatePoolSpec says of LoadBalancer pools (checkAllowedUses), for the API server, as Calico's CRD. */
const loadBalancerRules: CelRule[] = [
  {
    rule: `!(${isLoadBalancer}) || self.allowedUses.all(u, u == 'LoadBalancer')`,
    message: 'LoadBalancer cannot be combined with other uses; use a separate pool',
    fieldPath: '.allowedUses',
    reason: 'FieldValueForbidden',
  },
  {
    rule: `!(${isLoadBalancer}) || !(${isOn('ipipMode')} || ${isOn('vxlanMode')})`,
    message: 'a LoadBalancer pool cannot use encapsulation; set ipipMode and vxlanMode to Never',
    fieldPath: '.allowedUses',
    reason: 'FieldValueForbidden',
  },
  {
    rule: `!(${isLoadBalancer}) || !has(self.disableBGPExport) || !self.disableBGPExport`,
    message: 'a LoadBalancer pool cannot disable BGP export',
    fieldPath: '.disableBGPExport',
    reason: 'FieldValueForbidden',
  },
  {
    rule: `!(${isLoadBalancer}) || !has(self.nodeSelector) || self.nodeSelector == '${ALL_NODES_SELECTOR}' || self.nodeSelector == ''`,
    message: `a LoadBalancer pool must select all nodes: nodeSelector ${ALL_NODES_SELECTOR}`,
    fieldPath: '.nodeSelector',
    reason: 'FieldValueInvalid',
  },
  {
    rule: `!(has(oldSelf.allowedUses) && oldSelf.allowedUses.exists(u, u == 'LoadBalancer')) || (${isLoadBalancer})`,
    message: "LoadBalancer cannot be taken out of a pool's uses",
    fieldPath: '.allowedUses',
    reason: 'FieldValueForbidden',
  },
];

// The API server checks what one object can say about itself; overlaps between pools and selector
// syntax need the admission webhook and the reconciler.
const ipPool: ResourceDefinition = {
  kind: 'IPPool',
  ...clusterScoped,
  plural: 'ippools',
  shortNames: ['ipp'],
  description:
    'A range of pod addresses, divided into blocks that the nodes its nodeSelector matches may claim.',
  spec: ipPoolSpecSchema,
  status: ipPoolStatusSchema,
  printerColumns: [
    { name: 'CIDR', type: 'string', jsonPath: '.spec.cidr' },
    { name: 'BlockSize', type: 'integer', jsonPath: '.status.blockSize' },
    { name: 'NAT', type: 'boolean', jsonPath: '.spec.natOutgoing', priority: 1 },
    { name: 'IPIPMode', type: 'string', jsonPath: '.spec.ipipMode', priority: 1 },
    { name: 'VXLANMode', type: 'string', jsonPath: '.spec.vxlanMode', priority: 1 },
    { name: 'Disabled', type: 'boolean', jsonPath: '.spec.disabled' },
    { name: 'Selector', type: 'string', jsonPath: '.spec.nodeSelector', priority: 1 },
    { name: 'Used', type: 'string', jsonPath: '.status.usage' },
    {
      name: 'Allocatable',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Allocatable")].reason',
      priority: 1,
    },
    age,
  ],
  fieldRules: [
    {
      path: 'spec',
      rules: [
        {
          rule: '!has(self.blockSize) || self.blockSize == 0 || !isCIDR(self.cidr) || (cidr(self.cidr).ip().family() == 4 ? self.blockSize >= 20 && self.blockSize <= 32 : self.blockSize >= 116 && self.blockSize <= 128)',
          message: 'blockSize must be 20-32 for an IPv4 pool and 116-128 for an IPv6 pool',
          fieldPath: '.blockSize',
          reason: 'FieldValueInvalid',
        },
        {
          rule: "!has(self.ipipMode) || self.ipipMode == 'Never' || !has(self.vxlanMode) || self.vxlanMode == 'Never'",
          message: 'ipipMode and vxlanMode cannot both be enabled',
          fieldPath: '.ipipMode',
          reason: 'FieldValueForbidden',
        },
        {
          rule: "!has(self.ipipMode) || self.ipipMode == 'Never' || !isCIDR(self.cidr) || cidr(self.cidr).ip().family() == 4",
          message: 'ipipMode is only supported on IPv4 pools',
          fieldPath: '.ipipMode',
          reason: 'FieldValueForbidden',
        },
        {
          rule: 'has(self.blockSize) == has(oldSelf.blockSize)',
          message: 'blockSize is immutable',
          fieldPath: '.blockSize',
          reason: 'FieldValueForbidden',
        },
        {
          rule:
            `(has(self.disabled) && self.disabled) || !isCIDR(self.cidr) || cidr(self.cidr).prefixLength() <= ` +
            `(has(self.blockSize) && self.blockSize != 0 ? self.blockSize : ` +
            `(cidr(self.cidr).ip().family() == 4 ? ${BLOCK_SIZE_LIMITS[4].default} : ${BLOCK_SIZE_LIMITS[6].default}))`,
          message:
            'the pool is smaller than one block: use a shorter prefix, a larger blockSize, or disable it',
          fieldPath: '.cidr',
          reason: 'FieldValueInvalid',
        },
        ...loadBalancerRules,
      ],
    },
    {
      path: 'spec.cidr',
      maxLength: 64,
      rules: [
        { rule: 'isCIDR(self)', message: 'cidr must be a CIDR such as 192.168.0.0/16 or fd00:10:244::/64' },
        {
          rule: '!isCIDR(self) || cidr(self).masked() == cidr(self)',
          message: 'cidr must not have host bits set: use the network address (10.0.0.0/24, not 10.0.0.1/24)',
        },
        ...RESERVED_RANGES.map(reservedRangeRule),
        {
          // Another text of the same CIDR is no change: its canonical text, as Calico allows, or any other.
          rule: 'self == oldSelf || (isCIDR(self) && isCIDR(oldSelf) && cidr(self) == cidr(oldSelf))',
          message: 'cidr is immutable: only its text may change, into another text of the same CIDR',
        },
      ],
    },
    { path: 'spec.blockSize', rules: [immutable('blockSize')] },
    { path: 'spec.nodeSelector', maxLength: 4096 },
    { path: 'spec.namespaceSelector', maxLength: 4096 },
    { path: 'spec.allowedUses', listType: 'set' },
    { path: 'status.conditions', listType: 'map', listMapKeys: ['type'] },
  ],
};

const blockAffinity: ResourceDefinition = {
  kind: 'BlockAffinity',
  ...clusterScoped,
  plural: 'blockaffinities',
  shortNames: ['ba'],
  description: "A node's claim on one block of an IPPool. Named after the block, so one block has one claim.",
  spec: blockAffinitySpecSchema,
  printerColumns: [
    { name: 'Node', type: 'string', jsonPath: '.spec.node' },
    { name: 'CIDR', type: 'string', jsonPath: '.spec.cidr' },
    { name: 'Pool', type: 'string', jsonPath: '.spec.pool' },
    { name: 'State', type: 'string', jsonPath: '.spec.state' },
    age,
  ],
  fieldRules: [
    { path: 'spec.cidr', rules: blockCidrRules },
    { path: 'spec.node', rules: [immutable('node')] },
  ],
};

const ipamBlock: ResourceDefinition = {
  kind: 'IPAMBlock',
  ...clusterScoped,
  plural: 'ipamblocks',
  shortNames: ['ipb'],
  description: 'The addresses of one block and who holds each of them.',
  spec: ipamBlockSpecSchema,
  printerColumns: [
    { name: 'CIDR', type: 'string', jsonPath: '.spec.cidr' },
    { name: 'Node', type: 'string', jsonPath: '.spec.node' },
    { name: 'Pool', type: 'string', jsonPath: '.spec.pool' },
    age,
  ],
  fieldRules: [
    { path: 'spec', rules: [ordinalsInsideBlock('allocations'), ordinalsInsideBlock('cooling')] },
    { path: 'spec.cidr', rules: blockCidrRules },
    // spec.pool is not immutable: `kubectl ipam split` hands a block to the pool split out around it (ADR 14).
    // One entry per ordinal: the API server refuses a duplicate key, at no CEL cost.
    { path: 'spec.allocations', listType: 'map', listMapKeys: ['ordinal'] },
    { path: 'spec.cooling', listType: 'map', listMapKeys: ['ordinal'] },
  ],
};

const ipamConfig: ResourceDefinition = {
  kind: 'IPAMConfig',
  ...clusterScoped,
  plural: 'ipamconfigs',
  shortNames: [],
  description: `Cluster-wide IPAM settings. There is one, named "${ipamConfigName}".`,
  spec: ipamConfigSpecSchema,
  printerColumns: [
    { name: 'StrictAffinity', type: 'boolean', jsonPath: '.spec.strictAffinity' },
    { name: 'MaxBlocksPerHost', type: 'integer', jsonPath: '.spec.maxBlocksPerHost' },
    age,
  ],
  rootRules: [
    {
      rule: `self.metadata.name == '${ipamConfigName}'`,
      message: `the IPAMConfig must be named "${ipamConfigName}"`,
    },
  ],
};

// Calico's IPReservation: the entries Calico's validator accepts (an address or a CIDR, host bits allowed).
const ipReservation: ResourceDefinition = {
  kind: 'IPReservation',
  ...clusterScoped,
  plural: 'ipreservations',
  shortNames: ['ipr'],
  description:
    'Addresses that are never assigned automatically. Reserving an address does not take it from a pod ' +
    'holding it; once released it is not assigned again.',
  spec: ipReservationSpecSchema,
  status: ipReservationStatusSchema,
  printerColumns: [
    { name: 'Reserved', type: 'string', jsonPath: '.spec.reservedCIDRs' },
    {
      name: 'Valid',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="EntriesValid")].status',
      priority: 1,
    },
    age,
  ],
  fieldRules: [
    { path: 'spec.reservedCIDRs', listType: 'set' },
    {
      path: 'spec.reservedCIDRs[]',
      rules: [
        {
          rule: 'isIP(self) || isCIDR(self)',
          message: 'each entry must be an IP address (10.0.0.5, fd00::5) or a CIDR (10.0.1.0/28, fd00::/120)',
        },
      ],
    },
    { path: 'status.conditions', listType: 'map', listMapKeys: ['type'] },
  ],
};

/** Every custom resource, by the name the typed client gives it. */
export const customResources = {
  pools: ipPool,
  blocks: ipamBlock,
  affinities: blockAffinity,
  configs: ipamConfig,
  reservations: ipReservation,
} as const satisfies Record<string, ResourceDefinition>;

/** Every custom resource: one CRD each. */
export const resourceDefinitions: readonly ResourceDefinition[] = Object.values(customResources);

export interface IPPool extends KubeObject {
  spec: IPPoolSpecInput;
  status?: IPPoolStatus;
}
export interface IPAMBlock extends KubeObject {
  spec: IPAMBlockSpec;
}

/**
 * A block whose claim is not confirmed yet: created with its node's label but no `spec.node`, so no
 * address is assigned from it (nor borrowed) until its claimer has checked that it overlaps no other block.
 */
export function isPendingBlock(block: IPAMBlock): boolean {
  return block.spec.node === '';
}

export interface BlockAffinity extends KubeObject {
  spec: BlockAffinitySpec;
}
export interface IPAMConfig extends KubeObject {
  spec: Partial<IPAMConfigSpec>;
}
export interface IPReservation extends KubeObject {
  spec: Partial<IPReservationSpec>;
  status?: IPReservationStatus;
}
