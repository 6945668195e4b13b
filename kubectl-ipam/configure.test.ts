import { describe, expect, it } from 'vitest';
import { configureSpec } from './configure.js';

describe('configureSpec', () => {
  it.each([
    [undefined, { 'strict-affinity': 'true' }, { strictAffinity: true }],
    [
      { maxBlocksPerHost: 4 },
      { 'auto-allocate-blocks': 'false' },
      { maxBlocksPerHost: 4, autoAllocateBlocks: false },
    ],
    [
      { maxBlocksPerHost: 4 },
      { 'max-blocks-per-host': '0', 'release-cooldown-seconds': '5' },
      { maxBlocksPerHost: 0, releaseCooldownSeconds: 5 },
    ],
    [undefined, { 'leak-grace-period-seconds': '0' }, { leakGracePeriodSeconds: 0 }],
  ])('from %o with %o writes %o', (current, flags, spec) => {
    expect(configureSpec(current, flags)).toEqual({ ok: true, spec });
  });

  it.each([
    [{ 'strict-affinity': 'yes' }, /--strict-affinity: "yes" is not true or false/],
    [{ 'max-blocks-per-host': 'many' }, /--max-blocks-per-host: "many" is not an integer/],
    [{ 'max-blocks-per-host': '70000' }, /--max-blocks-per-host: Too big/],
    [{ 'min-free-addresses-per-node': '-1' }, /--min-free-addresses-per-node: Too small/],
    [{ 'release-cooldown-seconds': '90000' }, /--release-cooldown-seconds: Too big/],
    [{ 'leak-grace-period-seconds': '-1' }, /--leak-grace-period-seconds: Too small/],
    [{}, /nothing to change/],
  ])('refuses %o, naming the flag', (flags, problem) => {
    const outcome = configureSpec(undefined, flags);
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.problems.join('\n')).toMatch(problem);
  });
});
