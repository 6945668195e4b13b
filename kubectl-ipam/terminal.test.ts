import { describe, expect, it } from 'vitest';
import { colourWanted, progressLine, progressText } from './terminal.js';

describe('colourWanted', () => {
  it.each([
    { terminal: true, env: {}, expected: true },
    { terminal: false, env: {}, expected: false },
    { terminal: true, env: { NO_COLOR: '1' }, expected: false },
    { terminal: true, env: { NO_COLOR: 'anything' }, expected: false },
    { terminal: true, env: { NO_COLOR: '' }, expected: true },
    { terminal: false, env: { NO_COLOR: '1' }, expected: false },
  ])('stdout a terminal: $terminal, $env → $expected', ({ terminal, env, expected }) => {
    expect(colourWanted(terminal, env)).toBe(expected);
  });
});

describe('progressLine', () => {
  it('writes nothing when stderr is not a terminal', () => {
    expect(progressLine(false, () => undefined)).toBeUndefined();
  });

  it('rewrites one line on a terminal, and clears it', () => {
    const written: string[] = [];
    const progress = progressLine(true, (text) => written.push(text));
    progress?.('read 3 pools…');
    progress?.(undefined);
    expect(written).toEqual(['\r\u001b[Kread 3 pools…', '\r\u001b[K']);
  });
});

describe('progressText', () => {
  it.each([
    [[['pools', 3]], 'read 3 pools…'],
    [
      [
        ['pools', 3],
        ['blocks', 1200],
        ['pods', 15000],
      ],
      'read 3 pools, 1200 blocks, 15000 pods…',
    ],
  ] as const)('%o', (counts, text) => {
    expect(progressText(new Map(counts))).toBe(text);
  });
});
