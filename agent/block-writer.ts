/**
 * Group commit of block writes. Every change to an IPAMBlock goes through its block's lane: changes that
 * arrive while a write of that block is in flight wait, and all of them go into the block's next
 * compare-and-swap write together. A caller's promise settles only after the write that records its
 * change succeeded; when a batch's write fails, every caller in it is rejected (it retries or fails), so
 * nobody is ever answered with a change the API server does not hold.
 *
 * A change is a pure function of the block it applies to, so a batch can be re-applied to a fresh read
 * after a conflict: only the block concerned is read again. A change that cannot apply (the block is
 * full, or no longer the block the caller chose it as) throws: that caller alone is rejected with what it
 * threw, and the rest of the batch goes on.
 */
import type { IPAMBlock, IPAMBlockSpec } from '../api/index.js';
import { isConflict, isNotFound } from '../kube/index.js';

/** What a change does to a block: a new spec, or none (nothing to write), and the caller's answer. */
export interface ChangeOutcome<T> {
  readonly spec?: IPAMBlockSpec;
  readonly value: T;
}
export type BlockChange<T> = (block: IPAMBlock) => ChangeOutcome<T>;

export interface Committed<T> {
  readonly value: T;
  /** The block as written (or as read, when nothing needed writing). */
  readonly block: IPAMBlock;
}

/** Where blocks are read and written: the node's cache first, the API server when it lags. */
export interface BlockStore {
  /** The freshest copy known without a request, if any. */
  cached(name: string): IPAMBlock | undefined;
  /** A consistent read; rejects with the API's NotFound if the block is gone. */
  read(name: string): Promise<IPAMBlock>;
  /** PUT at the block's resourceVersion; rejects with the API's Conflict if it changed meanwhile. */
  write(block: IPAMBlock): Promise<IPAMBlock>;
}

export interface BatchObserver {
  /** One write attempt of `size` changes, and how it ended. */
  attempted(size: number, outcome: 'written' | 'conflict' | 'failed'): void;
}

/** The block a caller chose is gone: it must choose again. */
export class BlockGoneError extends Error {
  override readonly name = 'BlockGoneError';
}

/** The block changed on every one of `maxConflicts` attempts: the callers retry later or fail. */
export class BlockContendedError extends Error {
  override readonly name = 'BlockContendedError';
}

interface Pending<T> {
  readonly change: BlockChange<T>;
  readonly resolve: (committed: Committed<T>) => void;
  readonly reject: (error: unknown) => void;
}

interface Lane {
  readonly queue: Pending<unknown>[];
  /**
   * The block as last written here, or as the caller gave it: for blocks the store does not cache (another
   * node's, borrowed from). Cleared after a failure, so the next batch reads.
   */
  seed: IPAMBlock | undefined;
}

export class BlockWriter {
  private readonly lanes = new Map<string, Lane>();
  private readonly idle = new Set<() => void>();

  constructor(
    private readonly store: BlockStore,
    private readonly options: { readonly maxConflicts?: number; readonly observer?: BatchObserver } = {},
  ) {}

  /** Queues `change` for the block; settles once it is recorded (or refused). */
  submit<T>(name: string, change: BlockChange<T>, seed?: IPAMBlock): Promise<Committed<T>> {
    return new Promise<Committed<T>>((resolve, reject) => {
      let lane = this.lanes.get(name);
      const starting = lane === undefined;
      if (lane === undefined) {
        lane = { queue: [], seed };
        this.lanes.set(name, lane);
      }
      lane.queue.push({ change, resolve, reject } as Pending<unknown>);
      if (starting) void this.drain(name, lane);
    });
  }

  /** Resolves once no batch is queued or in flight (graceful shutdown). */
  drained(): Promise<void> {
    if (this.lanes.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.add(resolve));
  }

  private async drain(name: string, lane: Lane): Promise<void> {
    // Yield once, so that changes submitted in the same tick as the first join its batch.
    await Promise.resolve();
    while (lane.queue.length > 0) {
      const batch = lane.queue.splice(0);
      await this.commit(name, lane, batch);
    }
    this.lanes.delete(name);
    if (this.lanes.size === 0) {
      for (const resolve of this.idle) resolve();
      this.idle.clear();
    }
  }

  private async commit(name: string, lane: Lane, batch: Pending<unknown>[]): Promise<void> {
    const maxConflicts = this.options.maxConflicts ?? 16;
    let live = batch;
    try {
      let base = this.store.cached(name) ?? lane.seed ?? (await this.store.read(name));
      for (let attempt = 1; ; attempt++) {
        let spec = base.spec;
        const values: unknown[] = [];
        const applied: Pending<unknown>[] = [];
        for (const pending of live) {
          try {
            const outcome = pending.change({ ...base, spec });
            if (outcome.spec !== undefined) spec = outcome.spec;
            values.push(outcome.value);
            applied.push(pending);
          } catch (error) {
            pending.reject(error);
          }
        }
        live = applied;
        if (live.length === 0) return;
        if (spec === base.spec) {
          live.forEach((pending, index) => {
            pending.resolve({ value: values[index], block: base });
          });
          return;
        }
        let written: IPAMBlock;
        try {
          written = await this.store.write({ ...base, spec });
        } catch (error) {
          if (!isConflict(error) || attempt >= maxConflicts) {
            this.options.observer?.attempted(live.length, 'failed');
            if (isConflict(error)) {
              throw new BlockContendedError(
                `block ${name} changed under ${maxConflicts} write attempts in a row; try again`,
                { cause: error },
              );
            }
            throw error;
          }
          this.options.observer?.attempted(live.length, 'conflict');
          base = await this.store.read(name);
          continue;
        }
        this.options.observer?.attempted(live.length, 'written');
        lane.seed = written;
        live.forEach((pending, index) => {
          pending.resolve({ value: values[index], block: written });
        });
        return;
      }
    } catch (error) {
      const failure = isNotFound(error)
        ? new BlockGoneError(`block ${name} is gone`, { cause: error })
        : error;
      lane.seed = undefined;
      for (const pending of live) pending.reject(failure);
    }
  }
}
