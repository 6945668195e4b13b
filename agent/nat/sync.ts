/**
 * Keeps the natOutgoing table in step with the pools and Node addresses, level-triggered: at each change
 * and every `resyncMs` (so that a table someone changed or deleted comes back) the table is computed from
 * scratch and compared with what nft shows; only when they differ is it replaced, in one transaction.
 */
import type { Logger } from '../../common/index.js';
import { LevelTriggered } from '../level-triggered.js';
import type { NatRuleset } from './nft.js';
import { desiredNatTable } from './plan.js';
import type { NatInputs } from './sources.js';
import { tableDifferences } from './table.js';

export function natTableSync(
  sources: NatInputs,
  ruleset: NatRuleset,
  log: Logger,
  resyncMs = 30_000,
): LevelTriggered {
  let lastProblems = '';
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
      const differences = tableDifferences(desired.table, await ruleset.read());
      if (differences.length === 0) return;
      log.info('natOutgoing table replaced', { because: differences });
      await ruleset.replace(desired.table);
    },
    onFailure: (error) => {
      log.warn('natOutgoing table not synced; trying again at the next change or resync', { error });
    },
  });
}
