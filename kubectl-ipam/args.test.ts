import { describe, expect, it } from 'vitest';
import { parseCommandLine } from './args.js';

describe('parseCommandLine', () => {
  it.each([
    [[], { name: 'help' }],
    [['show'], { name: 'show', view: 'pools', output: 'table' }],
    [['show', '--blocks', '-o', 'json'], { name: 'show', view: 'blocks', output: 'json' }],
    [
      ['show', '--ip', '10.0.0.1', '-oyaml'],
      { name: 'show', view: 'address', address: '10.0.0.1', output: 'yaml' },
    ],
    [['check'], { name: 'check', output: 'table', graceSeconds: 60 }],
    [['check', '--grace=0', '-o', 'json'], { name: 'check', output: 'json', graceSeconds: 0 }],
    [
      ['release', '--from-report', 'r.json', '--dry-run'],
      { name: 'release', from: 'report', file: 'r.json', maxAgeMinutes: 60, dryRun: true, force: false },
    ],
    [
      ['release', '--ip', '10.0.0.1', '--force'],
      { name: 'release', from: 'address', address: '10.0.0.1', force: true },
    ],
    [['split', 'default', '4'], { name: 'split', pool: 'default', parts: 4, output: 'table' }],
    [['split', '-o', 'json', 'default', '2'], { name: 'split', pool: 'default', parts: 2, output: 'json' }],
    [
      ['configure', '--strict-affinity=true', '--max-blocks-per-host', '3'],
      { name: 'configure', flags: { 'strict-affinity': 'true', 'max-blocks-per-host': '3' } },
    ],
  ])('%o', (argv, command) => {
    const parsed = parseCommandLine(argv);
    expect(parsed).toMatchObject({ ok: true, command });
  });

  it('reads --kubeconfig and --context wherever they are', () => {
    expect(parseCommandLine(['--context', 'prod', 'show', '--kubeconfig=/k'])).toMatchObject({
      ok: true,
      connect: { kubeconfig: '/k', context: 'prod' },
    });
  });

  it.each([
    [['check'], undefined],
    [['check', '--chunk-size', '50'], 50],
    [['--chunk-size=0', 'show'], 0],
  ])('reads --chunk-size for every command: %o', (argv, chunkSize) => {
    const parsed = parseCommandLine(argv);
    expect(parsed.ok && parsed.connect.chunkSize).toBe(chunkSize);
  });

  it.each([
    [['merge', 'pool', '2'], /unknown command "merge"/],
    [['split', 'pool'], /split takes a pool and a number/],
    [['split', 'pool', 'two'], /N must be a number of pools, not "two"/],
    [['split', 'pool', '2', '3'], /unexpected argument "3"/],
    [['split', 'pool', '2', '--blocks'], /split takes no --blocks/],
    [['show', '--chunk-size', 'many'], /--chunk-size must be a number/],
    [['show', 'extra'], /unexpected argument "extra"/],
    [['show', '--blocks', '--borrowed'], /one of --blocks, --borrowed, --config, --ip/],
    [['show', '--dry-run'], /show takes no --dry-run/],
    [['show', '-o', 'wide'], /-o must be one of table, json, yaml/],
    [['check', '--grace', 'soon'], /--grace must be a number/],
    [['release'], /one of --ip, --from-report/],
    [['release', '--ip', '10.0.0.1', '--from-report', 'r'], /one of --ip, --from-report/],
    [['release', '--ip', '10.0.0.1', '--max-age', '5'], /--max-age applies to --from-report only/],
    [['show', '--bogus'], /bogus/],
  ])('refuses %o', (argv, error) => {
    const parsed = parseCommandLine(argv);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(error);
  });
});
