import { describe, expect, it } from 'vitest';
import { parseChaosOptions } from './options.js';

describe('parseChaosOptions', () => {
  it('reads every flag into a number', () => {
    expect(
      parseChaosOptions([
        '--seed=42',
        '--nodes',
        '2',
        '--adds=150',
        '--concurrency=6',
        '--live-per-node=5',
        '--plugin-kills=20',
        '--agent-kills=3',
        '--operator-kills=1',
        '--api-restarts=1',
        '--leak-grace-seconds=5',
        '--max-seconds=120',
      ]),
    ).toEqual({
      seed: 42,
      nodes: 2,
      adds: 150,
      concurrency: 6,
      livePerNode: 5,
      pluginKills: 20,
      agentKills: 3,
      operatorKills: 1,
      apiRestarts: 1,
      leakGraceSeconds: 5,
      maxSeconds: 120,
    });
  });

  it('picks a seed when none is given, and bounded defaults for the rest', () => {
    const options = parseChaosOptions([]);
    expect(Number.isInteger(options.seed)).toBe(true);
    expect(options).toMatchObject({ nodes: 4, adds: 1000, concurrency: 8, maxSeconds: 1800 });
  });

  it.each([
    [['--nodes=1'], /--nodes: .*>=2/],
    [['--adds=abc'], /--adds: /],
    [['--seed=-1'], /--seed: /],
    [['--max-seconds=0'], /--max-seconds: /],
    [['--plugin-kills=1.5'], /--plugin-kills: /],
    [['--agent-kills=-2'], /--agent-kills: /],
    [['--kills=3'], /Unknown option '--kills'/],
    [['extra'], /positional/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseChaosOptions(argv)).toThrow(message);
  });
});
