import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/index.js';
import { type ManualTriggers, manualTriggers, runLoopOnce, startLoop } from '../testing.js';
import type { NatRuleset } from './nft.js';
import type { NatPool } from './plan.js';
import type { NatInputs } from './sources.js';
import { natTableSync } from './sync.js';
import type { InstalledTable, NftTable } from './table.js';

/** The kernel's table in memory, which can be told to refuse the next write. */
class FakeRuleset implements NatRuleset {
  table: NftTable | undefined;
  writes = 0;
  reads = 0;
  refuseNext = false;
  read(): Promise<InstalledTable | undefined> {
    this.reads++;
    return Promise.resolve(this.table && { ...this.table, flags: [], others: [] });
  }
  replace(table: NftTable): Promise<void> {
    if (this.refuseNext) {
      this.refuseNext = false;
      return Promise.reject(new Error('Error: Could not process rule: Operation not permitted'));
    }
    this.table = table;
    this.writes++;
    return Promise.resolve();
  }
}

function inputs(pools: NatPool[]): NatInputs & ManualTriggers {
  return {
    ...manualTriggers(),
    pools: () => pools,
    nodeAddresses: () => [{ name: 'a', addresses: ['192.168.5.1'] }],
  };
}

const sources = (ruleset: FakeRuleset) =>
  ruleset.table?.sets.find((set) => set.name === 'nat-outgoing-pools-v4')?.elements;

describe('natTableSync', () => {
  it('writes at start and on each change; a refused write is retried at the next one; a second agent writes nothing', async () => {
    const pools = [{ name: 'a', cidr: '10.1.0.0/16', natOutgoing: true }];
    const from = inputs(pools);
    const ruleset = new FakeRuleset();
    const sync = natTableSync(from, ruleset, silentLogger, 3_600_000);
    const loop = await startLoop(sync, from);
    expect(sources(ruleset)).toEqual(['10.1.0.0/16']);

    pools.push({ name: 'b', cidr: '10.2.0.0/16', natOutgoing: true });
    ruleset.refuseNext = true;
    await loop.change();
    expect(sync.lastError).toMatch(/not permitted/);
    expect(sources(ruleset)).toEqual(['10.1.0.0/16']);

    await loop.change();
    expect(sync.lastError).toBeUndefined();
    expect(sources(ruleset)).toEqual(['10.1.0.0/16', '10.2.0.0/16']);
    await loop.change();
    await loop.stop();
    expect(ruleset.writes).toBe(2);

    const again = inputs(pools);
    await runLoopOnce(natTableSync(again, ruleset, silentLogger), again);
    expect(ruleset.writes).toBe(2);
  });

  it('writes a change without reading first; with nothing changed it reads, and restores a table someone deleted', async () => {
    const pools = [{ name: 'a', cidr: '10.1.0.0/16', natOutgoing: true }];
    const from = inputs(pools);
    const ruleset = new FakeRuleset();
    const loop = await startLoop(natTableSync(from, ruleset, silentLogger, 3_600_000), from);
    expect([ruleset.reads, ruleset.writes]).toEqual([1, 1]);

    pools.push({ name: 'b', cidr: '10.2.0.0/16', natOutgoing: true });
    await loop.change();
    expect([ruleset.reads, ruleset.writes]).toEqual([1, 2]);
    expect(sources(ruleset)).toEqual(['10.1.0.0/16', '10.2.0.0/16']);

    ruleset.table = undefined;
    await loop.change();
    expect([ruleset.reads, ruleset.writes]).toEqual([2, 3]);
    expect(sources(ruleset)).toEqual(['10.1.0.0/16', '10.2.0.0/16']);
    await loop.stop();
  });
});
