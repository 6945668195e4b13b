import { describe, expect, it } from 'vitest';
import { parseCidr } from '../ipam/index.js';
import { allocatableStatus, block, clearedPool, ipPool } from '../operator/plan/fixtures.js';
import {
  type ParsedPool,
  type PassOver,
  type PoolRequest,
  type RequestedPool,
  formatPassOver,
  mayClaimAnotherBlock,
  parsePool,
  poolsForNode,
  unclearedReason,
  unknownRequestedPools,
} from './pool-policy.js';
import type { IPPool } from './resources.js';

const rack0 = { rack: '0' };
const byName = (name: string): RequestedPool => ({ kind: 'name', name });
const byCidr = (cidr: string): RequestedPool => ({ kind: 'cidr', cidr: parseCidr(cidr) });

/** The policy as the node side applies it: clearance read from each pool's published status. */
function judge(objects: IPPool[], request: Partial<PoolRequest> = {}) {
  const pools = objects.map((object) => ({ ...parsePool(object), object }));
  const verdict = poolsForNode(pools, { labels: rack0, family: 4, requested: [], ...request }, (pool) =>
    unclearedReason(pool.object),
  );
  return {
    serving: verdict.serving.map((pool) => pool.name),
    passedOver: Object.fromEntries(verdict.passedOver.map(({ pool, why }) => [pool.name, why.code])),
  };
}

