import type { SelectorNode } from './ast.js';
import { usesGlobal } from './analysis.js';
import { compile } from './evaluate/compile.js';
import type { Labels, Matcher } from './evaluate/compile.js';
import { parse } from './parser.js';
import { print } from './print.js';

/** A parsed, compiled selector. Parse once and call `matches` as often as needed. */
export interface Selector {
  /** Whether a set of labels (e.g. a node's) satisfies the selector. */
  matches(labels: Readonly<Record<string, string>>): boolean;
  /** The canonical text; `parseSelector(s.toString()).toString() === s.toString()`. */
  toString(): string;
  readonly ast: SelectorNode;
}

/** Parses Calico selector syntax; an empty or blank selector is `all()`. Throws `SelectorParseError`. */
export function parseSelector(text: string): Selector {
  return new CompiledSelector(parse(text));
}

/** True if `global()` appears anywhere in the selector (pool node selectors may not use it). */
export function selectorUsesGlobal(selector: Selector): boolean {
  return usesGlobal(selector.ast);
}

class CompiledSelector implements Selector {
  readonly ast: SelectorNode;
  /** The compiled closure itself, so `matches` also works detached from the selector. */
  readonly matches: Matcher;
  #text: string | undefined;

  constructor(ast: SelectorNode) {
    this.ast = ast;
    this.matches = compile(ast);
  }

  toString(): string {
    this.#text ??= print(this.ast);
    return this.#text;
  }
}

export type { Labels };
