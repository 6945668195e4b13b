export { parseSelector, selectorUsesGlobal } from './selector.js';
export type { Labels, Selector } from './selector.js';
export { SelectorParseError } from './errors.js';
export type { SelectorExpectation } from './errors.js';
export type {
  AllNode,
  AndNode,
  GlobalNode,
  HasNode,
  NotNode,
  OrNode,
  SelectorNode,
  SetKind,
  SetNode,
  ValueKind,
  ValueNode,
} from './ast.js';
