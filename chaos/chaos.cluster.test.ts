/**
 * The chaos run in its small configuration: two nodes of one rack, each with its agent process, ~150
 * ADDs with forwarders killed mid-flight, three kill -9 of agents (one of the borrower after the borrow
 * phase), one of the operator, one kube-apiserver restart, a borrow phase, the repeated ADD of every pod
 * and the DEL of all. It starts a control plane of its own (it kills kube-apiserver), so the suite's
 * shared one is not disturbed. `npm run chaos` runs bigger ones.
 */
import { describe, expect, it } from 'vitest';
import { runChaos } from './driver.js';
import { parseChaosOptions } from './options.js';
import { chaosSummary } from './summary.js';

const options = parseChaosOptions([
  '--seed=20261201',
  '--nodes=2',
  '--adds=150',
  '--concurrency=6',
  '--plugin-kills=15',
  '--agent-kills=3',
  '--operator-kills=1',
  '--api-restarts=1',
  '--max-seconds=300',
]);

describe('the chaos run, small', () => {
  it('gives no address twice and leaves no record behind through kills of forwarders, agents, the operator and kube-apiserver', async () => {
    const result = await runChaos(options, () => undefined);
    const summary = chaosSummary(options, result);
    expect(result.verdict.violations, summary).toEqual([]);
    // It did what it says: addresses handed out and checked, every kind of fault, borrowing.
    expect(result.verdict.allocationsChecked, summary).toBeGreaterThan(50);
    expect(result.stats.pluginsKilled, summary).toBeGreaterThan(0);
    expect(result.stats.agentKills, summary).toBe(3);
    expect(result.stats.operatorKills, summary).toBe(1);
    expect(result.stats.apiRestarts, summary).toBe(1);
    expect(result.stats.borrowed, summary).toBeGreaterThan(0);
  }, 600_000);
});
