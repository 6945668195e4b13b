import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { SelectorNode } from './ast.js';
import { SelectorParseError, parseSelector } from './index.js';
import { print } from './print.js';

// Few keys and values, so that random label maps often hit what random selectors test.
const labelKey = fc.constantFrom(
  'a',
  'b',
  'rack',
  'topology.kubernetes.io/zone',
  '1abc',
  'in',
  'not',
  'has',
  'all',
  'contains',
  'k-8_s.io/x',
  'constructor',
  '__proto__',
);

/** Any value a selector can spell: anything except both kinds of quote at once. */
const value = fc
  .oneof(
    fc.constantFrom('', '0', 'x', 'linux', "it's", 'say "hi"', 'a b', '\t', 'ü', '😀', '\uFFFD'),
    fc.string({ maxLength: 4 }),
    fc.string({ unit: 'binary', maxLength: 3 }),
  )
  .filter((v) => !(v.includes('"') && v.includes("'")));

const labelMap = fc
  .array(fc.tuple(labelKey, value), { maxLength: 6 })
  .map((entries) => Object.fromEntries(entries) as Record<string, string>);

/**
 * Arbitrary trees, built as plain objects rather than with the parser's builders, so they include
 * shapes the parser never makes: unsorted sets with duplicates, and a negation inside a negation.
 */
const { node: selectorNode } = fc.letrec<{ node: SelectorNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<SelectorNode>({ kind: 'all' }, { kind: 'global' }),
    labelKey.map((label): SelectorNode => ({ kind: 'has', label })),
    fc
      .tuple(fc.constantFrom('equals', 'notEquals', 'contains', 'startsWith', 'endsWith'), labelKey, value)
      .map(([kind, label, v]): SelectorNode => ({ kind, label, value: v })),
    fc
      .tuple(fc.constantFrom('in', 'notIn'), labelKey, fc.array(value, { maxLength: 4 }))
      .map(([kind, label, values]): SelectorNode => ({ kind, label, values })),
    tie('node').map((operand): SelectorNode => ({ kind: 'not', operand })),
    fc
      .tuple(fc.constantFrom('and', 'or'), tie('node'), tie('node'), fc.array(tie('node'), { maxLength: 2 }))
      .map(([kind, first, second, rest]): SelectorNode => ({ kind, operands: [first, second, ...rest] })),
  ),
}));

/** A deliberately naive tree walk, independent of the compiled closures, as the oracle. */
function reference(node: SelectorNode, labels: Readonly<Record<string, string>>): boolean {
  const get = (key: string): string | undefined => (Object.hasOwn(labels, key) ? labels[key] : undefined);
  switch (node.kind) {
    case 'all':
    case 'global':
      return true;
    case 'has':
      return get(node.label) !== undefined;
    case 'equals':
      return get(node.label) === node.value;
    case 'notEquals':
      return get(node.label) !== node.value;
    case 'contains':
      return get(node.label)?.includes(node.value) ?? false;
    case 'startsWith':
      return get(node.label)?.startsWith(node.value) ?? false;
    case 'endsWith':
      return get(node.label)?.endsWith(node.value) ?? false;
    case 'in': {
      const actual = get(node.label);
      return actual !== undefined && node.values.includes(actual);
    }
    case 'notIn': {
      const actual = get(node.label);
      return actual === undefined || !node.values.includes(actual);
    }
    case 'not':
      return !reference(node.operand, labels);
    case 'and':
      return node.operands.every((operand) => reference(operand, labels));
    case 'or':
      return node.operands.some((operand) => reference(operand, labels));
  }
}

/** Parses, and checks that any failure is a SelectorParseError pointing inside the input. */
function tryParse(input: string): void {
  try {
    const selector = parseSelector(input);
    const canonical = selector.toString();
    expect(parseSelector(canonical).toString()).toBe(canonical);
  } catch (error) {
    if (!(error instanceof SelectorParseError)) throw error;
    expect(error.offset).toBeGreaterThanOrEqual(0);
    expect(error.offset).toBeLessThanOrEqual(input.length);
  }
}

/** Pieces of selector syntax, so random text often gets far into the grammar. */
const fragment = fc.constantFrom(
  ...[' ', '\t', '(', ')', '{', '}', ',', '"', "'", '!', '=', '&', '|', '==', '!=', '&&', '||'],
  ...[
    'has(',
    'all(',
    'global(',
    'in',
    'not',
    'starts',
    'with',
    'ends',
    'contains',
    'a',
    'k8s.io/x',
    '"v"',
    "'w'",
  ],
);

type Edit = { op: 'delete'; at: number; length: number } | { op: 'insert'; at: number; text: string };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.oneof(fragment, fc.string({ maxLength: 2 })),
  }),
);

function applyEdits(text: string, edits: readonly Edit[]): string {
  let out = text;
  for (const e of edits) {
    const at = out.length === 0 ? 0 : e.at % (out.length + 1);
    out =
      e.op === 'delete'
        ? out.slice(0, at) + out.slice(at + e.length)
        : out.slice(0, at) + e.text + out.slice(at);
  }
  return out;
}

describe('properties', () => {
  it('print → parse round-trips the canonical text and the meaning of any tree', () => {
    fc.assert(
      fc.property(selectorNode, fc.array(labelMap, { minLength: 1, maxLength: 5 }), (node, maps) => {
        const text = print(node);
        const selector = parseSelector(text);
        expect(selector.toString()).toBe(text);
        for (const labels of maps) expect(selector.matches(labels)).toBe(reference(node, labels));
      }),
    );
  });

  it('never throws anything but SelectorParseError on random text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), tryParse));
    fc.assert(
      fc.property(
        fc.array(fragment, { maxLength: 16 }).map((parts) => parts.join('')),
        tryParse,
      ),
    );
  });

  it('never throws anything but SelectorParseError on mutated valid selectors', () => {
    fc.assert(
      fc.property(selectorNode, fc.array(edit, { minLength: 1, maxLength: 4 }), (node, edits) => {
        tryParse(applyEdits(print(node), edits));
      }),
    );
  });
});
