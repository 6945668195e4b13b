/** The pod network's routes, installed by the node agent (cni/README.md, Routes between nodes). */
import { errorMessage, type Logger } from '../../common/index.js';
import type { IpamResources } from '../../allocator/index.js';
import type { NodeAddressCache } from '../all-nodes.js';
import type { LevelTriggered } from '../level-triggered.js';
import { syncEvents } from '../sync-events.js';
import type { EventRecorder } from '../../runtime/index.js';
import { ipRouteTable } from './iproute.js';
import { RouteSources } from './sources.js';
import { routeSync } from './sync.js';

export { routeMetric, routeProtocol } from './plan.js';

export interface RunningRoutes {
  readonly sync: LevelTriggered;
  /** Why the routes may not be current (caches of its own not synced or failing); empty when they are. */
  problems(): string[];
  /** Resolves once `signal` aborted and the last sync finished. */
  readonly stopped: Promise<void>;
}

/**
 * Syncs the routes from informers of its own and the agent's Node address informer, which the agent runs;
 * a streak of failed syncs is a Warning Event `RouteSyncFailed` on the Node, its end `RouteSyncRecovered`.
 */
export function startRoutes(
  node: string,
  resources: IpamResources,
  nodes: NodeAddressCache,
  options: { readonly netns?: string; readonly resyncMs?: number },
  log: Logger,
  events: EventRecorder,
  signal: AbortSignal,
): RunningRoutes {
  const routeLog = log.with({ routes: true });
  const sources = new RouteSources(resources, nodes, (what, error) => {
    routeLog.warn('watch failed; listing again after a pause', { cache: what, error: errorMessage(error) });
  });
  const sync = routeSync({
    node,
    sources,
    table: ipRouteTable(options.netns),
    log: routeLog,
    ...(options.resyncMs === undefined ? {} : { resyncMs: options.resyncMs }),
    report: syncEvents({
      recorder: events,
      node,
      what: 'routes',
      reasons: { failed: 'RouteSyncFailed', recovered: 'RouteSyncRecovered' },
    }),
  });
  const stopped = Promise.all([sources.run(signal), sync.run(signal)]).then(() => undefined);
  return { sync, problems: () => sources.problems(), stopped };
}
