/**
 * A level-triggered loop: once its inputs have listed, `syncOnce` runs at each change of them and every
 * `resyncMs` (so that state someone else changed comes back), never twice at once; changes arriving
 * during a run make one more run. A run computes everything from scratch, so missed or merged triggers
 * cost nothing. A failed run is retried at the next change or resync; it is counted (the agent's /metrics),
 * logged with advice on what a user can do about it, and reported (Events on the Node, sync-events.ts).
 */
import { errorMessage, type Logger } from '../common/index.js';

/** What a loop is triggered by (informers). */
export interface Triggers {
  readonly synced: Promise<void>;
  onChange(handler: () => void): void;
}

/** How a run ended: its error and the advice for it, or undefined if it went through. */
export type RunFailure = { readonly error: string; readonly advice: string } | undefined;

export interface LevelTriggeredOptions {
  readonly triggers: Triggers;
  /** Brings the state in line; throws when it could not. */
  readonly syncOnce: () => Promise<void>;
  readonly resyncMs: number;
  /** Where a failed run is said: `<what> not synced; …` with the error and `advice(error)`. */
  readonly failures: {
    readonly log: Logger;
    readonly what: string;
    readonly advice: (error: string) => string;
    /** Told how each run ended. */
    readonly report?: (failure: RunFailure) => void;
  };
}

export class LevelTriggered {
  private dirty = false;
  private running: Promise<void> | undefined;
  /** What the last run failed on; undefined once one went through. */
  lastError: string | undefined = 'not synced yet';
  /** Runs that failed since the start (the agent's /metrics). */
  failures = 0;
  private markSynced!: () => void;
  /** Resolves when the first run has ended, whatever its outcome. */
  readonly firstSync = new Promise<void>((resolve) => (this.markSynced = resolve));

  constructor(private readonly options: LevelTriggeredOptions) {}

  /** Runs once the triggers have listed, then on each change and every `resyncMs`, until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.race([this.options.triggers.synced, aborted(signal)]);
    if (signal.aborted) return;
    this.options.triggers.onChange(() => {
      this.request();
    });
    const timer = setInterval(() => {
      this.request();
    }, this.options.resyncMs);
    this.request();
    await aborted(signal);
    clearInterval(timer);
    await this.running;
  }

  /** Resolves when no run is going on or asked for (tests wait on it). */
  async settled(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  private request(): void {
    this.dirty = true;
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  private async drain(): Promise<void> {
    while (this.dirty) {
      this.dirty = false;
      const { log, what, advice, report } = this.options.failures;
      let failure: RunFailure;
      try {
        await this.options.syncOnce();
      } catch (error) {
        this.failures++;
        const message = errorMessage(error);
        failure = { error: message, advice: advice(message) };
        log.warn(`${what} not synced; trying again at the next change or resync`, failure);
      }
      this.lastError = failure?.error;
      report?.(failure);
      this.markSynced();
    }
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else
      signal.addEventListener(
        'abort',
        () => {
          resolve();
        },
        { once: true },
      );
  });
}
