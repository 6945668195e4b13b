import { describe, expect, it } from 'vitest';
import type { Allocation } from './index.js';
import type { Pod } from '../kube/index.js';
import { allocation, block } from '../operator/plan/fixtures.js';
import { parseCidr } from '../ipam/index.js';
import {
  type LeakReason,
  handleLeaks,
  leakGraceEnd,
  leakReason,
  leakedAllocations,
  podHandles,
  withinLeakGrace,
} from './leaks.js';

const NOW = Date.parse('2025-01-01T00:00:00Z');
const GRACE_MS = 60_000;
const ago = (ms: number): string => new Date(NOW - ms).toISOString();
const OLD = ago(10 * 60_000);

/** An allocation of 10.0.0.5 (ordinal 5 of 10.0.0.0/26) for pod default/web on node-a, assigned long ago. */
function held(fields: Partial<Allocation> = {}): Allocation {
  return allocation(5, {
    handle: 'k8s-pod-network.abc123.eth0',
    namespace: 'default',
    pod: 'web',
    node: 'node-a',
    assignedAt: OLD,
    ...fields,
  });
}

function pod(spec: Pod['spec'], status: Pod['status'] = {}, uid?: string): Pod {
  return {
    metadata: { name: 'web', namespace: 'default', ...(uid === undefined ? {} : { uid }) },
    ...(spec === undefined ? {} : { spec }),
    status,
  };
}

const onNodeA = (...ips: string[]): Pod => pod({ nodeName: 'node-a' }, { podIPs: ips.map((ip) => ({ ip })) });
const withUid = (uid: string, nodeName = 'node-a'): Pod => pod({ nodeName }, {}, uid);

function check(entry: Allocation, found: Pod | undefined, cidr = '10.0.0.0/26'): LeakReason | undefined {
  const leaks = leakedAllocations(block(cidr, 'p', 'node-a', { allocations: [entry] }), {
    pod: () => found,
    now: NOW,
    graceMs: GRACE_MS,
  });
  expect(leaks.length).toBeLessThanOrEqual(1);
  for (const leak of leaks) expect(leak.allocation).toBe(entry);
  return leaks[0]?.reason;
}

