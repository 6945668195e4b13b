import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, semanticallyEqual } from './equality.js';
import { seededRandom } from '../test/seeded-random.js';

/** The same value with the keys of every object, at every depth, in another order. */
function shuffleKeys(value: unknown, next: () => number): unknown {
  if (Array.isArray(value)) return value.map((item: unknown) => shuffleKeys(item, next));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [entries[i], entries[j]] = [entries[j] as [string, unknown], entries[i] as [string, unknown]];
  }
  return Object.fromEntries(entries.map(([key, inner]) => [key, shuffleKeys(inner, next)]));
}

describe('canonicalJson', () => {
  it.each<{ name: string; value: unknown; json: string }>([
    { name: 'keys sorted', value: { b: 1, a: 2, c: 3 }, json: '{"a":2,"b":1,"c":3}' },
    { name: 'nested keys sorted', value: { z: { y: 1, x: 2 }, a: [] }, json: '{"a":[],"z":{"x":2,"y":1}}' },
    { name: 'array order kept', value: [3, 1, 2], json: '[3,1,2]' },
    { name: 'objects inside arrays sorted', value: [{ b: 1, a: 2 }], json: '[{"a":2,"b":1}]' },
    { name: 'undefined fields dropped', value: { b: undefined, a: 1 }, json: '{"a":1}' },
    { name: 'null kept', value: { a: null }, json: '{"a":null}' },
    { name: 'a string', value: 'x', json: '"x"' },
    { name: 'null', value: null, json: 'null' },
    { name: 'an empty object', value: {}, json: '{}' },
    { name: 'upper case sorts before lower case (code units)', value: { a: 1, B: 2 }, json: '{"B":2,"a":1}' },
  ])('$name', ({ value, json }) => {
    expect(canonicalJson(value)).toBe(json);
  });

  it('loses nothing: it parses back to the same value as plain JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  it('is a fixed point: canonical JSON re-read is written the same', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const once = canonicalJson(value);
        expect(canonicalJson(JSON.parse(once))).toBe(once);
      }),
    );
  });
});

describe('semanticallyEqual', () => {
  it('ignores the order of keys at every depth', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (value, seed) => {
        const reordered = shuffleKeys(value, seededRandom(seed));
        expect(canonicalJson(reordered)).toBe(canonicalJson(value));
        expect(semanticallyEqual(value, reordered)).toBe(true);
      }),
    );
  });

  it('tells apart values that differ by one leaf', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.string(), (value, key) => {
        const changed = { ...value, [key]: { changed: value[key] ?? null } };
        expect(semanticallyEqual(value, changed)).toBe(false);
      }),
    );
  });

  it.each<{ name: string; a: unknown; b: unknown; equal: boolean }>([
    {
      name: 'a status written back with its keys in another order',
      a: { conditions: [{ type: 'Allocatable', status: 'True', reason: 'OK' }], selectedNodes: 2 },
      b: { selectedNodes: 2, conditions: [{ reason: 'OK', status: 'True', type: 'Allocatable' }] },
      equal: true,
    },
    { name: 'arrays in another order', a: [1, 2], b: [2, 1], equal: false },
    { name: 'an extra key', a: { a: 1 }, b: { a: 1, b: 2 }, equal: false },
    { name: 'null is not missing', a: { a: null }, b: {}, equal: false },
    { name: 'undefined is missing', a: { a: undefined }, b: {}, equal: true },
    { name: 'a number is not its string', a: { a: 1 }, b: { a: '1' }, equal: false },
  ])('$name: $equal', ({ a, b, equal }) => {
    expect(semanticallyEqual(a, b)).toBe(equal);
  });
});