describe('poolsForNode: one pool, each rule', () => {
  it.each<{ name: string; pool: IPPool; request?: Partial<PoolRequest>; passOver?: PassOver['code'] }>([
    {
      name: 'an Automatic Workload pool selecting the node',
      pool: clearedPool('p', { cidr: '10.0.0.0/16' }),
    },
    {
      name: 'a selector that matches',
      pool: clearedPool('p', { cidr: '10.0.0.0/16', nodeSelector: 'rack == "0"' }),
    },
    {
      name: 'a selector that does not match',
      pool: clearedPool('p', { cidr: '10.0.0.0/16', nodeSelector: 'rack == "1"' }),
      passOver: 'node-not-selected',
    },
    {
      name: 'a selector that does not parse',
      pool: clearedPool('p', { cidr: '10.0.0.0/16', nodeSelector: 'rack ==' }),
      passOver: 'invalid-spec',
    },
    {
      name: 'a CIDR that does not parse',
      pool: clearedPool('p', { cidr: '10.0.0.0/33' }),
      passOver: 'invalid-spec',
    },
    {
      name: 'disabled',
      pool: clearedPool('p', { cidr: '10.0.0.0/16', disabled: true }),
      passOver: 'disabled',
    },
    {
      name: 'being deleted',
      pool: clearedPool('p', { cidr: '10.0.0.0/16' }, { deleting: true }),
      passOver: 'being-deleted',
    },
    {
      name: 'no status yet',
      pool: ipPool('p', { cidr: '10.0.0.0/16' }, { generation: 1 }),
      passOver: 'not-cleared',
    },
    {
      name: 'Allocatable False (CIDROverlap)',
      pool: clearedPool('p', { cidr: '10.0.0.0/16' }, { status: allocatableStatus('False', 'CIDROverlap') }),
      passOver: 'not-cleared',
    },
    {
      name: 'Allocatable Unknown',
      pool: clearedPool(
        'p',
        { cidr: '10.0.0.0/16' },
        { status: allocatableStatus('Unknown', 'Reconciling') },
      ),
      passOver: 'not-cleared',
    },
    {
      name: 'Allocatable for an older generation',
      pool: clearedPool('p', { cidr: '10.0.0.0/16' }, { generation: 2 }),
      passOver: 'not-cleared',
    },
    {
      name: 'allowedUses without Workload',
      pool: clearedPool('p', { cidr: '10.0.0.0/16', allowedUses: ['Tunnel'] }),
      passOver: 'not-for-workloads',
    },
    {
      name: 'allowedUses with Workload among others',
      pool: clearedPool('p', { cidr: '10.0.0.0/16', allowedUses: ['Tunnel', 'Workload'] }),
    },
    {
      name: 'assignmentMode Manual, not named',
      pool: clearedPool('p', { cidr: '10.0.0.0/16', assignmentMode: 'Manual' }),
      passOver: 'manual-not-requested',
    },
    {
      name: 'assignmentMode Manual, named',
      pool: clearedPool('p', { cidr: '10.0.0.0/16', assignmentMode: 'Manual' }),
      request: { requested: [byName('p')] },
    },
    {
      name: 'assignmentMode Manual, named by CIDR',
      pool: clearedPool('p', { cidr: '10.0.0.0/16', assignmentMode: 'Manual' }),
      request: { requested: [byCidr('10.0.0.0/16')] },
    },
    {
      name: 'named, but its selector does not match: naming a pool does not bypass its selector',
      pool: clearedPool('p', { cidr: '10.0.0.0/16', nodeSelector: 'rack == "1"' }),
      request: { requested: [byName('p')] },
      passOver: 'node-not-selected',
    },
    {
      name: "named by a workload's annotation: its selector is waived, as in Calico",
      pool: clearedPool('p', { cidr: '10.0.0.0/16', nodeSelector: 'rack == "1"' }),
      request: { requested: [byName('p')], selectorWaived: true },
    },
    {
      name: 'a waived selector does not revive a disabled pool',
      pool: clearedPool('p', { cidr: '10.0.0.0/16', nodeSelector: 'rack == "1"', disabled: true }),
      request: { requested: [byName('p')], selectorWaived: true },
      passOver: 'disabled',
    },
    {
      name: "a namespaceSelector matching the pod's namespace",
      pool: clearedPool('p', { cidr: '10.0.0.0/16', namespaceSelector: 'tenant == "a"' }),
      request: { namespaceLabels: { tenant: 'a' } },
    },
    {
      name: "a namespaceSelector not matching the pod's namespace",
      pool: clearedPool('p', { cidr: '10.0.0.0/16', namespaceSelector: 'tenant == "a"' }),
      request: { namespaceLabels: { tenant: 'b' } },
      passOver: 'namespace-not-selected',
    },
    {
      name: 'an annotation naming the pool waives its nodeSelector, not its namespaceSelector',
      pool: clearedPool('p', {
        cidr: '10.0.0.0/16',
        nodeSelector: 'rack == "1"',
        namespaceSelector: 'tenant == "a"',
      }),
      request: { requested: [byName('p')], selectorWaived: true, namespaceLabels: {} },
      passOver: 'namespace-not-selected',
    },
    {
      name: 'a namespaceSelector is not consulted without a pod (the operator ahead of time)',
      pool: clearedPool('p', { cidr: '10.0.0.0/16', namespaceSelector: 'tenant == "a"' }),
      request: { namespaceLabels: undefined },
    },
    {
      name: 'named, but disabled',
      pool: clearedPool('p', { cidr: '10.0.0.0/16', disabled: true }),
      request: { requested: [byName('p')] },
      passOver: 'disabled',
    },
    {
      name: 'every family wanted (the operator ahead of time)',
      pool: clearedPool('p', { cidr: 'fd00::/48' }),
      request: { family: undefined },
    },
  ])('$name', ({ pool, request, passOver }) => {
    expect(judge([pool], request)).toEqual(
      passOver === undefined
        ? { serving: ['p'], passedOver: {} }
        : { serving: [], passedOver: { p: passOver } },
    );
  });

  it.each<{
    name: string;
    rules: Partial<Record<'spec' | 'deleting' | 'status', true>>;
    first: PassOver['code'];
  }>([
    {
      name: 'an invalid spec outranks everything',
      rules: { spec: true, deleting: true, status: true },
      first: 'invalid-spec',
    },
    {
      name: 'being deleted outranks disabled and clearance',
      rules: { deleting: true, status: true },
      first: 'being-deleted',
    },
    { name: 'disabled outranks clearance', rules: { status: true }, first: 'disabled' },
  ])('$name', ({ rules, first }) => {
    const pool = ipPool(
      'p',
      { cidr: rules.spec ? 'nope' : '10.0.0.0/16', disabled: true, allowedUses: ['Tunnel'] },
      {
        generation: 1,
        ...(rules.deleting ? { deleting: true } : {}),
        ...(rules.status ? {} : { status: allocatableStatus('True', 'OK') }),
      },
    );
    expect(judge([pool]).passedOver).toEqual({ p: first });
  });
});