describe('leakedAllocations', () => {
  it.each<{
    name: string;
    entry: Allocation;
    pod: Pod | undefined;
    cidr?: string;
    reason: LeakReason | undefined;
  }>([
    { name: 'the pod is gone', entry: held(), pod: undefined, reason: 'pod-gone' },
    {
      name: 'the pod is gone but the allocation is within its grace',
      entry: held({ assignedAt: ago(GRACE_MS - 1) }),
      pod: undefined,
      reason: undefined,
    },
    {
      name: 'the pod is gone and the grace has just ended',
      entry: held({ assignedAt: ago(GRACE_MS) }),
      pod: undefined,
      reason: 'pod-gone',
    },
    {
      name: 'no pod details (another user’s handle)',
      entry: allocation(5, { handle: 'tunnel.node-a', node: 'node-a', assignedAt: OLD }),
      pod: undefined,
      reason: undefined,
    },
    {
      name: 'a namespace but no pod name',
      entry: allocation(5, { namespace: 'default', assignedAt: OLD }),
      pod: undefined,
      reason: undefined,
    },
    {
      name: 'a pod name but no namespace',
      entry: allocation(5, { pod: 'web', assignedAt: OLD }),
      pod: undefined,
      reason: undefined,
    },
    {
      name: 'a pod of that name now runs on another node',
      entry: held(),
      pod: pod({ nodeName: 'node-b' }, { podIPs: [{ ip: '10.0.0.9' }] }),
      reason: 'pod-moved',
    },
    {
      name: 'a pod of that name on another node that reports the address: a live pod’s address is kept',
      entry: held(),
      pod: pod({ nodeName: 'node-b' }, { podIPs: [{ ip: '10.0.0.5' }] }),
      reason: undefined,
    },
    {
      name: 'a pod re-created under the name (another UID) that reports the address: kept',
      entry: held({ podUID: 'uid-1' }),
      pod: pod({ nodeName: 'node-a' }, { podIPs: [{ ip: '10.0.0.5' }] }, 'uid-2'),
      reason: undefined,
    },
    {
      name: 'the pod is on its node and reports the address',
      entry: held(),
      pod: onNodeA('10.0.0.5'),
      reason: undefined,
    },
    {
      name: 'the pod is on its node and reports no addresses yet',
      entry: held(),
      pod: pod({ nodeName: 'node-a' }, {}),
      reason: undefined,
    },
    {
      name: 'the pod reports an empty address list',
      entry: held(),
      pod: onNodeA(),
      reason: undefined,
    },
    {
      name: 'the pod is not scheduled yet (no nodeName)',
      entry: held(),
      pod: pod({}, {}),
      reason: undefined,
    },
    {
      name: 'the pod has an empty nodeName',
      entry: held(),
      pod: pod({ nodeName: '' }, {}),
      reason: undefined,
    },
    {
      name: 'the pod has no spec',
      entry: held(),
      pod: pod(undefined, {}),
      reason: undefined,
    },
    {
      name: 'the pod reports other addresses on its primary interface (sandbox recreated)',
      entry: held(),
      pod: onNodeA('10.0.0.9'),
      reason: 'pod-readdressed',
    },
    {
      name: 'the pod reports the address among others (dual stack)',
      entry: held(),
      pod: onNodeA('fd00::9', '10.0.0.5'),
      reason: undefined,
    },
    {
      name: 'a secondary interface is not in podIPs: kept',
      entry: held({ handle: 'k8s-pod-network.abc123.net1' }),
      pod: onNodeA('10.0.0.9'),
      reason: undefined,
    },
    {
      name: 'readdressed but within the grace',
      entry: held({ assignedAt: ago(1_000) }),
      pod: onNodeA('10.0.0.9'),
      reason: undefined,
    },
    {
      name: 'moved but within the grace',
      entry: held({ assignedAt: ago(1_000) }),
      pod: pod({ nodeName: 'node-b' }),
      reason: undefined,
    },
    {
      name: 'a pod of that name with another UID (re-created)',
      entry: held({ podUID: 'uid-1' }),
      pod: withUid('uid-2'),
      reason: 'pod-replaced',
    },
    {
      name: 'the pod with the UID the allocation recorded',
      entry: held({ podUID: 'uid-1' }),
      pod: withUid('uid-1'),
      reason: undefined,
    },
    {
      name: 'an allocation without a UID (older plugin): the name decides',
      entry: held(),
      pod: withUid('uid-2'),
      reason: undefined,
    },
    {
      name: 'a pod that shows no UID: the name decides',
      entry: held({ podUID: 'uid-1' }),
      pod: onNodeA(),
      reason: undefined,
    },
    {
      name: 'another UID on another node: replaced, before moved',
      entry: held({ podUID: 'uid-1' }),
      pod: withUid('uid-2', 'node-b'),
      reason: 'pod-replaced',
    },
    {
      name: 'another UID but within the grace',
      entry: held({ podUID: 'uid-1', assignedAt: ago(1_000) }),
      pod: withUid('uid-2'),
      reason: undefined,
    },
    {
      name: 'an IPv6 address reported in canonical form',
      entry: held({ ordinal: 0x1a }),
      pod: onNodeA('fd00:10:244::1a'),
      cidr: 'fd00:10:244::/122',
      reason: undefined,
    },
    {
      name: 'an IPv6 pod readdressed',
      entry: held({ ordinal: 0x1a }),
      pod: onNodeA('fd00:10:244::1b'),
      cidr: 'fd00:10:244::/122',
      reason: 'pod-readdressed',
    },
  ])('$name: $reason', ({ entry, pod: found, cidr, reason }) => {
    expect(check(entry, found, cidr)).toBe(reason);
  });

  it('does not look up pods of allocations within their grace', () => {
    const lookups: string[] = [];
    leakedAllocations(block('10.0.0.0/26', 'p', 'node-a', { allocations: [held({ assignedAt: ago(0) })] }), {
      pod: (namespace, name) => {
        lookups.push(`${namespace}/${name}`);
        return undefined;
      },
      now: NOW,
      graceMs: GRACE_MS,
    });
    expect(lookups).toEqual([]);
  });

  it('reports each leaked allocation of a block with its reason, in block order', () => {
    const pods = new Map<string, Pod>([
      ['default/kept', onNodeA('10.0.0.2')],
      ['default/moved', pod({ nodeName: 'node-b' })],
      ['default/readdressed', onNodeA('10.0.0.99')],
    ]);
    const entries = [
      held({ ordinal: 1, handle: 'net.c1.eth0', pod: 'gone' }),
      held({ ordinal: 2, handle: 'net.c2.eth0', pod: 'kept' }),
      held({ ordinal: 3, handle: 'net.c3.eth0', pod: 'moved' }),
      held({ ordinal: 4, handle: 'net.c4.eth0', pod: 'readdressed' }),
      allocation(5, { handle: 'someone-else', assignedAt: OLD }),
    ];
    const leaks = leakedAllocations(block('10.0.0.0/26', 'p', 'node-a', { allocations: entries }), {
      pod: (namespace, name) => pods.get(`${namespace}/${name}`),
      now: NOW,
      graceMs: GRACE_MS,
    });
    expect(leaks.map((leak) => [leak.allocation.ordinal, leak.reason])).toEqual([
      [1, 'pod-gone'],
      [3, 'pod-moved'],
      [4, 'pod-readdressed'],
    ]);
  });

  it('an empty block has no leaks', () => {
    expect(
      leakedAllocations(block('10.0.0.0/26', 'p', 'node-a'), { pod: () => undefined, now: NOW, graceMs: 0 }),
    ).toEqual([]);
  });
});

