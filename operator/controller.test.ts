import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../kube/index.js';
import { Controller, type ReconcileResult, TerminalError, done, requeueAfter } from './controller.js';
import { FakeClock } from './fake-clock.js';
import { jsonLogger } from '../runtime/index.js';
import { WorkQueue } from './queue.js';

/** Lets pending promise callbacks run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What one reconcile pass does: return a result, or throw. */
type Outcome = { readonly result: ReconcileResult } | { readonly throws: unknown };

interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

const running: Controller[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((controller) => controller.stop()));
});

/**
 * A started controller over a real WorkQueue with a fake clock (backoff 100 ms doubling up to 1 s). Each
 * pass takes the next outcome of the script; once the script is used up, passes return done.
 */
function setup(script: Outcome[] = [], options: { workers?: number } = {}) {
  const clock = new FakeClock();
  const queue = new WorkQueue(clock, { baseMs: 100, maxMs: 1_000 });
  const lines: LogLine[] = [];
  const log = jsonLogger({ level: 'debug', write: (line) => lines.push(JSON.parse(line) as LogLine) });
  const calls: string[] = [];
  const reconcile = (key: string): Promise<ReconcileResult> => {
    calls.push(key);
    const outcome = script.shift() ?? { result: done };
    return Promise.resolve().then(() => {
      if ('throws' in outcome) throw outcome.throws;
      return outcome.result;
    });
  };
  const controller = new Controller({ name: 'pools', reconcile, workers: options.workers ?? 1, log, queue });
  running.push(controller);
  controller.start();
  const advance = async (ms: number) => {
    clock.advance(ms);
    await flush();
  };
  return { clock, queue, lines, calls, controller, advance };
}

const conflict = new ApiError(409, 'Conflict', 'the object has been modified', 'PUT', '/apis/x/pools/a');
const alreadyExists = new ApiError(409, 'AlreadyExists', 'already exists', 'POST', '/apis/x/pools');

describe('Controller: one pass and what follows', () => {
  it.each<{
    name: string;
    outcome: Outcome;
    /** Passes at once, after 100 ms (longer than the first backoff), then after a further minute. */
    calls: [number, number, number];
    logs: { level: string; msg: string }[];
  }>([
    { name: 'done: converged, not run again', outcome: { result: done }, calls: [1, 1, 1], logs: [] },
    {
      name: 'requeueAfter: run again after the time asked',
      outcome: { result: requeueAfter(30_000) },
      calls: [1, 1, 2],
      logs: [],
    },
    {
      name: 'requeueAfter(0): run again at once',
      outcome: { result: requeueAfter(0) },
      calls: [2, 2, 2],
      logs: [],
    },
    {
      name: 'an error: logged and retried after a backoff',
      outcome: { throws: new Error('boom') },
      calls: [1, 2, 2],
      logs: [{ level: 'error', msg: 'reconcile failed; will retry' }],
    },
    {
      name: 'a thrown non-Error: the same',
      outcome: { throws: 'boom' },
      calls: [1, 2, 2],
      logs: [{ level: 'error', msg: 'reconcile failed; will retry' }],
    },
    {
      name: 'a conflict: retried, logged at debug only',
      outcome: { throws: conflict },
      calls: [1, 2, 2],
      logs: [{ level: 'debug', msg: 'conflict; retrying' }],
    },
    {
      name: 'AlreadyExists is no conflict: an ordinary error',
      outcome: { throws: alreadyExists },
      calls: [1, 2, 2],
      logs: [{ level: 'error', msg: 'reconcile failed; will retry' }],
    },
    {
      name: 'a TerminalError: logged, never retried',
      outcome: { throws: new TerminalError('spec.cidr: not a CIDR') },
      calls: [1, 1, 1],
      logs: [{ level: 'warn', msg: 'reconcile failed; waiting for a change' }],
    },
  ])('$name', async ({ outcome, calls, logs }) => {
    const { queue, lines, calls: passes, advance } = setup([outcome]);
    queue.add('a');
    await flush();
    expect(passes).toHaveLength(calls[0]);
    await advance(100);
    expect(passes).toHaveLength(calls[1]);
    await advance(60_000);
    expect(passes).toHaveLength(calls[2]);
    expect(lines.map(({ level, msg }) => ({ level, msg }))).toEqual(logs);
    expect(queue.failureCount('a')).toBe(0);
    expect(queue.isIdle()).toBe(true);
  });

  it('requeueAfter does not run again before its time', async () => {
    const { queue, calls, advance } = setup([{ result: requeueAfter(5_000) }]);
    queue.add('a');
    await flush();
    await advance(4_999);
    expect(calls).toHaveLength(1);
    await advance(1);
    expect(calls).toHaveLength(2);
  });

  it('an event during a requeue delay runs the key at once, and only once', async () => {
    const { queue, calls, advance } = setup([{ result: requeueAfter(5_000) }]);
    queue.add('a');
    await flush();
    queue.add('a');
    await flush();
    expect(calls).toHaveLength(2);
    await advance(10_000);
    expect(calls).toHaveLength(2);
  });
});

