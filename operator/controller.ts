import { errorMessage } from '../common/index.js';
import { isConflict } from '../kube/index.js';
import type { ControllerProgress } from './health.js';
import type { Logger } from '../common/index.js';
import type { OperatorMetrics } from './metrics.js';
import { type Clock, WorkQueue, systemClock } from './queue.js';

/** What a reconcile pass decided: converged, or look again after a while (e.g. waiting on pods). */
export type ReconcileResult = { readonly done: true } | { readonly requeueAfterMs: number };
export const done: ReconcileResult = { done: true };
export const requeueAfter = (ms: number): ReconcileResult => ({ requeueAfterMs: ms });

/** A spec the user must fix: recorded in status by the reconciler, and not retried until it changes. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
}

export interface ControllerOptions {
  readonly name: string;
  readonly reconcile: (key: string) => Promise<ReconcileResult>;
  readonly workers?: number;
  readonly log: Logger;
  readonly metrics?: OperatorMetrics;
  /** Dates reconciles for the health probes; the queue it creates (if none is given) uses it too. */
  readonly clock?: Clock;
  readonly queue?: WorkQueue;
}

/**
 * Runs a reconcile function over a de-duplicating queue of keys. Level-triggered: handlers only
 * enqueue keys, and each pass reads the whole current state for its key. Errors back off per key.
 */
export class Controller {
  readonly queue: WorkQueue;
  private readonly workers: Promise<void>[] = [];
  /** When each reconcile in progress started, by key (a key is never reconciled twice at once). */
  private readonly running = new Map<string, number>();
  private readonly clock: Clock;

  constructor(private readonly options: ControllerOptions) {
    this.clock = options.clock ?? systemClock;
    this.queue = options.queue ?? new WorkQueue(this.clock);
  }

  /** Where the work stands, for the health probes: the longest-running reconcile and the longest wait. */
  progress(): ControllerProgress {
    let oldestReconcileSince: number | undefined;
    for (const since of this.running.values())
      if (oldestReconcileSince === undefined || since < oldestReconcileSince) oldestReconcileSince = since;
    return {
      name: this.options.name,
      oldestReconcileSince,
      oldestWaitingSince: this.queue.oldestReadySince(),
    };
  }

  start(): void {
    const count = this.options.workers ?? 2;
    for (let i = 0; i < count; i++) this.workers.push(this.work());
  }

  async stop(): Promise<void> {
    this.queue.close();
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    for (let key = await this.queue.next(); key !== undefined; key = await this.queue.next()) {
      const { name, log, metrics } = this.options;
      const started = performance.now();
      this.running.set(key, this.clock.now());
      try {
        const result = await this.options.reconcile(key);
        this.queue.forget(key);
        if ('requeueAfterMs' in result) this.queue.addAfter(key, result.requeueAfterMs);
        metrics?.reconcileDuration.observe(
          { controller: name, outcome: 'success' },
          (performance.now() - started) / 1000,
        );
      } catch (error) {
        metrics?.reconcileDuration.observe(
          { controller: name, outcome: 'error' },
          (performance.now() - started) / 1000,
        );
        metrics?.reconcileErrors.inc({ controller: name });
        if (isConflict(error)) {
          // Someone wrote first; the next pass reads the fresh object. Routine, so not an error.
          log.debug('conflict; retrying', { controller: name, key });
          this.queue.addRateLimited(key);
        } else if (error instanceof TerminalError) {
          log.warn('reconcile failed; waiting for a change', { controller: name, key, error: error.message });
          this.queue.forget(key);
        } else {
          log.error('reconcile failed; will retry', {
            controller: name,
            key,
            attempt: this.queue.failureCount(key) + 1,
            error: errorMessage(error),
          });
          this.queue.addRateLimited(key);
        }
      } finally {
        this.running.delete(key);
        this.queue.done(key);
      }
    }
  }
}