describe('leakReason on a fresh read of the pod', () => {
  it.each<{ name: string; entry: Allocation; pod: Pod | undefined; reason: LeakReason | undefined }>([
    { name: 'no such pod (404)', entry: held(), pod: undefined, reason: 'pod-gone' },
    {
      name: 'the pod exists and holds the address',
      entry: held(),
      pod: onNodeA('10.0.0.5'),
      reason: undefined,
    },
    {
      name: 'the pod exists, not yet running',
      entry: held({ podUID: 'uid-1' }),
      pod: withUid('uid-1'),
      reason: undefined,
    },
    {
      name: 'a new pod of that name',
      entry: held({ podUID: 'uid-1' }),
      pod: withUid('uid-2'),
      reason: 'pod-replaced',
    },
    { name: 'the pod moved', entry: held(), pod: pod({ nodeName: 'node-b' }), reason: 'pod-moved' },
    { name: 'the pod was readdressed', entry: held(), pod: onNodeA('10.0.0.9'), reason: 'pod-readdressed' },
  ])('$name: $reason', ({ entry, pod: fresh, reason }) => {
    expect(leakReason(entry, fresh, parseCidr('10.0.0.0/26'))).toBe(reason);
  });
});

describe('leakGraceEnd and withinLeakGrace', () => {
  it.each<{ name: string; assignedAt: string; suspectedSince?: number; end: number }>([
    { name: 'from the assignment alone', assignedAt: OLD, end: Date.parse(OLD) + GRACE_MS },
    {
      name: 'from the suspicion, when it came later',
      assignedAt: OLD,
      suspectedSince: NOW - 1_000,
      end: NOW - 1_000 + GRACE_MS,
    },
    {
      name: 'from the assignment, when the suspicion came earlier (a clock ahead)',
      assignedAt: ago(1_000),
      suspectedSince: NOW - 5_000,
      end: NOW - 1_000 + GRACE_MS,
    },
    { name: 'never, for an unreadable assignment time', assignedAt: 'yesterday', end: Infinity },
  ])('$name', ({ assignedAt, suspectedSince, end }) => {
    const entry = held({ assignedAt });
    expect(leakGraceEnd(entry, GRACE_MS, suspectedSince)).toBe(end);
    const timing = { now: NOW, graceMs: GRACE_MS };
    expect(withinLeakGrace(entry, timing, suspectedSince)).toBe(NOW < end);
  });
});

describe('handleLeaks: a handle’s addresses go together', () => {
  const v4 = block('10.0.0.0/26', 'p', 'node-a', {
    allocations: [held({ handle: 'net.c1.eth0' }), held({ ordinal: 6, handle: 'net.c2.eth0', pod: 'db' })],
  });
  const v6 = block('fd00::/122', 'p6', 'node-b', {
    allocations: [held({ ordinal: 7, handle: 'net.c1.eth0' })],
  });
  const handles = podHandles([v4, v6, block('10.0.1.0/26', 'p', 'node-a', { allocations: [allocation(1)] })]);

  it('gathers each pod handle’s addresses from every block, and no handle of other users', () => {
    expect(
      [...handles].map(([handle, addresses]) => [
        handle,
        addresses.map(({ block: b, allocation: a }) => `${b.spec.cidr}#${String(a.ordinal)}`),
      ]),
    ).toEqual([
      ['net.c1.eth0', ['10.0.0.0/26#5', 'fd00::/122#7']],
      ['net.c2.eth0', ['10.0.0.0/26#6']],
    ]);
  });

  it.each<{ name: string; pod: Pod | undefined; reasons: LeakReason[] | undefined }>([
    { name: 'the pod is gone: both addresses', pod: undefined, reasons: ['pod-gone', 'pod-gone'] },
    { name: 'the pod reports both: neither', pod: onNodeA('10.0.0.5', 'fd00::7'), reasons: undefined },
    {
      name: 'the pod reports its IPv4 address only: the IPv6 one stays with it',
      pod: onNodeA('10.0.0.5'),
      reasons: undefined,
    },
    {
      name: 'the pod reports other addresses: both',
      pod: onNodeA('10.0.0.9', 'fd00::9'),
      reasons: ['pod-readdressed', 'pod-readdressed'],
    },
  ])('$name', ({ pod: found, reasons }) => {
    const leaks = handleLeaks(handles.get('net.c1.eth0') ?? [], () => found);
    expect(leaks?.map((leak) => leak.reason)).toEqual(reasons);
    for (const leak of leaks ?? []) expect([v4, v6]).toContain(leak.block);
  });

  it('a handle with no addresses is no leak', () => {
    expect(handleLeaks([], () => undefined)).toBeUndefined();
  });
});
