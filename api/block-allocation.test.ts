import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressToString, parseCidr } from '../ipam/index.js';
import {
  type AssignOptions,
  allocationAddress,
  assignAddress,
  blockUsage,
  findAllocation,
  releaseHandle,
  releaseInvalidHandles,
  reservedOrdinals,
} from './block-allocation.js';
import type { IPAMBlockSpec } from './block.js';

const emptyBlock = (cidr = '10.0.0.0/29'): IPAMBlockSpec => ({
  cidr,
  pool: 'pool-a',
  node: 'node-a',
  allocations: [],
  cooling: [],
});
const t0 = new Date('2024-01-01T00:00:00.000Z');
const later = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const owner = (handle: string) => ({ handle, node: 'node-a', namespace: 'default', pod: handle });
const at = (now: Date, cooldownSeconds = 30, reserved?: readonly number[]): AssignOptions => ({
  now,
  cooldownSeconds,
  ...(reserved ? { reserved } : {}),
});

function assign(spec: IPAMBlockSpec, handle: string, options: AssignOptions): IPAMBlockSpec {
  const outcome = assignAddress(spec, owner(handle), options);
  if (outcome.kind === 'full') throw new Error('full');
  return outcome.spec;
}

describe('assignAddress', () => {
  it('assigns the lowest free ordinal and records the owner', () => {
    const outcome = assignAddress(emptyBlock(), owner('net.c1.eth0'), at(t0));
    expect(outcome).toEqual({
      kind: 'assigned',
      spec: expect.objectContaining({ cooling: [] }) as unknown,
      allocation: {
        ordinal: 0,
        handle: 'net.c1.eth0',
        namespace: 'default',
        pod: 'net.c1.eth0',
        node: 'node-a',
        assignedAt: t0.toISOString(),
      },
    });
  });

  it('records the pod UID when the runtime gave one', () => {
    const outcome = assignAddress(emptyBlock(), { ...owner('net.c1.eth0'), podUID: 'uid-1' }, at(t0));
    expect(outcome.kind === 'assigned' && outcome.allocation.podUID).toBe('uid-1');
  });

  it('skips reserved ordinals', () => {
    const block = parseCidr('10.0.0.0/29');
    const outcome = assignAddress(emptyBlock(), owner('h'), at(t0, 30, reservedOrdinals(block)));
    expect(outcome.kind === 'assigned' && outcome.allocation.ordinal).toBe(1);
  });

  it('is idempotent: the same handle gets the same address and the spec is unchanged', () => {
    const once = assign(emptyBlock(), 'h1', at(t0));
    const twice = assignAddress(once, owner('h1'), at(later(5)));
    expect(twice.kind).toBe('existing');
    expect(twice.kind !== 'full' && twice.spec).toBe(once);
  });

  it('does not mutate its input', () => {
    const input = emptyBlock();
    const frozen = JSON.stringify(input);
    assign(input, 'h1', at(t0));
    expect(JSON.stringify(input)).toBe(frozen);
  });

  it('keeps a released address out of use during its cool-down, and prefers never-released ones after it', () => {
    let spec = emptyBlock('10.0.0.0/30'); // 4 addresses, none reserved
    for (const handle of ['a', 'b', 'c', 'd']) spec = assign(spec, handle, at(t0));
    spec = releaseHandle(spec, 'b', later(1)).spec;
    spec = releaseHandle(spec, 'a', later(2)).spec;
    expect(assignAddress(spec, owner('e'), at(later(10))).kind).toBe('full');
    // After the cool-down, the address released longest ago comes back first.
    const e = assignAddress(spec, owner('e'), at(later(31)));
    expect(e.kind === 'assigned' && e.allocation.ordinal).toBe(1);
    // `a` (released at +2s) has not cooled yet at +31s.
    expect(assignAddress(e.kind === 'assigned' ? e.spec : spec, owner('f'), at(later(31))).kind).toBe('full');
  });

  it('never reuses a cooling address with an infinite cool-down', () => {
    let spec = assign(emptyBlock('10.0.0.0/31'), 'a', at(t0));
    spec = assign(spec, 'b', at(t0));
    spec = releaseHandle(spec, 'a', t0).spec;
    expect(assignAddress(spec, owner('c'), at(later(1e9), Number.POSITIVE_INFINITY)).kind).toBe('full');
    expect(assignAddress(spec, owner('c'), at(later(1e9), 0)).kind).toBe('assigned');
  });

  it('prefers a free ordinal to an expired cooling one even when the cooling one is lower', () => {
    let spec = assign(emptyBlock('10.0.0.0/30'), 'a', at(t0));
    spec = releaseHandle(spec, 'a', t0).spec;
    const outcome = assignAddress(spec, owner('b'), at(later(3600)));
    expect(outcome.kind === 'assigned' && outcome.allocation.ordinal).toBe(1);
  });
});

describe('releaseHandle', () => {
  it('moves the allocation to cooling and is idempotent', () => {
    const spec = assign(emptyBlock(), 'h1', at(t0));
    const first = releaseHandle(spec, 'h1', later(1));
    expect(first.released.map((a) => a.handle)).toEqual(['h1']);
    expect(first.spec.allocations).toEqual([]);
    expect(first.spec.cooling).toEqual([{ ordinal: 0, releasedAt: later(1).toISOString() }]);
    const second = releaseHandle(first.spec, 'h1', later(2));
    expect(second.released).toEqual([]);
    expect(second.spec).toBe(first.spec);
  });
});

