import type { Operands, SelectorNode } from '../ast.js';

export type Labels = Readonly<Record<string, string>>;
export type Matcher = (labels: Labels) => boolean;

/**
 * Compiles a tree once into nested closures, so evaluating it is a few property reads and comparisons:
 * no parsing, no walking the tree, no allocation per call.
 *
 * A label is present when `labels[key]` is a string; testing the type (not `!== undefined`) keeps keys
 * such as `constructor` or `__proto__`, which a plain object inherits, from reading as present.
 * As in Calico, `!=` and `not in` match when the label is absent; every other comparison does not.
 */
export function compile(node: SelectorNode): Matcher {
  switch (node.kind) {
    case 'all':
    case 'global':
      return always;
    case 'has': {
      const key = node.label;
      return (labels) => typeof labels[key] === 'string';
    }
    case 'equals': {
      const { label: key, value } = node;
      return (labels) => labels[key] === value;
    }
    case 'notEquals': {
      const { label: key, value } = node;
      return (labels) => labels[key] !== value;
    }
    case 'contains': {
      const { label: key, value } = node;
      return (labels) => {
        const actual = labels[key];
        return typeof actual === 'string' && actual.includes(value);
      };
    }
    case 'startsWith': {
      const { label: key, value } = node;
      return (labels) => {
        const actual = labels[key];
        return typeof actual === 'string' && actual.startsWith(value);
      };
    }
    case 'endsWith': {
      const { label: key, value } = node;
      return (labels) => {
        const actual = labels[key];
        return typeof actual === 'string' && actual.endsWith(value);
      };
    }
    case 'in': {
      const key = node.label;
      const values = new Set(node.values);
      // An inherited non-string value is never a member, so it reads as absent without a type test.
      return (labels) => {
        const actual = labels[key];
        return actual !== undefined && values.has(actual);
      };
    }
    case 'notIn': {
      const key = node.label;
      const values = new Set(node.values);
      return (labels) => {
        const actual = labels[key];
        return actual === undefined || !values.has(actual);
      };
    }
    case 'not': {
      const operand = compile(node.operand);
      return (labels) => !operand(labels);
    }
    case 'and': {
      const all = compileEach(node.operands);
      const [first, second] = all;
      if (all.length === 2) return (labels) => first(labels) && second(labels);
      return (labels) => {
        for (const operand of all) if (!operand(labels)) return false;
        return true;
      };
    }
    case 'or': {
      const all = compileEach(node.operands);
      const [first, second] = all;
      if (all.length === 2) return (labels) => first(labels) || second(labels);
      return (labels) => {
        for (const operand of all) if (operand(labels)) return true;
        return false;
      };
    }
  }
}

function compileEach(operands: Operands): readonly [Matcher, Matcher, ...Matcher[]] {
  const [first, second, ...rest] = operands;
  return [compile(first), compile(second), ...rest.map((operand) => compile(operand))];
}

function always(): boolean {
  return true;
}
