import { SelectorParseError } from './errors.js';

/**
 * The lexer of Calico's selector language. The parser pulls tokens one at a time; the language is
 * context-sensitive in one place only: right after a label the next thing must be an operator, and words
 * such as `in`, `not in` and `starts with` are operators there and labels anywhere else
 * (`in in {"in"}` is valid). The parser asks for that context explicitly with `operator()`.
 *
 * Whitespace is space and tab only, as in Calico; anything else (newline included) is not valid here.
 */

/** Calico rejects longer label keys. */
export const MAX_LABEL_LENGTH = 512;

export type Operator = '==' | '!=' | 'contains' | 'starts with' | 'ends with' | 'in' | 'not in';

export type Token =
  | { readonly kind: 'label' | 'string' | 'has'; readonly start: number; readonly value: string }
  | {
      readonly kind: '(' | ')' | '{' | '}' | ',' | '!' | '&&' | '||' | 'all' | 'global' | 'end' | 'invalid';
      readonly start: number;
    };

/** Word operators with the words they are spelled with; whitespace between two words is optional. */
const WORD_OPERATORS: readonly { readonly op: Operator; readonly words: readonly [string, ...string[]] }[] = [
  { op: 'contains', words: ['contains'] },
  { op: 'starts with', words: ['starts', 'with'] },
  { op: 'ends with', words: ['ends', 'with'] },
  { op: 'not in', words: ['not', 'in'] },
  { op: 'in', words: ['in'] },
];

/** `[A-Za-z0-9_./-]`, by char code. */
export function isLabelChar(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) || // a-z
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x30 && code <= 0x39) || // 0-9
    code === 0x5f || // _
    code === 0x2e || // .
    code === 0x2f || // /
    code === 0x2d // -
  );
}

export function isValidLabel(label: string): boolean {
  if (label.length === 0 || label.length > MAX_LABEL_LENGTH) return false;
  for (let i = 0; i < label.length; i++) if (!isLabelChar(label.charCodeAt(i))) return false;
  return true;
}

export class Lexer {
  readonly #input: string;
  #pos = 0;

  constructor(input: string) {
    this.#input = input;
  }

  /** The next token anywhere except right after a label. Unknown characters give an `invalid` token. */
  next(): Token {
    const input = this.#input;
    const start = this.#skipSpace(this.#pos);
    if (start >= input.length) {
      this.#pos = start;
      return { kind: 'end', start };
    }
    const c = input.charAt(start);
    switch (c) {
      case '(':
      case ')':
      case '{':
      case '}':
      case ',':
        this.#pos = start + 1;
        return { kind: c, start };
      case '"':
      case "'":
        return this.#string(start, c);
      case '!':
        // `!=` is only ever an operator after a label; elsewhere it is an error, not a negation.
        if (input[start + 1] === '=') return this.#invalid(start);
        this.#pos = start + 1;
        return { kind: '!', start };
      case '&':
      case '|':
        if (input[start + 1] !== c) return this.#invalid(start);
        this.#pos = start + 2;
        return { kind: c === '&' ? '&&' : '||', start };
      default:
        break;
    }
    // No whitespace is allowed between the name and `(`: `has (a)` is the label `has` and then `(`.
    if (input.startsWith('has(', start)) return this.#has(start);
    if (input.startsWith('all(', start)) return this.#emptyCall(start, 'all');
    if (input.startsWith('global(', start)) return this.#emptyCall(start, 'global');
    if (isLabelChar(input.charCodeAt(start))) {
      return { kind: 'label', start, value: this.#label(start) };
    }
    return this.#invalid(start);
  }

  /** The operator that must follow the label just read; throws if there is none. */
  operator(label: string): Operator {
    const input = this.#input;
    const start = this.#skipSpace(this.#pos);
    if (input.startsWith('==', start)) {
      this.#pos = start + 2;
      return '==';
    }
    if (input.startsWith('!=', start)) {
      this.#pos = start + 2;
      return '!=';
    }
    for (const { op, words } of WORD_OPERATORS) {
      const end = this.#matchWords(start, words);
      if (end !== undefined) {
        this.#pos = end;
        return op;
      }
    }
    throw new SelectorParseError(input, start, 'operator', { after: `label "${label}"` });
  }

  #skipSpace(from: number): number {
    const input = this.#input;
    let i = from;
    while (i < input.length && (input[i] === ' ' || input[i] === '\t')) i++;
    return i;
  }

  #labelEnd(from: number): number {
    const input = this.#input;
    let i = from;
    while (i < input.length && isLabelChar(input.charCodeAt(i))) i++;
    return i;
  }

  /** Reads a label known to start at `start` and moves past it. */
  #label(start: number): string {
    const end = this.#labelEnd(start);
    if (end - start > MAX_LABEL_LENGTH) {
      throw new SelectorParseError(this.#input, start, 'label of at most 512 characters', {
        note: `found ${end - start}`,
      });
    }
    this.#pos = end;
    return this.#input.slice(start, end);
  }

  /** Strings have no escapes: the value runs to the next quote of the same kind. */
  #string(start: number, quote: '"' | "'"): Token {
    const input = this.#input;
    const close = input.indexOf(quote, start + 1);
    if (close === -1) {
      throw new SelectorParseError(input, input.length, 'closing quote', {
        note: `string starts at ${start}`,
      });
    }
    this.#pos = close + 1;
    return { kind: 'string', start, value: input.slice(start + 1, close) };
  }

  /** `has(label)`, with optional whitespace inside the parentheses. */
  #has(start: number): Token {
    const labelStart = this.#skipSpace(start + 'has('.length);
    if (this.#labelEnd(labelStart) === labelStart) {
      throw new SelectorParseError(this.#input, labelStart, 'label', { after: '"has("' });
    }
    const value = this.#label(labelStart);
    this.#closeParen(start, 'has');
    return { kind: 'has', start, value };
  }

  /** `all()` or `global()`, with optional whitespace inside the parentheses. */
  #emptyCall(start: number, kind: 'all' | 'global'): Token {
    this.#pos = start + kind.length + 1;
    this.#closeParen(start, kind);
    return { kind, start };
  }

  #closeParen(start: number, name: string): void {
    const at = this.#skipSpace(this.#pos);
    if (this.#input[at] !== ')') {
      throw new SelectorParseError(this.#input, at, ')', { note: `${name}( opened at ${start}` });
    }
    this.#pos = at + 1;
  }

  /** End of `words` spelled at `start` and followed by a word boundary, or undefined. */
  #matchWords(start: number, words: readonly string[]): number | undefined {
    const input = this.#input;
    let at = start;
    for (const [i, word] of words.entries()) {
      if (i > 0) at = this.#skipSpace(at);
      if (!input.startsWith(word, at)) return undefined;
      at += word.length;
    }
    return at < input.length && isLabelChar(input.charCodeAt(at)) ? undefined : at;
  }

  #invalid(start: number): Token {
    this.#pos = start;
    return { kind: 'invalid', start };
  }
}