describe('releaseInvalidHandles', () => {
  it('releases only in-scope handles that are not valid', () => {
    let spec = emptyBlock();
    for (const handle of ['net.a.eth0', 'net.b.eth0', 'other.c.eth0']) spec = assign(spec, handle, at(t0));
    const outcome = releaseInvalidHandles(
      spec,
      new Set(['net.a.eth0']),
      (allocation) => allocation.handle.startsWith('net.'),
      later(1),
    );
    expect(outcome.released.map((a) => a.handle)).toEqual(['net.b.eth0']);
    expect(outcome.spec.allocations.map((a) => a.handle)).toEqual(['net.a.eth0', 'other.c.eth0']);
  });
});

describe('reservedOrdinals and addresses', () => {
  it.each([
    ['10.0.0.0/26', [0, 63]],
    ['10.0.0.0/30', []],
    ['10.0.0.0/32', []],
    ['fd00::/122', [0]],
    ['fd00::/126', []],
  ])('%s reserves %j', (cidr, reserved) => {
    expect(reservedOrdinals(parseCidr(cidr))).toEqual(reserved);
  });

  it('maps an ordinal to its address', () => {
    expect(addressToString(allocationAddress(emptyBlock('10.0.0.64/26'), 5))).toBe('10.0.0.69');
  });
});

type Operation = { op: 'assign'; handle: number; at: number } | { op: 'release'; handle: number; at: number };

const operations = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('assign' as const), handle: fc.nat(12), at: fc.nat(120) }),
    fc.record({ op: fc.constant('release' as const), handle: fc.nat(12), at: fc.nat(120) }),
  ),
  { maxLength: 80 },
);

describe('properties over assign/release sequences', () => {
  const cidr = '10.1.0.0/29'; // 8 addresses, fewer than the handles: the block fills up
  const reserved = reservedOrdinals(parseCidr(cidr));

  function run(ops: readonly Operation[], cooldownSeconds: number): { spec: IPAMBlockSpec; now: Date }[] {
    let spec = emptyBlock(cidr);
    let clock = 0;
    const states = [];
    for (const step of ops) {
      clock += step.at;
      const now = later(clock);
      const handle = `h${step.handle}`;
      if (step.op === 'assign') {
        const outcome = assignAddress(spec, owner(handle), at(now, cooldownSeconds, reserved));
        if (outcome.kind !== 'full') spec = outcome.spec;
      } else {
        spec = releaseHandle(spec, handle, now).spec;
      }
      states.push({ spec, now });
    }
    return states;
  }

  it('never gives one ordinal to two handles, nor one handle two ordinals', () => {
    fc.assert(
      fc.property(operations, fc.constantFrom(0, 30, Number.POSITIVE_INFINITY), (ops, cooldown) => {
        for (const { spec } of run(ops, cooldown)) {
          const ordinals = spec.allocations.map((a) => a.ordinal);
          const handles = spec.allocations.map((a) => a.handle);
          expect(new Set(ordinals).size).toBe(ordinals.length);
          expect(new Set(handles).size).toBe(handles.length);
          expect(ordinals).toEqual([...ordinals].sort((a, b) => a - b));
          for (const ordinal of ordinals) expect(reserved).not.toContain(ordinal);
        }
      }),
    );
  });

  it('keeps allocated, cooling, reserved and free a partition of the block', () => {
    fc.assert(
      fc.property(operations, fc.constantFrom(0, 30, Number.POSITIVE_INFINITY), (ops, cooldown) => {
        for (const { spec, now } of run(ops, cooldown)) {
          const allocated = new Set(spec.allocations.map((a) => a.ordinal));
          for (const entry of spec.cooling) expect(allocated.has(entry.ordinal)).toBe(false);
          expect(new Set(spec.cooling.map((c) => c.ordinal)).size).toBe(spec.cooling.length);
          const usage = blockUsage(spec, at(now, cooldown, reserved));
          expect(usage.allocated + usage.cooling + usage.reserved + usage.free).toBe(usage.size);
          expect(usage.free).toBeGreaterThanOrEqual(0);
          expect(usage.allocated).toBe(allocated.size);
        }
      }),
    );
  });

  it('is idempotent: assigning a handle that holds an address changes nothing', () => {
    fc.assert(
      fc.property(operations, fc.nat(12), (ops, handle) => {
        const states = run(ops, 30);
        const last = states.at(-1) ?? { spec: emptyBlock(cidr), now: t0 };
        const held = findAllocation(last.spec, `h${handle}`);
        const outcome = assignAddress(last.spec, owner(`h${handle}`), at(last.now, 30, reserved));
        if (held) {
          expect(outcome).toEqual({ kind: 'existing', spec: last.spec, allocation: held });
        } else if (outcome.kind !== 'full') {
          expect(outcome.kind).toBe('assigned');
        }
      }),
    );
  });

  it('assigns whenever the usage says an address is free', () => {
    fc.assert(
      fc.property(operations, (ops) => {
        for (const { spec, now } of run(ops, 30)) {
          const usage = blockUsage(spec, at(now, 30, reserved));
          const outcome = assignAddress(spec, owner('fresh'), at(now, 30, reserved));
          expect(outcome.kind === 'full').toBe(usage.free === 0);
        }
      }),
    );
  });
});
