import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/index.js';
import { type ManualTriggers, manualTriggers, runLoopOnce, startLoop } from '../testing.js';
import type { RouteTable } from './iproute.js';
import { type InstalledRoute, type RouteChanges, routeKey, routeProtocol } from './plan.js';
import { type RouteInputs, routeSync } from './sync.js';

/** A kernel table in memory that can be told to refuse the next write. */
class FakeTable implements RouteTable {
  routes = new Map<string, InstalledRoute>();
  writes = 0;
  refuseNext = false;
  read(): Promise<InstalledRoute[]> {
    return Promise.resolve([...this.routes.values()]);
  }
  apply(changes: RouteChanges): Promise<void> {
    if (this.refuseNext) {
      this.refuseNext = false;
      return Promise.reject(new Error('RTNETLINK answers: Operation not permitted'));
    }
    for (const route of changes.remove) this.routes.delete(routeKey(route));
    for (const route of changes.replace)
      this.routes.set(routeKey(route), { ...route, protocol: routeProtocol });
    this.writes += changes.replace.length + changes.remove.length;
    return Promise.resolve();
  }
}

function inputs(blocks: { cidr: string; node: string }[]): RouteInputs & ManualTriggers {
  return {
    ...manualTriggers(),
    heldBlocks: () => blocks,
    nodeInternalIps: () => [{ name: 'b', internalIps: ['192.168.5.2'] }],
    borrowedAddresses: () => [],
  };
}

const dsts = (table: FakeTable) =>
  [...table.routes.values()].map((route) => `${route.kind} ${route.dst}`).sort();

describe('routeSync', () => {
  it('syncs at start and on each change; a refused write is retried at the next one; a second agent writes nothing', async () => {
    const blocks = [{ cidr: '10.0.0.0/26', node: 'a' }];
    const sources = inputs(blocks);
    const table = new FakeTable();
    const sync = routeSync({ node: 'a', sources, table, log: silentLogger, resyncMs: 3_600_000 });
    const loop = await startLoop(sync, sources);
    expect(dsts(table)).toEqual(['blackhole 10.0.0.0/26']);

    blocks.push({ cidr: '10.0.0.64/26', node: 'b' });
    table.refuseNext = true;
    await loop.change();
    expect(sync.lastError).toMatch(/not permitted/);
    expect(sync.failures).toBe(1);
    expect(dsts(table)).toEqual(['blackhole 10.0.0.0/26']);

    await loop.change();
    expect(sync.lastError).toBeUndefined();
    expect(dsts(table)).toEqual(['blackhole 10.0.0.0/26', 'via 10.0.0.64/26']);
    await loop.stop();

    const writes = table.writes;
    const again = inputs(blocks);
    await runLoopOnce(routeSync({ node: 'a', sources: again, table, log: silentLogger }), again);
    expect(table.writes).toBe(writes);
  });
});
