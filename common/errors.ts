/**
 * The one shape of an error as data: a `code` to branch on, and a `message` for humans only. A parse error
 * also says where: `offset` and `length` locate the offending part of `input` (0-based, in UTF-16 code
 * units, as `String.prototype.slice` counts).
 */
export interface CodedError<Code extends string = string> {
  readonly code: Code;
  readonly message: string;
}

export interface ParseError<Code extends string = string> extends CodedError<Code> {
  readonly input: string;
  readonly offset: number;
  readonly length: number;
}

/** The message of something thrown, which need not be an Error. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The stack of something thrown, for a crash report: its message when it has none. */
export function errorStack(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
