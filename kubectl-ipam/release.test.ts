import { describe, expect, it } from 'vitest';
import { T0, allocation, block, cluster, pod } from './fixtures.js';
import { type ReportFile, type ReleaseTarget, judgeRelease, reportRefusal } from './release.js';

const leaked = allocation(3, { namespace: 'app', pod: 'gone', node: 'node-a', podUID: 'uid-1' });
const unowned = allocation(4, { handle: 'tunnel.node-a' });
const theBlock = block('10.0.0.0/26', 'default', 'node-a', { allocations: [leaked, unowned] });
const target: ReleaseTarget = {
  address: '10.0.0.3',
  block: '10.0.0.0/26',
  ordinal: 3,
  handle: leaked.handle,
  namespace: 'app',
  pod: 'gone',
};

/** An hour after the allocations were made, with the default grace of a minute. */
const afterGrace = { now: Date.parse(T0) + 3_600_000, graceMs: 60_000 };

describe('judgeRelease', () => {
  it.each([
    ['its pod is gone', theBlock, undefined, false, 'release'],
    [
      'another pod took the name (another UID)',
      theBlock,
      pod('app', 'gone', 'node-a', undefined, 'uid-2'),
      false,
      'release',
    ],
    ['its pod is back (same UID)', theBlock, pod('app', 'gone', 'node-a', undefined, 'uid-1'), false, 'held'],
    [
      'its pod is back, but --force',
      theBlock,
      pod('app', 'gone', 'node-a', undefined, 'uid-1'),
      true,
      'release',
    ],
    ['its block is gone', undefined, undefined, false, 'already-free'],
    [
      'it was released meanwhile',
      block('10.0.0.0/26', 'default', 'node-a'),
      undefined,
      false,
      'already-free',
    ],
    [
      'the ordinal went to another handle',
      block('10.0.0.0/26', 'default', 'node-a', { allocations: [allocation(3, { handle: 'new' })] }),
      undefined,
      false,
      'already-free',
    ],
  ] as const)('%s: %s', (_, fresh, livePod, releaseHeld, verdict) => {
    expect(judgeRelease(target, fresh, livePod, { releaseHeld, ...afterGrace })).toBe(verdict);
  });

  it('holds an address within the grace even when its pod reports another (a sandbox just recreated)', () => {
    const readdressed = pod('app', 'gone', 'node-a', '10.0.0.9', 'uid-1');
    const rules = { releaseHeld: false, graceMs: 60_000 };
    expect(judgeRelease(target, theBlock, readdressed, { ...rules, now: Date.parse(T0) + 30_000 })).toBe(
      'held',
    );
    expect(judgeRelease(target, theBlock, readdressed, { ...rules, now: Date.parse(T0) + 90_000 })).toBe(
      'release',
    );
  });

  it('keeps an address recorded without a pod unless forced', () => {
    const tunnel: ReleaseTarget = {
      address: '10.0.0.4',
      block: '10.0.0.0/26',
      ordinal: 4,
      handle: unowned.handle,
    };
    expect(judgeRelease(tunnel, theBlock, undefined, { releaseHeld: false, ...afterGrace })).toBe('unowned');
    expect(judgeRelease(tunnel, theBlock, undefined, { releaseHeld: true, ...afterGrace })).toBe('release');
  });
});

describe('reportRefusal', () => {
  const now = new Date('2024-01-02T01:00:00Z');
  const report = (fields: Partial<ReportFile>): ReportFile => ({
    kind: 'IpamCheckReport',
    version: 1,
    cluster,
    generatedAt: '2024-01-02T00:30:00Z',
    leaks: [],
    ...fields,
  });
  const hour = 3_600_000;

  it.each([
    ['a recent report of this cluster', report({}), undefined],
    [
      'a report of another cluster',
      report({ cluster: { ...cluster, uid: 'other' } }),
      /another cluster \(other\)/,
    ],
    [
      'the same cluster under another address',
      report({ cluster: { ...cluster, server: 'https://lb:443' } }),
      undefined,
    ],
    [
      'no uid on either side: by server',
      report({ cluster: { server: 'https://lb:443' } }),
      /another cluster/,
    ],
    [
      'a report older than the bound',
      report({ generatedAt: '2024-01-01T23:00:00Z' }),
      /120 minutes old, more than 60/,
    ],
    ['a report from the future', report({ generatedAt: '2024-01-02T02:00:00Z' }), /future/],
  ])('%s', (_, file, refusal) => {
    const outcome = reportRefusal(file, cluster, now, hour);
    if (refusal === undefined) expect(outcome).toBeUndefined();
    else expect(outcome).toMatch(refusal);
  });
});