describe('Controller: errors', () => {
  it('logs the controller, key, attempt and message of each failure', async () => {
    const { queue, lines, advance } = setup([{ throws: new Error('boom') }, { throws: 'bang' }]);
    queue.add('a');
    await flush();
    await advance(100);
    expect(lines.map(({ controller, key, attempt, error }) => ({ controller, key, attempt, error }))).toEqual(
      [
        { controller: 'pools', key: 'a', attempt: 1, error: 'boom' },
        { controller: 'pools', key: 'a', attempt: 2, error: 'bang' },
      ],
    );
  });

  it('backs off longer after each failure, and forgets after a success', async () => {
    const failure = { throws: new Error('boom') };
    const { clock, queue, calls, advance } = setup([failure, failure, failure, { result: done }, failure]);
    queue.add('a');
    await flush();
    for (let i = 1; i <= 3; i++) {
      const ceiling = 100 * 2 ** (i - 1);
      const delay = clock.delays.at(-1) ?? Number.NaN;
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delay).toBeLessThan(ceiling);
      expect(queue.failureCount('a')).toBe(i);
      await advance(delay);
      expect(calls).toHaveLength(i + 1);
    }
    expect(queue.failureCount('a')).toBe(0);
    queue.add('a');
    await flush();
    expect(queue.failureCount('a')).toBe(1);
    expect(clock.delays.at(-1)).toBeLessThan(100);
  });

  it('records the message of a TerminalError and forgets earlier failures', async () => {
    const { queue, lines, advance } = setup([
      { throws: new Error('boom') },
      { throws: new TerminalError('bad spec') },
    ]);
    queue.add('a');
    await flush();
    await advance(100);
    expect(queue.failureCount('a')).toBe(0);
    expect(lines.at(-1)).toMatchObject({ level: 'warn', controller: 'pools', key: 'a', error: 'bad spec' });
  });

  it('runs a key that failed terminally again when it is added again', async () => {
    const { queue, calls } = setup([{ throws: new TerminalError('bad spec') }]);
    queue.add('a');
    await flush();
    queue.add('a');
    await flush();
    expect(calls).toEqual(['a', 'a']);
  });
});

describe('Controller: workers', () => {
  it('never runs one key on two workers at once, and runs it again after an event meanwhile', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue(clock);
    const active = new Set<string>();
    const started: string[] = [];
    let overlapping = false;
    const releases: (() => void)[] = [];
    const reconcile = async (key: string): Promise<ReconcileResult> => {
      if (active.has(key)) overlapping = true;
      active.add(key);
      started.push(key);
      await new Promise<void>((resolve) => releases.push(resolve));
      active.delete(key);
      return done;
    };
    const log = jsonLogger({ write: () => undefined });
    const controller = new Controller({ name: 'nodes', reconcile, workers: 3, log, queue });
    running.push(controller);
    controller.start();

    queue.add('a');
    await flush();
    queue.add('a');
    queue.add('a');
    queue.add('b');
    await flush();
    expect(started).toEqual(['a', 'b']);
    for (const release of releases.splice(0)) release();
    await flush();
    expect(started).toEqual(['a', 'b', 'a']);
    for (const release of releases.splice(0)) release();
    await flush();
    expect(started).toEqual(['a', 'b', 'a']);
    expect(overlapping).toBe(false);
    expect(queue.isIdle()).toBe(true);
  });

  it('stop waits for the pass in flight, then runs nothing more', async () => {
    const queue = new WorkQueue(new FakeClock());
    const started: string[] = [];
    let release: () => void = () => undefined;
    const reconcile = async (key: string): Promise<ReconcileResult> => {
      started.push(key);
      await new Promise<void>((resolve) => (release = resolve));
      return requeueAfter(0);
    };
    const controller = new Controller({
      name: 'nodes',
      reconcile,
      log: jsonLogger({ write: () => undefined }),
      queue,
    });
    controller.start();
    queue.add('a');
    await flush();
    let stopped = false;
    const stopping = controller.stop().then(() => (stopped = true));
    await flush();
    expect(stopped).toBe(false);
    release();
    await stopping;
    queue.add('b');
    await flush();
    expect(started).toEqual(['a']);
  });

  it('reports the longest-running reconcile and the longest wait for a worker', async () => {
    const clock = new FakeClock(10_000);
    const releases: (() => void)[] = [];
    const reconcile = async (): Promise<ReconcileResult> => {
      await new Promise<void>((resolve) => releases.push(resolve));
      return done;
    };
    const controller = new Controller({
      name: 'nodes',
      reconcile,
      workers: 1,
      log: jsonLogger({ write: () => undefined }),
      clock,
    });
    running.push(controller);
    controller.start();
    expect(controller.progress()).toEqual({
      name: 'nodes',
      oldestReconcileSince: undefined,
      oldestWaitingSince: undefined,
    });
    controller.queue.add('a');
    await flush();
    clock.advance(2_000);
    controller.queue.add('b');
    clock.advance(3_000);
    expect(controller.progress()).toEqual({
      name: 'nodes',
      oldestReconcileSince: 10_000,
      oldestWaitingSince: 12_000,
    });
    releases.shift()?.();
    await flush();
    expect(controller.progress()).toEqual({
      name: 'nodes',
      oldestReconcileSince: 15_000,
      oldestWaitingSince: undefined,
    });
    releases.shift()?.();
    await flush();
    expect(controller.progress().oldestReconcileSince).toBeUndefined();
  });
});
