import { describe, expect, it } from 'vitest';

import { parse } from '../parser.js';
import { compile } from './compile.js';
import type { Labels } from './compile.js';

const matches = (selector: string, labels: Labels): boolean => compile(parse(selector))(labels);

describe('compile', () => {
  it.each<[string, Labels, boolean]>([
    ['', {}, true],
    ['all()', { a: 'b' }, true],
    ['global()', {}, true],
    ['!global()', {}, false],
    ['has(a)', { a: '' }, true],
    ['has(a)', { b: 'a' }, false],
    ['!has(a)', {}, true],
    ['a == "b"', { a: 'b' }, true],
    ['a == "b"', { a: 'c' }, false],
    ['a == "b"', {}, false],
    ['a == ""', { a: '' }, true],
    ['a == ""', {}, false],
    ['a != "b"', { a: 'c' }, true],
    ['a != "b"', { a: 'b' }, false],
    ['a != "b"', {}, true],
    ['!a == "b"', {}, true],
    ['a contains "b"', { a: 'abc' }, true],
    ['a contains "b"', { a: 'ac' }, false],
    ['a contains ""', { a: 'x' }, true],
    ['a contains ""', {}, false],
    ['a starts with "ab"', { a: 'abc' }, true],
    ['a starts with "ab"', { a: 'cab' }, false],
    ['a starts with "ab"', {}, false],
    ['a ends with "bc"', { a: 'abc' }, true],
    ['a ends with "bc"', { a: 'bca' }, false],
    ['a ends with "bc"', {}, false],
    ['a in {"x", "y"}', { a: 'y' }, true],
    ['a in {"x", "y"}', { a: 'z' }, false],
    ['a in {"x", "y"}', {}, false],
    ['a in {}', { a: '' }, false],
    ['a not in {"x", "y"}', { a: 'z' }, true],
    ['a not in {"x", "y"}', { a: 'x' }, false],
    ['a not in {"x", "y"}', {}, true],
    ['a not in {}', {}, true],
    ['a == "1" && b == "2"', { a: '1', b: '2' }, true],
    ['a == "1" && b == "2"', { a: '1' }, false],
    ['a == "1" && b == "2" && c == "3"', { a: '1', b: '2', c: '3' }, true],
    ['a == "1" && b == "2" && c == "3"', { a: '1', b: '2' }, false],
    ['a == "1" || b == "2"', { b: '2' }, true],
    ['a == "1" || b == "2"', {}, false],
    ['a == "1" || b == "2" || c == "3"', { c: '3' }, true],
    ['a == "1" || b == "2" || c == "3"', { c: '4' }, false],
    ['!(has(a) || has(b))', { c: '' }, true],
    ['has(a) && !has(b) || c == "d"', { a: '', b: '' }, false],
    ['has(a) && !has(b) || c == "d"', { a: '', b: '', c: 'd' }, true],
  ])('%j on %j is %s', (selector, labels, expected) => {
    expect(matches(selector, labels)).toBe(expected);
  });

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'])(
    'does not see the inherited property %s as a label',
    (key) => {
      const empty: Labels = {};
      expect(matches(`has(${key})`, empty)).toBe(false);
      expect(matches(`${key} != "x"`, empty)).toBe(true);
      expect(matches(`${key} not in {"x"}`, empty)).toBe(true);
      expect(matches(`${key} in {"x"}`, empty)).toBe(false);
      expect(matches(`${key} contains ""`, empty)).toBe(false);
      expect(matches(`${key} starts with ""`, empty)).toBe(false);
      expect(matches(`${key} ends with ""`, empty)).toBe(false);
    },
  );

  it('sees an own __proto__ label (as JSON.parse makes it)', () => {
    const labels = JSON.parse('{"__proto__": "x"}') as Labels;
    expect(matches('has(__proto__)', labels)).toBe(true);
    expect(matches('__proto__ == "x"', labels)).toBe(true);
  });

  it('works on objects without a prototype', () => {
    const labels = Object.assign(Object.create(null) as Record<string, string>, { a: 'b' });
    expect(matches('a == "b" && !has(constructor)', labels)).toBe(true);
  });
});
