import { canonicalSet } from './ast.js';
import type { SelectorNode } from './ast.js';
import { isValidLabel } from './lexer.js';

/**
 * The canonical text of a selector, compatible with Calico's `String()`: operators spaced, every `&&` and
 * `||` group in parentheses, values double-quoted unless they contain `"`, set members sorted and
 * de-duplicated as `{"a", "b"}`. Parsing the result gives a tree that prints the same text again.
 *
 * Trees from the parser always print. A hand-built tree with an invalid label, or a value holding both
 * kinds of quote (which no selector can spell), throws a RangeError.
 */
export function print(node: SelectorNode): string {
  switch (node.kind) {
    case 'all':
      return 'all()';
    case 'global':
      return 'global()';
    case 'has':
      return `has(${label(node.label)})`;
    case 'equals':
      return `${label(node.label)} == ${quote(node.value)}`;
    case 'notEquals':
      return `${label(node.label)} != ${quote(node.value)}`;
    case 'contains':
      return `${label(node.label)} contains ${quote(node.value)}`;
    case 'startsWith':
      return `${label(node.label)} starts with ${quote(node.value)}`;
    case 'endsWith':
      return `${label(node.label)} ends with ${quote(node.value)}`;
    case 'in':
      return `${label(node.label)} in ${set(node.values)}`;
    case 'notIn':
      return `${label(node.label)} not in ${set(node.values)}`;
    case 'not':
      // Two negations cancel when parsed back, so print them as none.
      return node.operand.kind === 'not' ? print(node.operand.operand) : `!${print(node.operand)}`;
    case 'and':
      return `(${node.operands.map((operand) => print(operand)).join(' && ')})`;
    case 'or':
      return `(${node.operands.map((operand) => print(operand)).join(' || ')})`;
  }
}

function label(key: string): string {
  if (!isValidLabel(key)) throw new RangeError(`not a valid selector label: ${JSON.stringify(key)}`);
  return key;
}

function quote(value: string): string {
  if (!value.includes('"')) return `"${value}"`;
  if (value.includes("'"))
    throw new RangeError(`a selector value cannot hold both quotes: ${JSON.stringify(value)}`);
  return `'${value}'`;
}

function set(values: readonly string[]): string {
  return `{${canonicalSet(values).map(quote).join(', ')}}`;
}
