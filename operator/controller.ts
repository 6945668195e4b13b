import { isConflict } from '../kube/index.js';
import type { Logger } from './log.js';
import type { OperatorMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';

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
  readonly queue?: WorkQueue;
}

/**
 * Runs a reconcile function over a de-duplicating queue of keys. Level-triggered: handlers only
 * enqueue keys, and each pass reads the whole current state for its key. Errors back off per key.
 */
export class Controller {
  readonly queue: WorkQueue;
  private readonly workers: Promise<void>[] = [];

  constructor(private readonly options: ControllerOptions) {
    this.queue = options.queue ?? new WorkQueue();
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
            error: error instanceof Error ? error.message : String(error),
          });
          this.queue.addRateLimited(key);
        }
      } finally {
        this.queue.done(key);
      }
    }
  }
}
