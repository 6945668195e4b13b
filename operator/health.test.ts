import { describe, expect, it } from 'vitest';
import { type ControllerProgress, type HealthObservations, liveness, readiness } from './health.js';

const bounds = {
  notReadyAfterApiSilenceMs: 10_000,
  unhealthyAfterApiSilenceMs: 60_000,
  controllerStuckMs: 300_000,
};
const now = 1_000_000_000;
const idle = (name: string): ControllerProgress => ({
  name,
  oldestReconcileSince: undefined,
  oldestWaitingSince: undefined,
});
const healthy: HealthObservations = {
  startedAt: now - 3_600_000,
  lastApiAnswerAt: now - 1_000,
  cachesSynced: true,
  controllers: [idle('nodes'), idle('pools')],
};
const observed = (changes: Partial<HealthObservations>): HealthObservations => ({ ...healthy, ...changes });

describe('liveness', () => {
  it.each<{ name: string; observed: HealthObservations; reasons: string[] }>([
    { name: 'a leader whose API server just answered', observed: healthy, reasons: [] },
    { name: 'a follower (no controllers)', observed: observed({ controllers: [] }), reasons: [] },
    {
      name: 'caches not synced yet (readiness says so, not liveness)',
      observed: observed({ cachesSynced: false }),
      reasons: [],
    },
    {
      name: 'an API server silent for exactly the bound',
      observed: observed({ lastApiAnswerAt: now - 60_000 }),
      reasons: [],
    },
    {
      name: 'an API server silent past the bound',
      observed: observed({ lastApiAnswerAt: now - 61_000 }),
      reasons: ['the API server has not answered for 61 s (bound 60 s)'],
    },
    {
      name: 'a replica started recently that has never reached the API server',
      observed: observed({ startedAt: now - 5_000, lastApiAnswerAt: undefined }),
      reasons: [],
    },
    {
      name: 'a replica that has never reached the API server since it started, past the bound',
      observed: observed({ startedAt: now - 90_000, lastApiAnswerAt: undefined }),
      reasons: ['the API server has not answered since this replica started 90 s ago (bound 60 s)'],
    },
    {
      name: 'a reconcile running within the bound',
      observed: observed({ controllers: [{ ...idle('nodes'), oldestReconcileSince: now - 299_000 }] }),
      reasons: [],
    },
    {
      name: 'a reconcile running past the bound',
      observed: observed({ controllers: [{ ...idle('nodes'), oldestReconcileSince: now - 301_500 }] }),
      reasons: ['controller nodes: a reconcile has run for 301.5 s (bound 300 s)'],
    },
    {
      name: 'a key waiting for a worker past the bound (the queue does not progress)',
      observed: observed({
        controllers: [idle('nodes'), { ...idle('pools'), oldestWaitingSince: now - 400_000 }],
      }),
      reasons: ['controller pools: a queued key has waited 400 s for a worker (bound 300 s)'],
    },
    {
      name: 'everything wrong at once, every reason listed',
      observed: observed({
        lastApiAnswerAt: now - 120_000,
        controllers: [
          { name: 'nodes', oldestReconcileSince: now - 500_000, oldestWaitingSince: now - 450_000 },
        ],
      }),
      reasons: [
        'the API server has not answered for 120 s (bound 60 s)',
        'controller nodes: a reconcile has run for 500 s (bound 300 s)',
        'controller nodes: a queued key has waited 450 s for a worker (bound 300 s)',
      ],
    },
  ])('$name', ({ observed: state, reasons }) => {
    expect(liveness(state, now, bounds)).toEqual({ ok: reasons.length === 0, reasons });
  });
});

describe('readiness', () => {
  it.each<{ name: string; observed: HealthObservations; reasons: string[] }>([
    { name: 'synced, API server answering', observed: healthy, reasons: [] },
    {
      name: 'caches not synced',
      observed: observed({ cachesSynced: false }),
      reasons: ['caches not synced'],
    },
    {
      name: 'an API server silent past the readiness bound, well within the liveness one',
      observed: observed({ lastApiAnswerAt: now - 12_000 }),
      reasons: ['the API server has not answered for 12 s (bound 10 s)'],
    },
    {
      name: 'neither synced nor answered since start',
      observed: observed({ startedAt: now - 30_000, lastApiAnswerAt: undefined, cachesSynced: false }),
      reasons: [
        'caches not synced',
        'the API server has not answered since this replica started 30 s ago (bound 10 s)',
      ],
    },
    {
      name: 'a stuck controller (liveness says so, not readiness)',
      observed: observed({ controllers: [{ ...idle('nodes'), oldestReconcileSince: now - 900_000 }] }),
      reasons: [],
    },
  ])('$name', ({ observed: state, reasons }) => {
    expect(readiness(state, now, bounds)).toEqual({ ok: reasons.length === 0, reasons });
  });
});