describe('poolsForNode: several pools', () => {
  const pools = [
    clearedPool('rack-0', { cidr: '10.0.0.0/24', nodeSelector: 'rack == "0"' }),
    clearedPool('rack-1', { cidr: '10.0.1.0/24', nodeSelector: 'rack == "1"' }),
    clearedPool('all-v4', { cidr: '10.1.0.0/16' }),
    clearedPool('all-v6', { cidr: 'fd00::/64' }),
    clearedPool('manual', { cidr: '10.0.2.0/24', assignmentMode: 'Manual' }),
    clearedPool('dual', { cidr: 'fd01::/64', assignmentMode: 'Manual' }),
  ];

  it.each<{ name: string; request: Partial<PoolRequest>; serving: string[]; passedOver: string[] }>([
    {
      name: 'no pool named: every Automatic pool of the family, by name',
      request: {},
      serving: ['all-v4', 'rack-0'],
      passedOver: ['manual', 'rack-1'],
    },
    {
      name: 'IPv6: pools of the other family are neither served nor passed over',
      request: { family: 6 },
      serving: ['all-v6'],
      passedOver: ['dual'],
    },
    {
      name: 'both families',
      request: { family: undefined },
      serving: ['all-v4', 'all-v6', 'rack-0'],
      passedOver: ['dual', 'manual', 'rack-1'],
    },
    {
      name: 'pools named: only those, in the order named',
      request: { requested: [byName('manual'), byCidr('10.0.0.0/24'), byName('all-v4')] },
      serving: ['manual', 'rack-0', 'all-v4'],
      passedOver: [],
    },
    {
      name: 'pools named: one passed over is listed',
      request: { requested: [byName('rack-1'), byName('all-v4')] },
      serving: ['all-v4'],
      passedOver: ['rack-1'],
    },
    {
      name: 'a name with a family serves only that family',
      request: { family: 4, requested: [{ kind: 'name', name: 'all-v4', family: 6 }, byName('rack-0')] },
      serving: ['rack-0'],
      passedOver: [],
    },
    {
      name: 'a name with its own family',
      request: { family: 6, requested: [{ kind: 'name', name: 'all-v6', family: 6 }, byName('all-v4')] },
      serving: ['all-v6'],
      passedOver: [],
    },
    {
      name: 'a CIDR names only the pool of exactly that CIDR',
      request: { requested: [byCidr('10.0.0.0/16'), byCidr('10.0.0.0/24')] },
      serving: ['rack-0'],
      passedOver: [],
    },
  ])('$name', ({ request, serving, passedOver }) => {
    const verdict = judge(pools, request);
    expect(verdict.serving).toEqual(serving);
    expect(Object.keys(verdict.passedOver)).toEqual(passedOver);
  });

  it('orders the same whatever order the pools were read in', () => {
    expect(judge([...pools].reverse())).toEqual(judge(pools));
  });
});

describe('unknownRequestedPools', () => {
  const pools: ParsedPool[] = [
    parsePool(clearedPool('a', { cidr: '10.0.0.0/24' })),
    parsePool(clearedPool('broken', { cidr: '10.0.1.0/24', blockSize: 99 })),
    parsePool(clearedPool('garbled', { cidr: 'nope' })),
  ];

  it.each<{ name: string; requested: RequestedPool[]; unknown: number[] }>([
    { name: 'nothing named', requested: [], unknown: [] },
    { name: 'a pool by name', requested: [byName('a')], unknown: [] },
    { name: 'a pool by CIDR', requested: [byCidr('10.0.0.0/24')], unknown: [] },
    { name: 'a CIDR inside a pool is not that pool', requested: [byCidr('10.0.0.0/25')], unknown: [0] },
    { name: 'a name no pool has', requested: [byName('a'), byName('b')], unknown: [1] },
    {
      name: 'an invalid pool exists, by name',
      requested: [byName('broken'), byName('garbled')],
      unknown: [],
    },
    { name: 'an invalid pool whose CIDR parses, by CIDR', requested: [byCidr('10.0.1.0/24')], unknown: [] },
  ])('$name', ({ requested, unknown }) => {
    expect(unknownRequestedPools(pools, requested).map(({ index }) => index)).toEqual(unknown);
  });
});

describe('unclearedReason', () => {
  it.each<{ name: string; pool: IPPool; reason: string | undefined }>([
    {
      name: 'Allocatable for the current generation',
      pool: clearedPool('p', { cidr: '10.0.0.0/16' }),
      reason: undefined,
    },
    {
      name: 'no generation to compare (never stored)',
      pool: ipPool('p', { cidr: '10.0.0.0/16' }, { status: allocatableStatus('True', 'OK') }),
      reason: undefined,
    },
    {
      name: 'no status',
      pool: ipPool('p', { cidr: '10.0.0.0/16' }, { generation: 1 }),
      reason: 'not yet marked Allocatable by the operator (is the topology-ipam operator running?)',
    },
    {
      name: 'False with a message',
      pool: clearedPool(
        'p',
        { cidr: '10.0.0.0/16' },
        { status: allocatableStatus('False', 'PoolDisabled', 1, 'disabled') },
      ),
      reason: 'not allocatable: PoolDisabled (disabled)',
    },
    {
      name: 'Unknown without a message',
      pool: clearedPool(
        'p',
        { cidr: '10.0.0.0/16' },
        { status: allocatableStatus('Unknown', 'Reconciling') },
      ),
      reason: 'not allocatable: Reconciling',
    },
    {
      name: 'an older generation',
      pool: clearedPool(
        'p',
        { cidr: '10.0.0.0/16' },
        { generation: 3, status: allocatableStatus('True', 'OK', 2) },
      ),
      reason: 'changed (generation 3) since the operator last marked it Allocatable (generation 2)',
    },
  ])('$name', ({ pool, reason }) => {
    expect(unclearedReason(pool)).toBe(reason);
  });
});

