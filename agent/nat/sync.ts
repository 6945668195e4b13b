/**
 * Keeps the natOutgoing table in step with the pools and Node addresses, level-triggered: at each change
 * and every `resyncMs` (so that a table someone changed or deleted comes back) the table is computed from
 * scratch and compared with what nft shows; only when they differ is it replaced, in one transaction.
 * A table that differs from the one last seen installed is replaced without reading first: the
 * replacement does not depend on what is there, and one nft process instead of three keeps a pool
 * change's way to the kernel short.
 */
import type { Logger } from '../../common/index.js';
import { LevelTriggered, type RunFailure } from '../level-triggered.js';
import type { NatRuleset } from './nft.js';
import { natSyncAdvice } from './nft-json.js';
import { desiredNatTable } from './plan.js';
import type { NatInputs } from './sources.js';
import { type NftTable, tableDifferences } from './table.js';

export function natTableSync(
  sources: NatInputs,
  ruleset: NatRuleset,
  log: Logger,
  resyncMs = 30_000,
  report?: (failure: RunFailure) => void,
): LevelTriggered {
  let lastProblems = '';
  /** The table last seen installed, by reading it or by writing it; undefined after a failure. */
  let installed: string | undefined;
  const replace = async (table: NftTable, because: readonly string[]) => {
    installed = undefined;
    log.info('natOutgoing table replaced', { because });
    await ruleset.replace(table);
    installed = JSON.stringify(table);
  };
  return new LevelTriggered({
    triggers: sources,
    resyncMs,
    syncOnce: async () => {
      const desired = desiredNatTable(sources.pools(), sources.nodeAddresses());
      // Said when they change, not at every resync.
      const problems = JSON.stringify(desired.problems);
      if (problems !== lastProblems) {
        lastProblems = problems;
        for (const problem of desired.problems) log.warn('left out of the natOutgoing table', { ...problem });
      }
      if (installed !== undefined && installed !== JSON.stringify(desired.table)) {
        await replace(desired.table, ['the pools or node addresses changed']);
        return;
      }
      const differences = tableDifferences(desired.table, await ruleset.read());
      if (differences.length > 0) await replace(desired.table, differences);
      else installed = JSON.stringify(desired.table);
    },
    failures: {
      log,
      what: 'natOutgoing table',
      advice: natSyncAdvice,
      ...(report === undefined ? {} : { report }),
    },
  });
}
