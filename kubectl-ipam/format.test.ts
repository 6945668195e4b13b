import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { humanAge, table, usageBar } from './format.js';

describe('table', () => {
  it('pads each column to its widest cell, the last one not at all', () => {
    expect(
      table(
        ['NAME', 'CIDR'],
        [
          ['a', '10.0.0.0/24'],
          ['longer', '-'],
        ],
      ),
    ).toBe('NAME    CIDR\na       10.0.0.0/24\nlonger  -');
  });
});

describe('usageBar', () => {
  it.each([
    [0n, 256n, '[----------]   0%'],
    [128n, 256n, '[#####-----]  50%'],
    [255n, 256n, '[#########-]  99%'],
    [256n, 256n, '[##########] 100%'],
    [1n, 2n ** 80n, '[----------]   0%'],
  ])('%d of %d is %s', (used, capacity, bar) => {
    expect(usageBar(used, capacity)).toBe(bar);
  });

  it('is as wide whatever the use, and shows full only when full', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 2n ** 128n }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (capacity, share) => {
          const used = (capacity * BigInt(Math.round(share * 1000))) / 1000n;
          const bar = usageBar(used, capacity);
          expect(bar).toHaveLength(17);
          expect(bar.startsWith('[##########]')).toBe(used === capacity);
        },
      ),
    );
  });
});

describe('humanAge', () => {
  it.each([
    [5, '5s'],
    [59.9, '59s'],
    [60, '1m'],
    [3600, '1h'],
    [3600 + 20 * 60, '1h20m'],
    [86_400, '1d'],
    [86_400 + 4 * 3600 + 59, '1d4h'],
    [-3, '0s'],
  ])('%d seconds is %s', (seconds, text) => {
    expect(humanAge(seconds)).toBe(text);
  });
});
