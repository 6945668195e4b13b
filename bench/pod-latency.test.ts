import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type PodTimes,
  interleavedPlan,
  latencyOf,
  minSamplesForP90,
  observe,
  observeSandboxReady,
  parsePodBenchOptions,
  summarize,
} from './pod-latency.js';

const networks = ['ours', 'theirs'] as const;

describe('interleavedPlan', () => {
  it('runs the batch sizes in a serpentine, switching networks once per batch size and repetition', () => {
    expect(
      interleavedPlan(2, [1, 20], networks).map(
        ({ repetition, pods, network }) => `${repetition}:${pods}:${network}`,
      ),
    ).toEqual([
      '0:1:ours',
      '0:1:theirs',
      '0:20:theirs',
      '0:20:ours',
      '1:20:ours',
      '1:20:theirs',
      '1:1:theirs',
      '1:1:ours',
    ]);
  });

  const plans = fc.record({
    repetitions: fc.integer({ min: 1, max: 12 }),
    batches: fc.uniqueArray(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 5 }),
  });

  it('runs every batch size on every network once per repetition, repetitions one after another', () => {
    fc.assert(
      fc.property(plans, ({ repetitions, batches }) => {
        const plan = interleavedPlan(repetitions, batches, networks);
        for (let repetition = 0; repetition < repetitions; repetition++) {
          const cells = plan
            .filter((trial) => trial.repetition === repetition)
            .map((trial) => `${trial.pods}:${trial.network}`);
          expect(cells.sort()).toEqual(batches.flatMap((pods) => networks.map((n) => `${pods}:${n}`)).sort());
        }
        expect(plan.map((trial) => trial.repetition)).toEqual(
          [...plan.map((trial) => trial.repetition)].sort((a, b) => a - b),
        );
      }),
    );
  });

  it('switches networks only once per batch size and repetition', () => {
    fc.assert(
      fc.property(plans, ({ repetitions, batches }) => {
        const plan = interleavedPlan(repetitions, batches, networks);
        const switches = plan.filter((trial, i) => i > 0 && plan[i - 1]?.network !== trial.network).length;
        expect(switches).toBe(repetitions * batches.length);
      }),
    );
  });

  it('over an even number of repetitions, lets each network and each batch size go first equally often', () => {
    fc.assert(
      fc.property(plans, ({ repetitions, batches }) => {
        const even = repetitions * 2;
        const plan = interleavedPlan(even, batches, networks);
        for (const pods of batches) {
          const firsts = Array.from(
            { length: even },
            (_, repetition) =>
              plan.find((trial) => trial.repetition === repetition && trial.pods === pods)?.network,
          );
          expect(firsts.filter((network) => network === 'ours')).toHaveLength(repetitions);
        }
        const leading = Array.from(
          { length: even },
          (_, repetition) => plan.find((trial) => trial.repetition === repetition)?.pods,
        );
        const first = batches[0];
        const last = batches[batches.length - 1];
        if (batches.length > 1) {
          expect(leading.filter((pods) => pods === first)).toHaveLength(repetitions);
          expect(leading.filter((pods) => pods === last)).toHaveLength(repetitions);
        }
      }),
    );
  });
});

describe('observe', () => {
  const pending = { name: 'p', phase: 'Pending' };
  it('records the first time a pod is seen, its sandbox ready, Running and addressed, and never moves them', () => {
    let times: ReadonlyMap<string, PodTimes> = new Map();
    times = observe(times, pending, 100);
    times = observe(times, { ...pending, podIP: '' }, 110);
    times = observeSandboxReady(times, 'p', 120);
    times = observe(times, { ...pending, podIP: '10.0.0.7' }, 130);
    times = observeSandboxReady(times, 'p', 140);
    times = observe(times, { name: 'p', phase: 'Running', podIP: '10.0.0.7' }, 150);
    times = observe(times, { name: 'p', phase: 'Running', podIP: '10.0.0.7' }, 170);
    expect(times.get('p')).toEqual({
      seen: 100,
      sandboxReady: 120,
      addressed: 130,
      podIP: '10.0.0.7',
      running: 150,
    });
    expect(latencyOf(times.get('p') ?? { seen: 0 })).toEqual({
      toSandbox: 20,
      toRunning: 50,
      toAddress: 30,
      podIP: '10.0.0.7',
    });
  });

  it('keeps pods apart and leaves the map it was given as it was', () => {
    const before = observe(new Map(), pending, 1);
    const after = observe(before, { name: 'q', phase: 'Running', podIP: '10.0.0.8' }, 2);
    const ready = observeSandboxReady(after, 'q', 3);
    expect(before.has('q')).toBe(false);
    expect(after.get('q')).toEqual({ seen: 2, running: 2, addressed: 2, podIP: '10.0.0.8' });
    expect(ready.get('p')).toEqual({ seen: 1 });
    expect(ready.get('q')).toMatchObject({ sandboxReady: 3 });
  });

  it('takes no sandbox of a pod it has not seen', () => {
    expect(observeSandboxReady(new Map(), 'p', 1).size).toBe(0);
  });

  it.each([
    [{ seen: 1 }],
    [{ seen: 1, running: 5, addressed: 5, podIP: '10.0.0.7' }],
    [{ seen: 1, sandboxReady: 3, running: 5 }],
    [{ seen: 1, sandboxReady: 3, addressed: 5, podIP: '10.0.0.7' }],
  ])('gives no latency until the pod has its sandbox, is Running and addressed: %j', (times) => {
    expect(latencyOf(times)).toBeUndefined();
  });
});

describe('summarize', () => {
  it('gives the median, and a 90th percentile only from enough samples', () => {
    expect(summarize([3, 1, 2])).toEqual({ samples: 3, median: 2 });
    const many = Array.from({ length: minSamplesForP90 }, (_, i) => i + 1);
    expect(summarize(many)).toEqual({ samples: minSamplesForP90, median: 5.5, p90: 9 });
  });
});

describe('parsePodBenchOptions', () => {
  it.each([
    [[], { repetitions: 4 }],
    [['--repetitions', '10'], { repetitions: 10 }],
    [['--repetitions=2'], { repetitions: 2 }],
  ])('reads %j', (argv, expected) => {
    expect(parsePodBenchOptions(argv)).toEqual(expected);
  });

  it.each([
    [['--repetitions', '3'], /--repetitions: an even number/],
    [['--repetitions', '0'], /--repetitions/],
    [['--repetitions', 'many'], /--repetitions/],
    [['--runs', '4'], /runs/],
    [['4'], /positional/i],
  ])('refuses %j', (argv, message) => {
    expect(() => parsePodBenchOptions(argv)).toThrow(message);
  });
});
