import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';
import { WorkQueue } from './queue.js';

/** Lets pending promise callbacks run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup() {
  const clock = new FakeClock(1_000_000);
  const queue = new WorkQueue(clock, { baseMs: 100, maxMs: 1_000 });
  return { clock, queue };
}

/** Takes every waiting key, marking each done. */
async function drain(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.length > 0) {
    const key = await queue.next();
    if (key === undefined) break;
    keys.push(key);
    queue.done(key);
  }
  return keys;
}

/** A `next()` whose result can be inspected without awaiting it. */
function watch(queue: WorkQueue): { readonly key: string | undefined; readonly settled: boolean } {
  const state: { key: string | undefined; settled: boolean } = { key: undefined, settled: false };
  void queue.next().then((key) => {
    state.key = key;
    state.settled = true;
  });
  return state;
}

describe('WorkQueue: adding', () => {
  it.each<{ name: string; adds: string[]; order: string[] }>([
    { name: 'one key', adds: ['a'], order: ['a'] },
    { name: 'first in, first out', adds: ['b', 'a', 'c'], order: ['b', 'a', 'c'] },
    { name: 'a waiting key is added once', adds: ['a', 'b', 'a', 'a'], order: ['a', 'b'] },
  ])('$name', async ({ adds, order }) => {
    const { queue } = setup();
    for (const key of adds) queue.add(key);
    expect(queue.length).toBe(order.length);
    expect(await drain(queue)).toEqual(order);
    expect(queue.isIdle()).toBe(true);
  });

  it('a worker waiting for a key gets the next one added', async () => {
    const { queue } = setup();
    const waiting = watch(queue);
    await flush();
    expect(waiting.settled).toBe(false);
    queue.add('a');
    await flush();
    expect(waiting.key).toBe('a');
  });

  it('is idle only with nothing waiting and nothing active', async () => {
    const { queue } = setup();
    expect(queue.isIdle()).toBe(true);
    queue.add('a');
    expect(queue.isIdle()).toBe(false);
    const key = await queue.next();
    expect(key).toBe('a');
    expect(queue.length).toBe(0);
    expect(queue.isIdle()).toBe(false);
    queue.done('a');
    expect(queue.isIdle()).toBe(true);
  });
});

describe('WorkQueue.oldestReadySince', () => {
  it('is when the head of the queue became ready, and moves on as keys are handed out', async () => {
    const { clock, queue } = setup();
    const start = clock.now();
    expect(queue.oldestReadySince()).toBeUndefined();
    clock.advance(1_000);
    queue.add('a');
    clock.advance(500);
    queue.add('b');
    queue.add('a');
    clock.advance(500);
    expect(queue.oldestReadySince()).toBe(start + 1_000);
    await queue.next();
    expect(queue.oldestReadySince()).toBe(start + 1_500);
    await queue.next();
    expect(queue.oldestReadySince()).toBeUndefined();
  });

  it('counts a delayed key only once its delay has passed', () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 1_000);
    expect(queue.oldestReadySince()).toBeUndefined();
    clock.advance(1_000);
    expect(queue.oldestReadySince()).toBe(clock.now());
  });
});

describe('WorkQueue: one worker per key', () => {
  it('a key added while active waits until done, then runs once more', async () => {
    const { queue } = setup();
    queue.add('a');
    expect(await queue.next()).toBe('a');
    queue.add('a');
    queue.add('a');
    expect(queue.length).toBe(0);
    const second = watch(queue);
    await flush();
    expect(second.settled).toBe(false);
    queue.done('a');
    await flush();
    expect(second.key).toBe('a');
    queue.done('a');
    expect(queue.isIdle()).toBe(true);
  });

  it('other keys are handed out while one is active', async () => {
    const { queue } = setup();
    queue.add('a');
    expect(await queue.next()).toBe('a');
    queue.add('a');
    queue.add('b');
    expect(await queue.next()).toBe('b');
    queue.done('b');
    queue.done('a');
    expect(await drain(queue)).toEqual(['a']);
  });

  it('a key done without being added again is not re-added', async () => {
    const { queue } = setup();
    queue.add('a');
    await queue.next();
    queue.done('a');
    expect(queue.length).toBe(0);
  });
});

