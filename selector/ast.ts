/**
 * The selector syntax tree: a closed union keyed by `kind`. Every switch over it lists each kind and has no
 * `default`, so adding a kind is a compile error everywhere it must be handled.
 *
 * Nodes are frozen. The builders below are the only way the parser makes nodes, and they keep the tree in
 * a normal form: set members sorted and de-duplicated, and no negation directly inside a negation.
 */
export type SelectorNode = AllNode | GlobalNode | HasNode | ValueNode | SetNode | NotNode | AndNode | OrNode;

/** `all()`, and the meaning of an empty selector: matches everything. */
export interface AllNode {
  readonly kind: 'all';
}

/** `global()`: matches everything; Calico uses it to mark selectors of non-namespaced resources. */
export interface GlobalNode {
  readonly kind: 'global';
}

/** `has(label)`. */
export interface HasNode {
  readonly kind: 'has';
  readonly label: string;
}

/** `label == "v"`, `!=`, `contains`, `starts with`, `ends with`. */
export interface ValueNode {
  readonly kind: ValueKind;
  readonly label: string;
  readonly value: string;
}

export type ValueKind = 'equals' | 'notEquals' | 'contains' | 'startsWith' | 'endsWith';

/** `label in {…}` and `label not in {…}`; `values` is sorted (by code point) and has no duplicates. */
export interface SetNode {
  readonly kind: SetKind;
  readonly label: string;
  readonly values: readonly string[];
}

export type SetKind = 'in' | 'notIn';

export interface NotNode {
  readonly kind: 'not';
  readonly operand: SelectorNode;
}

/** Two or more operands; nesting is kept as written (`(a && b) && c` is an `and` inside an `and`). */
export interface AndNode {
  readonly kind: 'and';
  readonly operands: Operands;
}

export interface OrNode {
  readonly kind: 'or';
  readonly operands: Operands;
}

export type Operands = readonly [SelectorNode, SelectorNode, ...SelectorNode[]];

export const ALL: AllNode = Object.freeze({ kind: 'all' });
export const GLOBAL: GlobalNode = Object.freeze({ kind: 'global' });

export function hasLabel(label: string): HasNode {
  return Object.freeze({ kind: 'has', label });
}

export function valueNode(kind: ValueKind, label: string, value: string): ValueNode {
  return Object.freeze({ kind, label, value });
}

export function setNode(kind: SetKind, label: string, values: Iterable<string>): SetNode {
  return Object.freeze({ kind, label, values: canonicalSet(values) });
}

/** Negates `operand`; two negations cancel, as Calico does for a run of `!`. */
export function not(operand: SelectorNode): SelectorNode {
  return operand.kind === 'not' ? operand.operand : Object.freeze({ kind: 'not', operand });
}

export function and(operands: Operands): AndNode {
  return Object.freeze({ kind: 'and', operands: Object.freeze(operands) });
}

export function or(operands: Operands): OrNode {
  return Object.freeze({ kind: 'or', operands: Object.freeze(operands) });
}

/** Sorted, de-duplicated, frozen copy of a set's members. */
export function canonicalSet(values: Iterable<string>): readonly string[] {
  return Object.freeze([...new Set(values)].sort(compareCodePoints));
}

/**
 * Orders strings by Unicode code point, which is the byte order of their UTF-8 encoding and so the order
 * Go's `sort.Strings` gives Calico. Plain `<` compares UTF-16 code units and disagrees when a character
 * above U+FFFF meets one in U+E000–U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // If i is the low half of a surrogate pair, the high halves matched and the low halves order the
    // same way the code points do; otherwise codePointAt reads the whole code point starting at i.
    const cx = a.codePointAt(i) ?? x;
    const cy = b.codePointAt(i) ?? y;
    return cx - cy;
  }
  return a.length - b.length;
}
