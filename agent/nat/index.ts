/** natOutgoing, installed by the node agent (cni/README.md, natOutgoing). */
import type { Logger } from '../../common/index.js';
import type { NodeAddressCache } from '../all-nodes.js';
import type { LevelTriggered } from '../level-triggered.js';
import { syncEvents } from '../sync-events.js';
import type { EventRecorder } from '../../runtime/index.js';
import { nftRuleset } from './nft.js';
import { natTableName } from './plan.js';
import { NatSources, type PoolCache } from './sources.js';
import { natTableSync } from './sync.js';

export interface RunningNat {
  readonly sync: LevelTriggered;
  /** Resolves once `signal` aborted and the last sync finished. */
  readonly stopped: Promise<void>;
}

/**
 * Syncs the table from the agent's pool cache and Node address informer, which the agent runs; a streak
 * of failed syncs is a Warning Event `NatSyncFailed` on the Node, its end `NatSyncRecovered`.
 */
export function startNat(
  node: string,
  pools: PoolCache,
  nodes: NodeAddressCache,
  options: { readonly netns?: string; readonly resyncMs?: number },
  log: Logger,
  events: EventRecorder,
  signal: AbortSignal,
): RunningNat {
  const sync = natTableSync(
    new NatSources(pools, nodes),
    nftRuleset('inet', natTableName, options.netns),
    log.with({ natOutgoing: true }),
    options.resyncMs,
    syncEvents({
      recorder: events,
      node,
      what: 'natOutgoing table',
      reasons: { failed: 'NatSyncFailed', recovered: 'NatSyncRecovered' },
    }),
  );
  return { sync, stopped: sync.run(signal) };
}
