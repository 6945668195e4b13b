import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { block } from '../operator/plan/fixtures.js';
import {
  type InvocationOutcome,
  type Operation,
  type RecordedBlock,
  type Snapshot,
  type ViolationKind,
  checkRun,
  recordedBlocks,
} from './invariants.js';

const BLOCK = '10.0.0.0/28';

/** An operation that ran from `at` to `at + 1`. */
function op(owner: string, command: 'ADD' | 'DEL', at: number, outcome: InvocationOutcome): Operation {
  return { owner, command, startedAt: at, endedAt: at + 1, outcome };
}
const added = (owner: string, at: number, address: string) =>
  op(owner, 'ADD', at, { kind: 'ok', address: `${address}/28` });
const deleted = (owner: string, at: number) => op(owner, 'DEL', at, { kind: 'ok' });
const killedAdd = (owner: string, at: number) => op(owner, 'ADD', at, { kind: 'killed' });

/** A block of 10.0.0.0/28 recording `[owner, ordinal]` pairs. */
function blockWith(
  records: readonly (readonly [string, number])[],
  cidr = BLOCK,
  name = cidr,
): RecordedBlock {
  return { name, cidr, allocations: records.map(([owner, ordinal]) => ({ owner, ordinal })) };
}
const snap = (at: number, blocks: RecordedBlock[], final = false): Snapshot => ({
  label: `at ${at}`,
  at,
  blocks,
  ...(final ? { final } : {}),
});

const kinds = (operations: Operation[], snapshots: Snapshot[]): ViolationKind[] =>
  checkRun(operations, snapshots)
    .violations.map((violation) => violation.kind)
    .sort();

