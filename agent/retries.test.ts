import { describe, expect, it } from 'vitest';
import { ApiError } from '../kube/index.js';
import { CniError, toCniError } from '../cni/errors.js';
import { maxRetries, withRetries } from './addresses.js';

describe('withRetries', () => {
  it('gives up after maxRetries attempts however much time is left, counting each cause', async () => {
    let attempts = 0;
    const error = await withRetries(Date.now() + 600_000, 'ADD', () => {
      attempts++;
      return Promise.reject(
        attempts % 2 === 0
          ? new ApiError(409, 'Conflict', 'changed', 'PUT', '/x')
          : new ApiError(429, 'TooManyRequests', 'storage is (re)initializing', 'GET', '/y'),
      );
    }).catch((caught: unknown) => caught);
    expect(attempts).toBe(maxRetries);
    expect(error).toBeInstanceOf(CniError);
    expect(toCniError(error)).toMatchObject({
      code: 11,
      details: expect.stringMatching(
        /15 × 429 TooManyRequests, 15 × 409 Conflict; at most 30 attempts\); the last: PUT \/x/,
      ) as unknown,
    });
  }, 30_000);

  it('returns what an attempt returns once it succeeds, and does not retry other errors', async () => {
    let attempts = 0;
    const value = await withRetries(Date.now() + 60_000, 'DEL', () =>
      ++attempts < 3
        ? Promise.reject(new ApiError(409, 'Conflict', '', 'PUT', '/x'))
        : Promise.resolve('done'),
    );
    expect([value, attempts]).toEqual(['done', 3]);
    const refused = new ApiError(403, 'Forbidden', '', 'GET', '/x');
    await expect(withRetries(Date.now() + 60_000, 'DEL', () => Promise.reject(refused))).rejects.toBe(
      refused,
    );
  });
});
