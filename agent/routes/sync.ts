/**
 * Keeps the node's routes in step with the caches, level-triggered (LevelTriggered): every change of a
 * cache and every `resyncMs` (so a route someone deleted comes back) the routes are computed from
 * scratch, read from the kernel and diffed; only the difference is written.
 */
import type { Logger } from '../../common/index.js';
import { LevelTriggered, type RunFailure, type Triggers } from '../level-triggered.js';
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
export interface RouteInputs extends Triggers {
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
  /** Told how each run ended (Events on the Node). */
  readonly report?: (failure: RunFailure) => void;
}

export function routeSync({
  node,
  sources,
  table,
  log,
  resyncMs = 30_000,
  report,
}: RouteSyncOptions): LevelTriggered {
  /** The problems and blocked routes last logged. */
  let lastSaid = '';
  return new LevelTriggered({
    triggers: sources,
    resyncMs,
    failures: { log, what: 'routes', advice: routeSyncAdvice, ...(report === undefined ? {} : { report }) },
    syncOnce: async () => {
      const desired = desiredRoutes(
        node,
        sources.heldBlocks(),
        sources.nodeInternalIps(),
        sources.borrowedAddresses(),
      );
      const changes = routeChanges(desired.routes, await table.read());
      // Said when they change, not at every resync.
      const said = JSON.stringify([desired.problems, changes.blocked]);
      if (said !== lastSaid) {
        lastSaid = said;
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
      // A failure is retried at the next change or resync; what was applied stays.
      await table.apply(changes);
    },
  });
}
