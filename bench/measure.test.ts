import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { median, percentile } from './measure.js';

describe('median', () => {
  it.each([
    [[5], 5],
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
  ])('of %j is %d', (values, expected) => {
    expect(median(values)).toBe(expected);
  });

  it('refuses an empty list', () => {
    expect(() => median([])).toThrow(RangeError);
  });
});

describe('percentile (nearest rank)', () => {
  const tenToHundred = [100, 10, 90, 20, 80, 30, 70, 40, 60, 50];
  it.each([
    [tenToHundred, 10, 10],
    [tenToHundred, 50, 50],
    [tenToHundred, 90, 90],
    [tenToHundred, 91, 100],
    [tenToHundred, 100, 100],
    [[7], 1, 7],
    [[7], 100, 7],
    // 7 % of 100 samples is rank 7 exactly, not 8 (7 / 100 × 100 computes as 7.000000000000001).
    [Array.from({ length: 100 }, (_, i) => i + 1), 7, 7],
    [[1, 2, 3, 4], 99, 4],
  ])('of %j at %d is %d', (values, p, expected) => {
    expect(percentile(values, p)).toBe(expected);
  });

  it.each([
    [[], 50],
    [[1], 0],
    [[1], 101],
    [[1], Number.NaN],
  ])('refuses %j at %d', (values, p) => {
    expect(() => percentile(values, p)).toThrow(RangeError);
  });

  it('is one of the samples, with at least p % of them at or below it and fewer below it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 50 }),
        fc.integer({ min: 1, max: 100 }),
        (values, p) => {
          const value = percentile(values, p);
          expect(values).toContain(value);
          expect(values.filter((v) => v <= value).length * 100).toBeGreaterThanOrEqual(p * values.length);
          expect(values.filter((v) => v < value).length * 100).toBeLessThan(p * values.length);
        },
      ),
    );
  });
});
