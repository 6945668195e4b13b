/** natOutgoing, installed by the node agent (cni/README.md, natOutgoing). */
import { type Logger, errorMessage } from '../../common/index.js';
import type { IpamResources } from '../../allocator/index.js';
import { LevelTriggered } from '../level-triggered.js';
import { nftRuleset } from './nft.js';
import { NatSources, type PoolCache } from './sources.js';
import { natTableSync } from './sync.js';
import { natTableName } from './plan.js';

export interface RunningNat {
  readonly sync: LevelTriggered;
  /** Why the table may not be current (caches not synced or failing); empty when it is. */
  problems(): string[];
  /** Resolves once `signal` aborted and the last sync finished. */
  readonly stopped: Promise<void>;
}

export function startNat(
  pools: PoolCache,
  resources: IpamResources,
  options: { readonly netns?: string; readonly resyncMs?: number },
  log: Logger,
  signal: AbortSignal,
): RunningNat {
  const natLog = log.with({ natOutgoing: true });
  const sources = new NatSources(pools, resources, (what, error) => {
    natLog.warn('watch failed; listing again after a pause', { cache: what, error: errorMessage(error) });
  });
  const sync = natTableSync(
    sources,
    nftRuleset('inet', natTableName, options.netns),
    natLog,
    options.resyncMs,
  );
  const stopped = Promise.all([sources.run(signal), sync.run(signal)]).then(() => undefined);
  return { sync, problems: () => sources.problems(), stopped };
}