describe('WorkQueue: addAfter', () => {
  it('adds the key once its delay has passed, not before', () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 500);
    clock.advance(499);
    expect(queue.length).toBe(0);
    clock.advance(1);
    expect(queue.length).toBe(1);
  });

  it.each([0, -5])('a delay of %i adds at once', (ms) => {
    const { clock, queue } = setup();
    queue.addAfter('a', ms);
    expect(queue.length).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it.each<{ name: string; delays: number[]; due: number }>([
    { name: 'a sooner delay replaces a later one', delays: [500, 100], due: 100 },
    { name: 'a later delay leaves a sooner one', delays: [100, 500], due: 100 },
    { name: 'the same delay twice', delays: [300, 300], due: 300 },
  ])('$name', ({ delays, due }) => {
    const { clock, queue } = setup();
    for (const ms of delays) queue.addAfter('a', ms);
    expect(clock.pending).toBe(1);
    clock.advance(due - 1);
    expect(queue.length).toBe(0);
    clock.advance(1);
    expect(queue.length).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it('add() cancels a pending delay', async () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 500);
    queue.add('a');
    expect(clock.pending).toBe(0);
    expect(await drain(queue)).toEqual(['a']);
    clock.advance(1_000);
    expect(queue.length).toBe(0);
  });

  it('a delay that ends while the key is active re-adds it after done', async () => {
    const { clock, queue } = setup();
    queue.add('a');
    await queue.next();
    queue.addAfter('a', 100);
    clock.advance(100);
    expect(queue.length).toBe(0);
    queue.done('a');
    expect(queue.length).toBe(1);
  });

  it('delays of different keys are independent', () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 100);
    queue.addAfter('b', 200);
    clock.advance(100);
    expect(queue.length).toBe(1);
    clock.advance(100);
    expect(queue.length).toBe(2);
  });
});

describe('WorkQueue: addRateLimited', () => {
  /** Fails `key` once more and returns the delay the queue chose, then lets the retry run. */
  async function fail(clock: FakeClock, queue: WorkQueue, key: string): Promise<number> {
    queue.addRateLimited(key);
    const ms = clock.delays.at(-1) ?? Number.NaN;
    clock.advance(ms);
    expect(await queue.next()).toBe(key);
    queue.done(key);
    return ms;
  }

  it.each([
    { failures: 1, ceiling: 100 },
    { failures: 2, ceiling: 200 },
    { failures: 3, ceiling: 400 },
    { failures: 4, ceiling: 800 },
    { failures: 5, ceiling: 1_000 },
    { failures: 30, ceiling: 1_000 },
  ])('failure $failures waits between half of $ceiling ms and $ceiling ms', async ({ failures, ceiling }) => {
    const { clock, queue } = setup();
    let ms = 0;
    for (let i = 0; i < failures; i++) ms = await fail(clock, queue, 'a');
    expect(queue.failureCount('a')).toBe(failures);
    expect(ms).toBeGreaterThanOrEqual(ceiling / 2);
    expect(ms).toBeLessThan(ceiling);
  });

  it('backs off per key, and forget starts over', async () => {
    const { clock, queue } = setup();
    await fail(clock, queue, 'a');
    await fail(clock, queue, 'a');
    await fail(clock, queue, 'a');
    expect(await fail(clock, queue, 'b')).toBeLessThan(100);
    expect(queue.failureCount('a')).toBe(3);
    expect(queue.failureCount('b')).toBe(1);
    queue.forget('a');
    expect(queue.failureCount('a')).toBe(0);
    expect(await fail(clock, queue, 'a')).toBeLessThan(100);
  });

  it('the delays grow until the maximum', async () => {
    const { clock, queue } = setup();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) delays.push(await fail(clock, queue, 'a'));
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThan(delays[i - 1] ?? 0);
  });
});

describe('WorkQueue: close', () => {
  it('wakes waiting workers with undefined', async () => {
    const { queue } = setup();
    const first = watch(queue);
    const second = watch(queue);
    await flush();
    queue.close();
    await flush();
    expect(first).toEqual({ key: undefined, settled: true });
    expect(second).toEqual({ key: undefined, settled: true });
  });

  it('hands out nothing more and accepts nothing more', async () => {
    const { clock, queue } = setup();
    queue.add('waiting');
    queue.addAfter('delayed', 100);
    queue.close();
    expect(clock.pending).toBe(0);
    expect(await queue.next()).toBeUndefined();
    queue.add('late');
    queue.addAfter('later', 100);
    queue.addRateLimited('latest');
    expect(clock.pending).toBe(0);
    clock.advance(10_000);
    expect(await queue.next()).toBeUndefined();
  });
});
