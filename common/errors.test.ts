import { describe, expect, it } from 'vitest';
import { errorMessage, errorStack } from './errors.js';

class NamedError extends Error {
  override readonly name = 'NamedError';
}

describe('errorMessage', () => {
  it.each([
    { thrown: new Error('boom'), message: 'boom' },
    { thrown: new NamedError('named'), message: 'named' },
    { thrown: 'a string', message: 'a string' },
    { thrown: 42, message: '42' },
    { thrown: undefined, message: 'undefined' },
    { thrown: null, message: 'null' },
  ])('of $thrown is $message', ({ thrown, message }) => {
    expect(errorMessage(thrown)).toBe(message);
  });
});

describe('errorStack', () => {
  it('is the stack of an Error, its message when it has none, and the text of anything else', () => {
    const withStack = new Error('boom');
    const withoutStack = new Error('bare');
    delete withoutStack.stack;
    expect(errorStack(withStack)).toBe(withStack.stack);
    expect(errorStack(withoutStack)).toBe('bare');
    expect(errorStack('a string')).toBe('a string');
  });
});
