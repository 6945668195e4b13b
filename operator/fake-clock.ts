/** A manual Clock for tests of the work queue and controllers: time moves only when `advance` is called. */
import type { Clock } from './queue.js';

interface Timer {
  readonly at: number;
  readonly callback: () => void;
}

export class FakeClock implements Clock {
  private time: number;
  private readonly timers = new Map<object, Timer>();
  /** The `ms` of every setTimeout call, in order. */
  readonly delays: number[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): { unref: () => void } {
    const handle = { unref: () => undefined };
    this.timers.set(handle, { at: this.time + ms, callback });
    this.delays.push(ms);
    return handle;
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === 'object' && handle !== null) this.timers.delete(handle);
  }

  /** Timers not yet fired or cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order of their due time. */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      let next: [object, Timer] | undefined;
      for (const entry of this.timers)
        if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.time = next[1].at;
      next[1].callback();
    }
    this.time = target;
  }
}