describe('formatPassOver', () => {
  it.each<{ passOver: PassOver; text: string }>([
    {
      passOver: { code: 'invalid-spec', problems: ['spec.cidr: a', 'spec.blockSize: b'] },
      text: 'invalid spec: spec.cidr: a; spec.blockSize: b',
    },
    { passOver: { code: 'being-deleted' }, text: 'being deleted' },
    { passOver: { code: 'disabled' }, text: 'disabled' },
    {
      passOver: { code: 'not-cleared', reason: 'not allocatable: CIDROverlap' },
      text: 'not allocatable: CIDROverlap',
    },
    { passOver: { code: 'not-for-workloads' }, text: 'allowedUses excludes Workload' },
    {
      passOver: { code: 'manual-not-requested' },
      text: 'assignmentMode Manual and not named in ipam.pools (a Manual pool serves only the networks that name it)',
    },
    {
      passOver: { code: 'node-not-selected', selector: 'rack == "1"' },
      text: `nodeSelector rack == "1" does not match the node's labels`,
    },
    {
      passOver: { code: 'namespace-not-selected', selector: 'tenant == "a"' },
      text: `namespaceSelector tenant == "a" does not match the labels of the pod's namespace`,
    },
  ])('$passOver.code', ({ passOver, text }) => {
    expect(formatPassOver(passOver)).toBe(text);
  });
});

describe('mayClaimAnotherBlock', () => {
  const confirmed = (index: number, pool = 'p') => block(`10.0.${index}.0/26`, pool, 'node-a');
  const pending = (index: number) => block(`10.0.${index}.0/26`, 'p', '');

  it.each<{
    name: string;
    blocks: ReturnType<typeof block>[];
    claiming?: number;
    max: number;
    allowed: boolean;
    held: number;
  }>([
    {
      name: '0 means no limit',
      blocks: [confirmed(0), confirmed(1), confirmed(2)],
      max: 0,
      allowed: true,
      held: 3,
    },
    { name: 'no block yet', blocks: [], max: 1, allowed: true, held: 0 },
    { name: 'below the limit', blocks: [confirmed(0)], max: 2, allowed: true, held: 1 },
    { name: 'at the limit', blocks: [confirmed(0), confirmed(1)], max: 2, allowed: false, held: 2 },
    {
      name: 'across pools: the blocks of every pool that may serve the request count together',
      blocks: [confirmed(0), confirmed(1, 'q')],
      max: 2,
      allowed: false,
      held: 2,
    },
    {
      name: 'blocks of pools that may not serve the request (another family, or draining) do not count',
      blocks: [confirmed(0, 'v6'), confirmed(1, 'gone')],
      max: 1,
      allowed: true,
      held: 0,
    },
    { name: 'a pending claim does not count', blocks: [pending(0)], max: 1, allowed: true, held: 0 },
    {
      name: 'a draining block of a serving pool counts',
      blocks: [{ ...confirmed(0), spec: { ...confirmed(0).spec, draining: true } }],
      max: 1,
      allowed: false,
      held: 1,
    },
    {
      name: 'blocks being claimed count',
      blocks: [confirmed(0)],
      claiming: 1,
      max: 2,
      allowed: false,
      held: 2,
    },
  ])('$name: allowed=$allowed', ({ blocks, claiming, max, allowed, held }) => {
    const verdict = mayClaimAnotherBlock({
      family: 4,
      pools: ['p', 'q'],
      nodeBlocks: blocks,
      ...(claiming === undefined ? {} : { claiming }),
      maxBlocksPerHost: max,
    });
    expect(verdict).toMatchObject({ allowed, held });
  });

  it('says why it refuses', () => {
    const verdict = mayClaimAnotherBlock({
      family: 4,
      pools: ['p', 'q'],
      nodeBlocks: [confirmed(0)],
      maxBlocksPerHost: 1,
    });
    expect(verdict).toEqual({
      allowed: false,
      held: 1,
      why: 'the node holds 1 IPv4 block(s) of the pools that may serve it (p, q), the maxBlocksPerHost (1)',
    });
  });
});