describe('checkRun', () => {
  it.each<{ name: string; operations: Operation[]; snapshots: Snapshot[]; expected: ViolationKind[] }>([
    {
      name: 'a clean run: ADD, re-ADD of the same address, DEL, nothing left',
      operations: [added('ns/a', 0, '10.0.0.1'), added('ns/a', 2, '10.0.0.1'), deleted('ns/a', 10)],
      snapshots: [snap(5, [blockWith([['ns/a', 1]])]), snap(20, [blockWith([])], true)],
      expected: [],
    },
    {
      name: 'an address reused after its DEL ended',
      operations: [added('ns/a', 0, '10.0.0.1'), deleted('ns/a', 2), added('ns/b', 4, '10.0.0.1')],
      snapshots: [snap(6, [blockWith([['ns/b', 1]])])],
      expected: [],
    },
    {
      name: 'an address reused while its DEL ran (it may have released it already)',
      operations: [
        added('ns/a', 0, '10.0.0.1'),
        { ...deleted('ns/a', 2), endedAt: 10 },
        added('ns/b', 4, '10.0.0.1'),
      ],
      snapshots: [],
      expected: [],
    },
    {
      name: 'two pods given one address at the same time',
      operations: [added('ns/a', 0, '10.0.0.1'), added('ns/b', 2, '10.0.0.1')],
      snapshots: [],
      expected: ['address-held-twice'],
    },
    {
      name: 'one address recorded for two pods',
      operations: [],
      snapshots: [snap(5, [blockWith([['ns/a', 3]]), blockWith([['ns/b', 3]], '10.0.0.0/29', 'other')])],
      expected: ['address-recorded-twice', 'blocks-overlap', 'leaked', 'leaked'],
    },
    {
      name: 'two blocks over one range, empty',
      operations: [],
      snapshots: [snap(5, [blockWith([]), blockWith([], '10.0.0.8/29', 'inner')])],
      expected: ['blocks-overlap'],
    },
    {
      name: 'a successful ADD with no record of its address',
      operations: [added('ns/a', 0, '10.0.0.1')],
      snapshots: [snap(5, [blockWith([['ns/a', 2]])])],
      expected: ['unrecorded'],
    },
    {
      name: 'a repeated ADD returning another address',
      operations: [added('ns/a', 0, '10.0.0.1'), added('ns/a', 2, '10.0.0.2')],
      snapshots: [],
      expected: ['readdressed'],
    },
    {
      name: 'a record of a pod whose DEL succeeded',
      operations: [added('ns/a', 0, '10.0.0.1'), deleted('ns/a', 2)],
      snapshots: [snap(5, [blockWith([['ns/a', 1]])])],
      expected: ['leaked'],
    },
    {
      name: 'a record of a pod never ADDed',
      operations: [],
      snapshots: [snap(5, [blockWith([['ns/ghost', 1]])])],
      expected: ['leaked'],
    },
    {
      name: 'a killed ADD may hold a record until its DEL',
      operations: [killedAdd('ns/a', 0)],
      snapshots: [snap(5, [blockWith([['ns/a', 4]])])],
      expected: [],
    },
    {
      name: 'the ADD after a crashed one returns the address recorded in between',
      operations: [killedAdd('ns/a', 0), added('ns/a', 10, '10.0.0.4')],
      snapshots: [snap(5, [blockWith([['ns/a', 4]])]), snap(15, [blockWith([['ns/a', 4]])])],
      expected: [],
    },
    {
      name: 'the ADD after a failed one returns another address than the one recorded in between',
      operations: [
        op('ns/a', 'ADD', 0, { kind: 'error', code: 11 }),
        added('ns/a', 10, '10.0.0.5'),
        deleted('ns/a', 20),
      ],
      snapshots: [snap(5, [blockWith([['ns/a', 4]])]), snap(25, [blockWith([])])],
      expected: ['readdressed-after-failure'],
    },
    {
      name: 'the ADD after a crashed one, with nothing recorded in between, may take any address',
      operations: [killedAdd('ns/a', 0), added('ns/a', 10, '10.0.0.5')],
      snapshots: [snap(5, [blockWith([])]), snap(15, [blockWith([['ns/a', 5]])])],
      expected: [],
    },
    {
      name: 'a crashed DEL may still release the recorded address after the snapshot',
      operations: [
        added('ns/a', 0, '10.0.0.4'),
        op('ns/a', 'DEL', 2, { kind: 'killed' }),
        killedAdd('ns/a', 4),
        added('ns/a', 10, '10.0.0.5'),
      ],
      snapshots: [snap(7, [blockWith([['ns/a', 4]])]), snap(15, [blockWith([['ns/a', 5]])])],
      expected: [],
    },
    {
      name: 'a pod recorded at two addresses',
      operations: [killedAdd('ns/a', 0)],
      snapshots: [
        snap(5, [
          blockWith([
            ['ns/a', 4],
            ['ns/a', 5],
          ]),
        ]),
      ],
      expected: ['owner-recorded-twice'],
    },
    {
      name: 'anything left after the clean-up, and a clean-up DEL that failed',
      operations: [killedAdd('ns/a', 0), op('ns/a', 'DEL', 2, { kind: 'error', code: 11 })],
      snapshots: [snap(5, [blockWith([['ns/a', 4]])], true)],
      expected: ['block-not-empty', 'cleanup-failed', 'leaked'],
    },
    {
      name: 'an unreadable block CIDR',
      operations: [],
      snapshots: [snap(5, [blockWith([], 'garbage', 'bad')])],
      expected: ['unreadable-block'],
    },
  ])('$name', ({ operations, snapshots, expected }) => {
    expect(kinds(operations, snapshots)).toEqual(expected);
  });

  it('counts the ADDs after a failed one that had a record to match', () => {
    const verdict = checkRun(
      [
        killedAdd('ns/a', 0),
        added('ns/a', 10, '10.0.0.4'),
        killedAdd('ns/b', 0),
        added('ns/b', 10, '10.0.0.6'),
      ],
      [snap(5, [blockWith([['ns/a', 4]])])],
    );
    expect(verdict.reAddsAfterFailureChecked).toBe(1);
    expect(verdict.violations).toEqual([]);
  });

  it('counts successful ADDs as allocations checked, and duplicates and leaks apart from other faults', () => {
    const verdict = checkRun(
      [added('ns/a', 0, '10.0.0.1'), added('ns/b', 2, '10.0.0.1'), killedAdd('ns/c', 3)],
      [
        snap(5, [
          blockWith([
            ['ns/a', 1],
            ['ns/ghost', 7],
          ]),
        ]),
      ],
    );
    expect(verdict).toMatchObject({
      allocationsChecked: 2,
      recordsChecked: 2,
      duplicates: 1,
      leakedRecords: 1,
    });
    // ns/b's address is recorded for ns/a only.
    expect(verdict.violations.map((violation) => violation.kind).sort()).toEqual([
      'address-held-twice',
      'leaked',
      'unrecorded',
    ]);
  });

  it('reads the pod namespace and name of each record, and falls back to the handle', () => {
    const [recorded] = recordedBlocks([
      block('10.0.0.0/28', 'pool', 'node-a', {
        allocations: [
          { ordinal: 1, handle: 'net.c1.eth0', namespace: 'ns', pod: 'p1', node: 'node-a', assignedAt: '' },
          { ordinal: 2, handle: 'net.c2.eth0', node: 'node-a', assignedAt: '' },
        ],
      }),
    ]);
    expect(recorded?.allocations).toEqual([
      { ordinal: 1, owner: 'ns/p1' },
      { ordinal: 2, owner: 'net.c2.eth0' },
    ]);
  });
});

