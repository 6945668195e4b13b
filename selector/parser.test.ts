import { describe, expect, it } from 'vitest';

import type { SelectorNode } from './ast.js';
import type { SelectorExpectation } from './errors.js';
import { SelectorParseError } from './errors.js';
import { MAX_PAREN_DEPTH, parse } from './parser.js';
import { print } from './print.js';

function parseError(input: string): SelectorParseError {
  try {
    parse(input);
  } catch (error) {
    if (error instanceof SelectorParseError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe('parse: valid selectors and their canonical form', () => {
  it.each<[string, string]>([
    ['', 'all()'],
    [' \t ', 'all()'],
    ['all()', 'all()'],
    [' all( ) ', 'all()'],
    [' (all() )', 'all()'],
    ['global()', 'global()'],
    ['global( )', 'global()'],
    ['has(a)', 'has(a)'],
    ['has( topology.kubernetes.io/zone )', 'has(topology.kubernetes.io/zone)'],
    ['a=="b"', 'a == "b"'],
    ["a == 'b'", 'a == "b"'],
    ['a == ""', 'a == ""'],
    [`a == 'x"y'`, `a == 'x"y'`],
    [`a == "x'y"`, `a == "x'y"`],
    [`a!='"'`, `a != '"'`],
    ['a contains"x"', 'a contains "x"'],
    ['a startswith "x"', 'a starts with "x"'],
    ['a starts  with "x"', 'a starts with "x"'],
    ['a endswith "x"', 'a ends with "x"'],
    ['a ends\twith "x"', 'a ends with "x"'],
    ['a in {}', 'a in {}'],
    ['a in {"x",}', 'a in {"x"}'],
    ['a in{"z", "z", "x", "y", "x", "a"}', 'a in {"a", "x", "y", "z"}'],
    ['a notin {"x"}', 'a not in {"x"}'],
    ['a not \t in {}', 'a not in {}'],
    [`a in {"'", '"', "c"}`, `a in {'"', "'", "c"}`],
    ['!has(a)', '!has(a)'],
    ['! has(a)', '!has(a)'],
    ['!!has(a)', 'has(a)'],
    ['!!!has(a)', '!has(a)'],
    ['!! ! has(a)', '!has(a)'],
    ['!(!has(a))', 'has(a)'],
    ['!a == "b"', '!a == "b"'],
    ['!(a == "b")', '!a == "b"'],
    ['a == "b" && c == "d"', '(a == "b" && c == "d")'],
    ['a == "b" && c == "d" && e == "f"', '(a == "b" && c == "d" && e == "f")'],
    ['(a == "b" && c == "d") && e == "f"', '((a == "b" && c == "d") && e == "f")'],
    ['a == "b" || c == "d" && e == "f"', '(a == "b" || (c == "d" && e == "f"))'],
    ['has(a)&&b!="c"||!d in {"1"}', '((has(a) && b != "c") || !d in {"1"})'],
    ['! (has( b)||! has(a ))', '!(has(b) || !has(a))'],
    ['! (a == "b"&&! c != "d")', '!(a == "b" && !c != "d")'],
    ['((a == "b"))', 'a == "b"'],
  ])('%j → %j', (input, canonical) => {
    expect(print(parse(input))).toBe(canonical);
  });

  it('builds the tree with ! > && > ||', () => {
    const expected: SelectorNode = {
      kind: 'or',
      operands: [
        {
          kind: 'and',
          operands: [
            { kind: 'has', label: 'a' },
            { kind: 'notEquals', label: 'b', value: 'c' },
          ],
        },
        { kind: 'not', operand: { kind: 'in', label: 'd', values: ['1'] } },
      ],
    };
    expect(parse('has(a)&&b!="c"||!d in {"1"}')).toEqual(expected);
  });

  it('returns frozen nodes', () => {
    const node = parse('a in {"x"} && has(b)');
    expect(Object.isFrozen(node)).toBe(true);
    if (node.kind !== 'and') throw new Error('expected an and node');
    expect(Object.isFrozen(node.operands)).toBe(true);
    expect(Object.isFrozen(node.operands[0])).toBe(true);
  });

  it(`accepts ${MAX_PAREN_DEPTH} levels of parentheses and refuses one more`, () => {
    const nested = (depth: number): string => `${'('.repeat(depth)}a == "b"${')'.repeat(depth)}`;
    expect(print(parse(nested(MAX_PAREN_DEPTH)))).toBe('a == "b"');
    expect(parseError(nested(MAX_PAREN_DEPTH + 1))).toMatchObject({
      offset: MAX_PAREN_DEPTH,
      expected: 'at most 1000 levels of parentheses',
    });
  });
});

describe('parse: invalid selectors', () => {
  const long = 'k'.repeat(513);
  it.each<[string, number, SelectorExpectation]>([
    ['b == b', 5, 'string'],
    ['b contains b', 11, 'string'],
    ['b starts with b', 14, 'string'],
    ['a ==', 4, 'string'],
    ['a === "b"', 4, 'string'],
    ["'b1' == b", 0, 'expression'],
    ['b', 1, 'operator'],
    ['a ', 2, 'operator'],
    ['a b', 2, 'operator'],
    ['a = "b"', 2, 'operator'],
    ['rack =~ "x"', 5, 'operator'],
    ['a starts "x"', 2, 'operator'],
    ['a startswithx "x"', 2, 'operator'],
    ['a inx {"y"}', 2, 'operator'],
    ['a not {"y"}', 2, 'operator'],
    ['has (a)', 4, 'operator'],
    ['a !has(b)', 2, 'operator'],
    ['!', 1, 'expression'],
    ['!= "a"', 0, 'expression'],
    ['(', 1, 'expression'],
    [')', 0, 'expression'],
    ['()', 1, 'expression'],
    ['%', 0, 'expression'],
    ['\n', 0, 'expression'],
    ['a == "b" && %', 12, 'expression'],
    ['a == "b" || %', 12, 'expression'],
    ['has(foo) &&', 11, 'expression'],
    ['a == "b" && && c == "d"', 12, 'expression'],
    ['&& has(a)', 0, 'expression'],
    ['foo == "bar" &', 13, '&&, || or end of input'],
    ['foo == "bar" |', 13, '&&, || or end of input'],
    ['a == "b" c == "d"', 9, '&&, || or end of input'],
    ['a == "b"\n', 8, '&&, || or end of input'],
    ['has(a))', 6, '&&, || or end of input'],
    ['(a == "foo"', 11, '&&, || or )'],
    ['(a == "foo" b', 12, '&&, || or )'],
    ['foo != ||', 7, 'string'],
    ['foo in ""', 7, '{'],
    ['foo in', 6, '{'],
    ['foo in {"", ||', 12, 'string or }'],
    ['a in {,}', 6, 'string or }'],
    ['a in {"x",,}', 10, 'string or }'],
    ['a in {"x" "y"}', 10, ', or }'],
    ['a in {"x"', 9, ', or }'],
    ['"FOO', 4, 'closing quote'],
    [`"FOO'`, 5, 'closing quote'],
    ["'FOO", 4, 'closing quote'],
    ['a == "b', 7, 'closing quote'],
    ['has()', 4, 'label'],
    ['has( )', 5, 'label'],
    ['has(%)', 4, 'label'],
    ['has(a b)', 6, ')'],
    ['has(a', 5, ')'],
    ['all(x)', 4, ')'],
    ['global(', 7, ')'],
    [`${long} == "x"`, 0, 'label of at most 512 characters'],
    [`has(${long})`, 4, 'label of at most 512 characters'],
  ])('%j fails at %i expecting %j', (input, position, expected) => {
    const error = parseError(input);
    expect({ position: error.offset, expected: error.expected }).toEqual({ position, expected });
    expect(error.input).toBe(input);
    expect(error.message).toContain(`expected ${expected}`);
    expect(error.message).toContain(` at ${position}`);
  });

  it('names the label in an operator error', () => {
    expect(parseError('rack =~ "x"').message).toBe('expected operator after label "rack" at 5');
    expect(parseError('a == b').message).toBe('expected string after "==" at 5');
    expect(parseError('a in "b"').message).toBe('expected { after "in" at 5');
    expect(parseError('x == "y').message).toBe('expected closing quote at 7 (string starts at 5)');
  });
});
