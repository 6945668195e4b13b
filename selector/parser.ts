/**
 * Recursive-descent parser for Calico's selector language:
 *
 *   selector := <empty> | or
 *   or       := and ("||" and)*
 *   and      := unary ("&&" unary)*
 *   unary    := "!"* ( has(L) | all() | global() | "(" or ")"
 *                    | L ("==" | "!=" | contains | starts with | ends with) STRING
 *                    | L (in | not in) "{" [STRING ("," STRING)* [","]] "}" )
 *
 * `!` binds tighter than `&&`, which binds tighter than `||`; `!a == "b"` is `!(a == "b")`.
 *
 * Written by hand rather than with jsep: jsep's configuration (operators, literals) is process-global, so
 * teaching it this grammar would change it for every other user in the process; and its identifiers and
 * whitespace rules differ from Calico's (label keys such as `1abc` or `topology.kubernetes.io/zone`, `!`
 * binding looser than `==`, spaces inside `starts with`), so it accepts inputs Calico rejects and the
 * other way round. See docs/adr/0001-hand-written-selector-parser.md.
 */
import { ALL, GLOBAL, and, hasLabel, not, or, setNode, valueNode } from './ast.js';
import type { SelectorNode } from './ast.js';
import { SelectorParseError } from './errors.js';
import type { SelectorExpectation, SelectorParseErrorDetail } from './errors.js';
import { Lexer } from './lexer.js';
import type { Operator, Token } from './lexer.js';

/** Deeper nesting is refused rather than risk exhausting the stack while parsing or evaluating. */
export const MAX_PAREN_DEPTH = 1000;

/** Parses `input` into its syntax tree; an empty or blank selector is `all()`. */
export function parse(input: string): SelectorNode {
  return new Parser(input).selector();
}

class Parser {
  readonly #input: string;
  readonly #lexer: Lexer;
  #lookahead: Token | undefined;
  #depth = 0;

  constructor(input: string) {
    this.#input = input;
    this.#lexer = new Lexer(input);
  }

  selector(): SelectorNode {
    if (this.#peek().kind === 'end') return ALL;
    const node = this.#or();
    const rest = this.#next();
    if (rest.kind !== 'end') throw this.#error(rest.start, '&&, || or end of input');
    return node;
  }

  #or(): SelectorNode {
    const first = this.#and();
    if (!this.#accept('||')) return first;
    const operands: [SelectorNode, SelectorNode, ...SelectorNode[]] = [first, this.#and()];
    while (this.#accept('||')) operands.push(this.#and());
    return or(operands);
  }

  #and(): SelectorNode {
    const first = this.#unary();
    if (!this.#accept('&&')) return first;
    const operands: [SelectorNode, SelectorNode, ...SelectorNode[]] = [first, this.#unary()];
    while (this.#accept('&&')) operands.push(this.#unary());
    return and(operands);
  }

  #unary(): SelectorNode {
    let negated = false;
    while (this.#accept('!')) negated = !negated;
    const operand = this.#operand();
    return negated ? not(operand) : operand;
  }

  #operand(): SelectorNode {
    const token = this.#next();
    switch (token.kind) {
      case 'has':
        return hasLabel(token.value);
      case 'all':
        return ALL;
      case 'global':
        return GLOBAL;
      case 'label':
        return this.#comparison(token.value);
      case '(':
        return this.#group(token.start);
      case 'string':
      case ')':
      case '{':
      case '}':
      case ',':
      case '!':
      case '&&':
      case '||':
      case 'end':
      case 'invalid':
        throw this.#error(token.start, 'expression');
    }
  }

  #group(start: number): SelectorNode {
    if (++this.#depth > MAX_PAREN_DEPTH) throw this.#error(start, 'at most 1000 levels of parentheses');
    const inner = this.#or();
    const close = this.#next();
    if (close.kind !== ')') throw this.#error(close.start, '&&, || or )');
    this.#depth--;
    return inner;
  }

  /** The rest of a comparison whose label was just read. Nothing is looked ahead at this point. */
  #comparison(label: string): SelectorNode {
    const op = this.#lexer.operator(label);
    switch (op) {
      case '==':
        return valueNode('equals', label, this.#string(op));
      case '!=':
        return valueNode('notEquals', label, this.#string(op));
      case 'contains':
        return valueNode('contains', label, this.#string(op));
      case 'starts with':
        return valueNode('startsWith', label, this.#string(op));
      case 'ends with':
        return valueNode('endsWith', label, this.#string(op));
      case 'in':
        return setNode('in', label, this.#set(op));
      case 'not in':
        return setNode('notIn', label, this.#set(op));
    }
  }

  #string(after: Operator): string {
    const token = this.#next();
    if (token.kind !== 'string') throw this.#error(token.start, 'string', { after: `"${after}"` });
    return token.value;
  }

  /** `{` [STRING ("," STRING)* [","]] `}`: empty sets and one trailing comma are allowed. */
  #set(after: Operator): string[] {
    const open = this.#next();
    if (open.kind !== '{') throw this.#error(open.start, '{', { after: `"${after}"` });
    const values: string[] = [];
    for (;;) {
      const member = this.#next();
      if (member.kind === '}') return values;
      if (member.kind !== 'string') throw this.#error(member.start, 'string or }');
      values.push(member.value);
      const separator = this.#next();
      if (separator.kind === '}') return values;
      if (separator.kind !== ',') throw this.#error(separator.start, ', or }');
    }
  }

  #peek(): Token {
    this.#lookahead ??= this.#lexer.next();
    return this.#lookahead;
  }

  #next(): Token {
    const token = this.#peek();
    this.#lookahead = undefined;
    return token;
  }

  /** Consumes the next token if it is `kind`. */
  #accept(kind: Token['kind']): boolean {
    if (this.#peek().kind !== kind) return false;
    this.#lookahead = undefined;
    return true;
  }

  #error(
    offset: number,
    expected: SelectorExpectation,
    detail?: SelectorParseErrorDetail,
  ): SelectorParseError {
    return new SelectorParseError(this.#input, offset, expected, detail);
  }
}
