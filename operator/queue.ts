/**
 * A keyed work queue in the manner of client-go's: adding a key that is already waiting is a no-op,
 * one key is never processed by two workers at once (a key added while it is being processed runs
 * again afterwards), and failures back off per key.
 */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): { unref?: () => unknown };
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export class WorkQueue {
  private readonly waiting = new Set<string>();
  private readonly order: string[] = [];
  /** When each waiting key became ready to run. */
  private readonly readySince = new Map<string, number>();
  private readonly active = new Set<string>();
  private readonly dirtyWhileActive = new Set<string>();
  private readonly delayed = new Map<string, { at: number; handle: unknown }>();
  private readonly failures = new Map<string, number>();
  private readonly sleepers: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly clock: Clock = systemClock,
    private readonly backoff = { baseMs: 250, maxMs: 60_000 },
  ) {}

  add(key: string): void {
    if (this.closed) return;
    this.cancelDelay(key);
    if (this.active.has(key)) {
      this.dirtyWhileActive.add(key);
      return;
    }
    if (this.waiting.has(key)) return;
    this.waiting.add(key);
    this.order.push(key);
    this.readySince.set(key, this.clock.now());
    this.sleepers.shift()?.();
  }

  /** Adds the key after `ms`, unless it is added sooner; an earlier pending delay wins. */
  addAfter(key: string, ms: number): void {
    if (this.closed) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.clock.clearTimeout(existing.handle);
    const handle = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    handle.unref?.();
    this.delayed.set(key, { at, handle });
  }

  /** Re-adds a key that failed, after a per-key exponential backoff with jitter. */
  addRateLimited(key: string): void {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** Math.min(failures - 1, 20));
    this.addAfter(key, ceiling / 2 + Math.random() * (ceiling / 2));
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Waits for the next key; `undefined` once the queue is closed. */
  async next(): Promise<string | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const key = this.order.shift();
      if (key !== undefined) {
        this.waiting.delete(key);
        this.readySince.delete(key);
        this.active.add(key);
        return key;
      }
      await new Promise<void>((resolve) => this.sleepers.push(resolve));
    }
  }

  /** Marks a key's processing finished; if it was added meanwhile, it waits again. */
  done(key: string): void {
    this.active.delete(key);
    if (this.dirtyWhileActive.delete(key)) this.add(key);
  }

  get length(): number {
    return this.order.length;
  }

  /**
   * Since when the key at the head of the queue has been ready and waiting for a worker (keys are
   * handed out in order, so no other has waited longer); undefined when none waits. A time long past
   * means the workers are not taking keys: the queue does not progress.
   */
  oldestReadySince(): number | undefined {
    const head = this.order[0];
    return head === undefined ? undefined : this.readySince.get(head);
  }

  isIdle(): boolean {
    return this.order.length === 0 && this.active.size === 0;
  }

  close(): void {
    this.closed = true;
    for (const { handle } of this.delayed.values()) this.clock.clearTimeout(handle);
    this.delayed.clear();
    for (const wake of this.sleepers.splice(0)) wake();
  }

  private cancelDelay(key: string): void {
    const existing = this.delayed.get(key);
    if (!existing) return;
    this.clock.clearTimeout(existing.handle);
    this.delayed.delete(key);
  }
}
