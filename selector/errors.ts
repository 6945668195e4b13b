import type { ParseError } from '../common/index.js';

/**
 * What the parser was looking for where it stopped. A closed set, so callers can branch on it and tests
 * can pin it; the message is built from it and is for humans only.
 */
export type SelectorExpectation =
  /** A label, `has(…)`, `all()`, `global()`, `(` or `!`. */
  | 'expression'
  /** `==`, `!=`, `contains`, `starts with`, `ends with`, `in` or `not in`, right after a label. */
  | 'operator'
  /** A quoted value after `==`, `!=`, `contains`, `starts with` or `ends with`. */
  | 'string'
  /** The set literal after `in` / `not in`. */
  | '{'
  /** A set member or the end of the set (after `{` or `,`). */
  | 'string or }'
  /** After a set member. */
  | ', or }'
  /** The label inside `has(…)`. */
  | 'label'
  /** The `)` that closes `has(…)`, `all(` or `global(`. */
  | ')'
  /** After a complete expression inside parentheses. */
  | '&&, || or )'
  /** After a complete expression at the top level. */
  | '&&, || or end of input'
  /** The quote that ends a string literal. */
  | 'closing quote'
  | 'label of at most 512 characters'
  | 'at most 1000 levels of parentheses';

export const SELECTOR_PARSE_ERROR = 'SELECTOR_PARSE';

export interface SelectorParseErrorDetail {
  /** What came just before, quoted for the message, e.g. `label "rack"` or `"=="`. */
  readonly after?: string;
  /** Extra context appended to the message in parentheses. */
  readonly note?: string;
}

/**
 * A selector that is not valid Calico syntax. `offset` is 0-based into `input`: where the parser stopped,
 * so the error's span is that point (`length` 0).
 */
export class SelectorParseError extends Error implements ParseError<typeof SELECTOR_PARSE_ERROR> {
  override readonly name = 'SelectorParseError';
  readonly code = SELECTOR_PARSE_ERROR;
  readonly input: string;
  readonly offset: number;
  readonly expected: SelectorExpectation;
  readonly length = 0;

  constructor(
    input: string,
    offset: number,
    expected: SelectorExpectation,
    detail: SelectorParseErrorDetail = {},
  ) {
    const after = detail.after === undefined ? '' : ` after ${detail.after}`;
    const note = detail.note === undefined ? '' : ` (${detail.note})`;
    super(`expected ${expected}${after} at ${offset}${note}`);
    this.input = input;
    this.offset = offset;
    this.expected = expected;
  }
}
