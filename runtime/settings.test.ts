import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { flag, logLevel, parseSettings, port, positiveSeconds } from './settings.js';

const schema = z.object({
  PORT: port(8080),
  ENABLED: flag(true),
  LOG_LEVEL: logLevel(),
  WAIT_SECONDS: positiveSeconds(2),
});

describe('settings', () => {
  it('defaults every variable left unset', () => {
    expect(parseSettings(schema, {}, 'test')).toEqual({
      PORT: 8080,
      ENABLED: true,
      LOG_LEVEL: 'info',
      WAIT_SECONDS: 2,
    });
  });

  it.each([
    { env: { PORT: ' 9443 ' }, key: 'PORT', value: 9443 },
    { env: { PORT: '0' }, key: 'PORT', value: 0 },
    { env: { ENABLED: 'false' }, key: 'ENABLED', value: false },
    { env: { LOG_LEVEL: 'debug' }, key: 'LOG_LEVEL', value: 'debug' },
    { env: { WAIT_SECONDS: '0.5' }, key: 'WAIT_SECONDS', value: 0.5 },
  ])('reads $env', ({ env, key, value }) => {
    expect(parseSettings(schema, env, 'test')).toHaveProperty(key, value);
  });

  it.each([
    { env: { PORT: '' }, variable: 'PORT' },
    { env: { PORT: '65536' }, variable: 'PORT' },
    { env: { PORT: '80x' }, variable: 'PORT' },
    { env: { ENABLED: 'yes' }, variable: 'ENABLED' },
    { env: { LOG_LEVEL: 'loud' }, variable: 'LOG_LEVEL' },
    { env: { WAIT_SECONDS: '0' }, variable: 'WAIT_SECONDS' },
  ])('refuses $env, naming the program and the variable', ({ env, variable }) => {
    expect(() => parseSettings(schema, env, 'test')).toThrow(/^invalid test settings:\n/);
    expect(() => parseSettings(schema, env, 'test')).toThrow(`→ at ${variable}`);
  });
});
