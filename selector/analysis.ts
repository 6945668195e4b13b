import type { SelectorNode } from './ast.js';

/** True if `global()` appears anywhere in the tree, negated or not. */
export function usesGlobal(node: SelectorNode): boolean {
  switch (node.kind) {
    case 'global':
      return true;
    case 'all':
    case 'has':
    case 'equals':
    case 'notEquals':
    case 'contains':
    case 'startsWith':
    case 'endsWith':
    case 'in':
    case 'notIn':
      return false;
    case 'not':
      return usesGlobal(node.operand);
    case 'and':
    case 'or':
      return node.operands.some(usesGlobal);
  }
}
