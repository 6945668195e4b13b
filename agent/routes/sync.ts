/**
 * Keeps the node's routes in step with the caches, level-triggered: every change of a cache and every
 * `resyncMs` (so a route someone deleted comes back) the routes are computed from scratch, read from the
 * kernel and diffed; only the difference is written. Changes arriving during a sync make one more sync.
 */
import { errorMessage, type Logger } from '../../common/index.js';
import type { RouteTable } from './iproute.js';
import {
  type BorrowedAddress,
  type HeldBlock,
  type NodeInternalIps,
  desiredRoutes,
  routeChanges,
} from './plan.js';
import { routeSyncAdvice } from './ip-json.js';

/** What the routes are computed from (RouteSources, kept by informers). */
export interface RouteInputs {
  readonly synced: Promise<void>;
  onChange(handler: () => void): void;
  heldBlocks(): HeldBlock[];
  nodeInternalIps(): NodeInternalIps[];
  borrowedAddresses(): BorrowedAddress[];
}

export interface RouteSyncOptions {
  readonly node: string;
  readonly sources: RouteInputs;
  readonly table: RouteTable;
  readonly log: Logger;
  readonly resyncMs?: number;
}

export class RouteSync {
  private dirty = false;
  private running: Promise<void> | undefined;
  /** The problems and blocked routes last logged. */
  private lastSaid = '';
  /** What the last sync failed on; undefined once one went through. */
  lastError: string | undefined = 'not synced yet';
  /** Syncs that failed since the start (the agent's /metrics). */
  failures = 0;
  private markSynced!: () => void;
  /** Resolves when the first sync has ended, whatever its outcome. */
  readonly firstSync = new Promise<void>((resolve) => (this.markSynced = resolve));

  constructor(private readonly options: RouteSyncOptions) {}

  /** Syncs once the sources have listed, then on each change and every `resyncMs`, until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.race([this.options.sources.synced, aborted(signal)]);
    if (signal.aborted) return;
    this.options.sources.onChange(() => {
      this.request();
    });
    const timer = setInterval(() => {
      this.request();
    }, this.options.resyncMs ?? 30_000);
    this.request();
    await aborted(signal);
    clearInterval(timer);
    await this.running;
  }

  /** Resolves when no sync is running or asked for (tests wait on it). */
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
      await this.syncOnce();
    }
  }

  private async syncOnce(): Promise<void> {
    const { node, sources, table, log } = this.options;
    const desired = desiredRoutes(
      node,
      sources.heldBlocks(),
      sources.nodeInternalIps(),
      sources.borrowedAddresses(),
    );
    try {
      const changes = routeChanges(desired.routes, await table.read());
      // Said when they change, not at every resync.
      const said = JSON.stringify([desired.problems, changes.blocked]);
      if (said !== this.lastSaid) {
        this.lastSaid = said;
        for (const problem of desired.problems) log.warn('block not routed', { ...problem });
        for (const route of changes.blocked)
          log.warn('route not installed: a route that is not ours holds its destination and metric', {
            ...route,
          });
      }
      if (changes.replace.length + changes.remove.length > 0) {
        log.info('routes changed', {
          replaced: changes.replace.map((route) => route.dst),
          removed: changes.remove.map((route) => route.dst),
        });
      }
      await table.apply(changes);
      this.lastError = undefined;
    } catch (error) {
      // Retried at the next change or resync; what was applied stays.
      this.failures++;
      this.lastError = errorMessage(error);
      log.warn('routes not synced; trying again at the next change or resync', {
        error: this.lastError,
        advice: routeSyncAdvice(this.lastError),
      });
    }
    this.markSynced();
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
