import { describe, expect, it } from 'vitest';
import type { ChaosResult } from './driver.js';
import { checkRun } from './invariants.js';
import { parseChaosOptions } from './options.js';
import { chaosSummary, replayCommand } from './summary.js';

const stats: ChaosResult['stats'] = {
  adds: 3,
  dels: 2,
  addErrors: { 11: 1 },
  delErrors: {},
  pluginsKilled: 1,
  agentKills: 2,
  agentKillsInFlight: 1,
  agentExits: 0,
  operatorKills: 1,
  operatorExits: 0,
  apiRestarts: 1,
  borrowed: 2,
  bursts: 4,
  pods: 2,
  seconds: 61.2,
  stoppedByTimeBound: false,
};

describe('chaosSummary', () => {
  it('replays a run with every option it had', () => {
    const options = parseChaosOptions(['--seed=9', '--nodes=2', '--adds=150', '--max-seconds=300']);
    expect(parseChaosOptions(replayCommand(options).split(' ').slice(4))).toEqual(options);
  });

  it('prints the figures a clean run checked', () => {
    const options = parseChaosOptions(['--seed=9']);
    const verdict = checkRun(
      [
        {
          owner: 'chaos/pod-0',
          command: 'ADD',
          startedAt: 0,
          endedAt: 1,
          outcome: { kind: 'ok', address: '10.77.0.1/29' },
        },
        { owner: 'chaos/pod-0', command: 'DEL', startedAt: 2, endedAt: 3, outcome: { kind: 'ok' } },
      ],
      [],
    );
    const text = chaosSummary(options, { stats, verdict, runDir: '/tmp/run' });
    expect(text).toContain('chaos run, seed 9: PASSED');
    expect(text).toContain('allocations checked: 1, duplicates: 0, leaked records: 0, unrecorded: 0');
    expect(text).toContain('ADDs: 3 (failed: code 11 x1), DELs: 2 (failed: none)');
    expect(text).toContain(
      'forwarders killed: 1, agent kills: 2 (1 with forwarders in flight; + 0 exits of their own)',
    );
    expect(text).not.toContain('/tmp/run');
  });

  it('names each violation and where the logs were kept', () => {
    const options = parseChaosOptions(['--seed=9']);
    const verdict = checkRun(
      [
        {
          owner: 'chaos/pod-0',
          command: 'ADD',
          startedAt: 0,
          endedAt: 1,
          outcome: { kind: 'ok', address: '10.77.0.1/29' },
        },
        {
          owner: 'chaos/pod-1',
          command: 'ADD',
          startedAt: 2,
          endedAt: 3,
          outcome: { kind: 'ok', address: '10.77.0.1/29' },
        },
      ],
      [],
    );
    const text = chaosSummary(options, { stats, verdict, runDir: '/tmp/run' });
    expect(text).toContain('FAILED');
    expect(text).toContain('duplicates: 1');
    expect(text).toContain('10.77.0.1 returned to chaos/pod-0 and to chaos/pod-1 while both held it');
    expect(text).toContain('kept in /tmp/run');
  });
});