/**
 * A correct allocator, modelled: one /28, each ADD returns the pod's address or the lowest free one, each
 * DEL frees it. Runs are sequential, with a snapshot of the records after every step and a final clean-up.
 * With `corruptAt`, that step's fresh ADD is handed an address another pod holds instead.
 */
interface ModelRun {
  operations: Operation[];
  snapshots: Snapshot[];
  /** Steps that are fresh ADDs while another pod holds an address: where a corruption shows. */
  corruptible: number[];
}

const owners = ['ns/a', 'ns/b', 'ns/c', 'ns/d'];
const step = fc.record({ owner: fc.constantFrom(...owners), command: fc.constantFrom('ADD', 'DEL') });
const ordinals = Array.from({ length: 14 }, (_, i) => i + 1);

function runModel(steps: readonly { owner: string; command: string }[], corruptAt?: number): ModelRun {
  const held = new Map<string, number>();
  const run: ModelRun = { operations: [], snapshots: [], corruptible: [] };
  let clock = 0;
  steps.forEach(({ owner, command }, index) => {
    if (command === 'DEL') {
      held.delete(owner);
      run.operations.push(deleted(owner, clock));
    } else {
      const victim = [...held].find(([other]) => other !== owner);
      if (!held.has(owner) && victim) run.corruptible.push(index);
      const taken = new Set(held.values());
      const ordinal =
        held.get(owner) ??
        (index === corruptAt ? victim?.[1] : undefined) ??
        ordinals.find((candidate) => !taken.has(candidate));
      if (ordinal === undefined) return;
      held.set(owner, ordinal);
      run.operations.push(added(owner, clock, `10.0.0.${ordinal}`));
    }
    clock += 2;
    run.snapshots.push(snap(clock++, [blockWith([...held])]));
  });
  for (const owner of owners) {
    run.operations.push(deleted(owner, clock));
    clock += 2;
  }
  run.snapshots.push(snap(clock, [blockWith([])], true));
  return run;
}

describe('checkRun on a modelled allocator', () => {
  it('finds nothing wrong with a correct allocator', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const { operations, snapshots } = runModel(steps);
        expect(checkRun(operations, snapshots).violations).toEqual([]);
      }),
    );
  });

  it('always reports an address handed to a second pod while the first holds it', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), fc.nat(), (steps, pick) => {
        const { corruptible } = runModel(steps);
        fc.pre(corruptible.length > 0);
        const { operations, snapshots } = runModel(steps, corruptible[pick % corruptible.length]);
        expect(checkRun(operations, snapshots).duplicates).toBeGreaterThan(0);
      }),
    );
  });
});
