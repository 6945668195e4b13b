import { describe, expect, it } from 'vitest';
import type { EventRecorder } from '../runtime/index.js';
import { FailureStreak, maxMessageLength, syncEvents } from './sync-events.js';

const minute = 60_000;

describe('FailureStreak', () => {
  // Each run: [failed, minutes since the start]; what it records.
  it.each([
    ['a run that goes through, with no streak before', [[false, 0]], [undefined]],
    [
      'a streak: one Warning, then none within the repeat interval, a Normal at its end',
      [
        [true, 0],
        [true, 1],
        [true, 9],
        [false, 9.5],
      ],
      ['failed', undefined, undefined, 'recovered'],
    ],
    [
      'a long streak: a Warning again once the interval has passed since the last one',
      [
        [true, 0],
        [true, 10],
        [true, 15],
        [true, 20],
      ],
      ['failed', 'failed', undefined, 'failed'],
    ],
    [
      'a new streak right after the last one ended warns at once',
      [
        [true, 0],
        [false, 1],
        [true, 2],
        [false, 3],
        [false, 4],
      ],
      ['failed', 'recovered', 'failed', 'recovered', undefined],
    ],
  ] as const)('%s', (_name, runs, expected) => {
    const streak = new FailureStreak(10 * minute);
    expect(runs.map(([failed, at]) => streak.next(failed, at * minute))).toEqual(expected);
  });
});

describe('syncEvents', () => {
  function recording() {
    const recorded: {
      name: string;
      uid: string | undefined;
      type: string;
      reason: string;
      message: string;
    }[] = [];
    const recorder: EventRecorder = {
      record: (object, type, reason, message) => {
        recorded.push({ name: object.metadata.name, uid: object.metadata.uid, type, reason, message });
        return Promise.resolve();
      },
    };
    return { recorded, recorder };
  }
  const reasons = { failed: 'RouteSyncFailed', recovered: 'RouteSyncRecovered' };

  it('records on the Node a Warning with the advice and the error, and a Normal Event when a run goes through', () => {
    const { recorded, recorder } = recording();
    const report = syncEvents({ recorder, node: 'n1', what: 'routes', reasons, now: () => 0 });
    report({ error: 'ip exited 1: Operation not permitted', advice: 'the agent needs CAP_NET_ADMIN' });
    report({ error: 'ip exited 1: Operation not permitted', advice: 'the agent needs CAP_NET_ADMIN' });
    report(undefined);
    expect(recorded).toEqual([
      {
        name: 'n1',
        uid: 'n1',
        type: 'Warning',
        reason: 'RouteSyncFailed',
        message:
          'routes not synced; the agent needs CAP_NET_ADMIN. The error: ip exited 1: Operation not permitted',
      },
      { name: 'n1', uid: 'n1', type: 'Normal', reason: 'RouteSyncRecovered', message: 'routes synced again' },
    ]);
  });

  it('cuts a long error, not the advice, to what an Event holds', () => {
    const { recorded, recorder } = recording();
    syncEvents({ recorder, node: 'n1', what: 'routes', reasons })({
      error: 'x'.repeat(5000),
      advice: 'turn routes off',
    });
    expect(recorded[0]?.message).toHaveLength(maxMessageLength);
    expect(recorded[0]?.message).toMatch(/^routes not synced; turn routes off\. The error: x+…$/);
  });
});
