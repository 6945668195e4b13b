/** The one shape of an error as data: a `code` to branch on, and a `message` for humans only. */
export interface CodedError<Code extends string = string> {
  readonly code: Code;
  readonly message: string;
}

/**
 * Where in a text a problem lies: 0-based, in UTF-16 code units as `String.prototype.slice` counts. A
 * length of 0 marks a point, such as where a parser stopped for want of something else.
 */
export interface TextSpan {
  readonly offset: number;
  readonly length: number;
}

/** A text that does not parse, and where. */
export interface ParseError<Code extends string = string> extends CodedError<Code>, TextSpan {
  readonly input: string;
}

/** The message of something thrown, which need not be an Error. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The stack of something thrown, for a crash report: its message when it has none. */
export function errorStack(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
