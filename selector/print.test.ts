import { describe, expect, it } from 'vitest';

import {
  ALL,
  GLOBAL,
  and,
  canonicalSet,
  compareCodePoints,
  hasLabel,
  not,
  or,
  setNode,
  valueNode,
} from './ast.js';
import type { SelectorNode } from './ast.js';
import { print } from './print.js';

describe('print', () => {
  it.each<[SelectorNode, string]>([
    [ALL, 'all()'],
    [GLOBAL, 'global()'],
    [hasLabel('a'), 'has(a)'],
    [valueNode('equals', 'a', 'b'), 'a == "b"'],
    [valueNode('notEquals', 'a', 'b'), 'a != "b"'],
    [valueNode('contains', 'a', 'b'), 'a contains "b"'],
    [valueNode('startsWith', 'a', 'b'), 'a starts with "b"'],
    [valueNode('endsWith', 'a', '"'), `a ends with '"'`],
    [setNode('in', 'a', []), 'a in {}'],
    [setNode('notIn', 'a', ['y', 'x', 'y']), 'a not in {"x", "y"}'],
    [not(hasLabel('a')), '!has(a)'],
    [and([hasLabel('a'), or([hasLabel('b'), hasLabel('c')])]), '(has(a) && (has(b) || has(c)))'],
  ])('%j → %j', (node, text) => {
    expect(print(node)).toBe(text);
  });

  it('prints a hand-built double negation as its operand', () => {
    const inner: SelectorNode = { kind: 'has', label: 'a' };
    expect(print({ kind: 'not', operand: { kind: 'not', operand: inner } })).toBe('has(a)');
    expect(print({ kind: 'not', operand: { kind: 'not', operand: { kind: 'not', operand: inner } } })).toBe(
      '!has(a)',
    );
    expect(not(not(inner))).toBe(inner);
  });

  it('sorts and de-duplicates hand-built sets', () => {
    expect(print({ kind: 'in', label: 'a', values: ['b', 'a', 'b'] })).toBe('a in {"a", "b"}');
  });

  it('refuses trees no selector text can express', () => {
    expect(() => print(valueNode('equals', 'a', `"'`))).toThrow(RangeError);
    expect(() => print(hasLabel('a b'))).toThrow(RangeError);
    expect(() => print(hasLabel(''))).toThrow(RangeError);
  });
});

describe('canonical set order', () => {
  it('orders by code point, like Go sorts UTF-8 strings', () => {
    // U+1F600 is above U+FFFD, though its first UTF-16 unit (0xD83D) is below 0xFFFD.
    expect(canonicalSet(['😀', '\uFFFD', 'b', 'a', 'ab', ''])).toEqual(['', 'a', 'ab', 'b', '\uFFFD', '😀']);
    expect(['😀', '\uFFFD'].sort()).toEqual(['😀', '\uFFFD']);
    expect(compareCodePoints('😀', '😁')).toBeLessThan(0);
    expect(compareCodePoints('x', 'x')).toBe(0);
  });
});
