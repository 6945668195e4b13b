import { describe, expect, it } from 'vitest';

import { SelectorParseError, parseSelector, selectorUsesGlobal } from './index.js';

describe('public API', () => {
  it('parses once and matches many times', () => {
    const selector = parseSelector('rack == "0" && has(topology.kubernetes.io/zone)');
    expect(selector.matches({ rack: '0', 'topology.kubernetes.io/zone': 'z1' })).toBe(true);
    expect(selector.matches({ rack: '0' })).toBe(false);
    expect(selector.ast.kind).toBe('and');
  });

  it('gives a canonical text that is a fixed point', () => {
    const selector = parseSelector(' a in {"y","x",} ||!has( b )');
    expect(selector.toString()).toBe('(a in {"x", "y"} || !has(b))');
    expect(String(selector)).toBe(selector.toString());
    expect(parseSelector(selector.toString()).toString()).toBe(selector.toString());
  });

  it('reads an empty selector as all()', () => {
    expect(parseSelector('').toString()).toBe('all()');
    expect(parseSelector('').matches({})).toBe(true);
  });

  it('throws a typed error that carries its location as data', () => {
    let caught: unknown;
    try {
      parseSelector('rack =~ "x"');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SelectorParseError);
    expect(caught).toBeInstanceOf(Error);
    expect(caught).toMatchObject({
      name: 'SelectorParseError',
      code: 'SELECTOR_PARSE',
      input: 'rack =~ "x"',
      offset: 5,
      expected: 'operator',
      message: 'expected operator after label "rack" at 5',
    });
  });

  it.each<[string, boolean]>([
    ['global()', true],
    ['!global()', true],
    ['has(a) && (b == "c" || !!global())', true],
    ['', false],
    ['all()', false],
    ['has(global)', false],
    ['global == "x"', false],
    ['a in {"global()"}', false],
  ])('selectorUsesGlobal(%j) is %s', (text, expected) => {
    expect(selectorUsesGlobal(parseSelector(text))).toBe(expected);
  });
});

describe('SelectorParseError as a parse error', () => {
  it.each([
    ['rack =~ "x"', 5],
    ['rack == "x', 10],
    ['has(', 4],
  ])('%j: the span is the point where the parser stopped, %i', (input, offset) => {
    expect(() => parseSelector(input)).toThrow(
      expect.objectContaining({ code: 'SELECTOR_PARSE', input, offset, length: 0 }),
    );
  });
});
