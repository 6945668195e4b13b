import { describe, expect, it } from 'vitest';

import { SelectorParseError } from './errors.js';
import { Lexer, MAX_LABEL_LENGTH, isValidLabel } from './lexer.js';
import type { Operator, Token } from './lexer.js';

/** Lexes `input` the way the parser does: an operator is requested right after each label. */
function lex(input: string): (Token | Operator)[] {
  const lexer = new Lexer(input);
  const out: (Token | Operator)[] = [];
  for (;;) {
    const token = lexer.next();
    out.push(token);
    if (token.kind === 'end' || token.kind === 'invalid') return out;
    if (token.kind === 'label') out.push(lexer.operator(token.value));
  }
}

describe('Lexer', () => {
  it.each<[string, (Token | Operator)[]]>([
    [
      'a=="b"',
      [
        { kind: 'label', start: 0, value: 'a' },
        '==',
        { kind: 'string', start: 3, value: 'b' },
        { kind: 'end', start: 6 },
      ],
    ],
    [
      "k != 'v'",
      [
        { kind: 'label', start: 0, value: 'k' },
        '!=',
        { kind: 'string', start: 5, value: 'v' },
        { kind: 'end', start: 8 },
      ],
    ],
    [
      ' \t!has( x )&&all()||global( )',
      [
        { kind: '!', start: 2 },
        { kind: 'has', start: 3, value: 'x' },
        { kind: '&&', start: 11 },
        { kind: 'all', start: 13 },
        { kind: '||', start: 18 },
        { kind: 'global', start: 20 },
        { kind: 'end', start: 29 },
      ],
    ],
    [
      'a in{"x",}',
      [
        { kind: 'label', start: 0, value: 'a' },
        'in',
        { kind: '{', start: 4 },
        { kind: 'string', start: 5, value: 'x' },
        { kind: ',', start: 8 },
        { kind: '}', start: 9 },
        { kind: 'end', start: 10 },
      ],
    ],
    [
      '(',
      [
        { kind: '(', start: 0 },
        { kind: 'end', start: 1 },
      ],
    ],
    ['%', [{ kind: 'invalid', start: 0 }]],
    ['&x', [{ kind: 'invalid', start: 0 }]],
    ['|x', [{ kind: 'invalid', start: 0 }]],
    ['!=', [{ kind: 'invalid', start: 0 }]],
    ['=', [{ kind: 'invalid', start: 0 }]],
    ['\n', [{ kind: 'invalid', start: 0 }]],
  ])('lexes %j', (input, expected) => {
    expect(lex(input)).toEqual(expected);
  });

  it.each<[string, Operator]>([
    ['==', '=='],
    ['!=', '!='],
    ['contains', 'contains'],
    ['contains"x"', 'contains'],
    ['starts with', 'starts with'],
    ['startswith', 'starts with'],
    ['starts \t  with', 'starts with'],
    ['ends with', 'ends with'],
    ['endswith', 'ends with'],
    ['in', 'in'],
    ['in{', 'in'],
    ['not in', 'not in'],
    ['notin', 'not in'],
    ['not   in(', 'not in'],
  ])('reads the operator %j after a label', (text, op) => {
    const lexer = new Lexer(`label ${text}`);
    lexer.next();
    expect(lexer.operator('label')).toBe(op);
  });

  it.each([
    'inx',
    'in-',
    'in.',
    'in/',
    'containsx',
    'starts',
    'startswithx',
    'not',
    'notinx',
    'ends wit',
    '=',
    '! =',
    '(',
    '"x"',
  ])('rejects %j as an operator (word boundary, whole spelling)', (text) => {
    const lexer = new Lexer(`label ${text}`);
    lexer.next();
    expect(() => lexer.operator('label')).toThrow(SelectorParseError);
  });

  it('treats operator words as labels outside operator position', () => {
    expect(lex('in in {}').slice(0, 2)).toEqual([{ kind: 'label', start: 0, value: 'in' }, 'in']);
    expect(lex('not not in {}').slice(0, 2)).toEqual([{ kind: 'label', start: 0, value: 'not' }, 'not in']);
  });

  it('keeps strings verbatim: no escapes, the other quote allowed', () => {
    expect(lex(`a == "x\\'y\\"`)[2]).toEqual({ kind: 'string', start: 5, value: `x\\'y\\` });
    expect(lex(`a == "\t\n ü"`)[2]).toEqual({ kind: 'string', start: 5, value: '\t\n ü' });
  });

  it('limits label keys to 512 characters', () => {
    expect(MAX_LABEL_LENGTH).toBe(512);
    expect(isValidLabel('k'.repeat(512))).toBe(true);
    expect(isValidLabel('k'.repeat(513))).toBe(false);
    expect(isValidLabel('')).toBe(false);
    expect(isValidLabel('topology.kubernetes.io/zone')).toBe(true);
    expect(isValidLabel('a b')).toBe(false);
    expect(() => new Lexer(`has(${'k'.repeat(513)})`).next()).toThrow(SelectorParseError);
  });
});
