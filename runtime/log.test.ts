import { describe, expect, it } from 'vitest';
import { jsonLogger } from './log.js';

function lines(level?: 'debug' | 'info' | 'warn' | 'error') {
  const written: string[] = [];
  const log = jsonLogger({
    ...(level === undefined ? {} : { level }),
    write: (line) => written.push(line),
    base: { component: 'test' },
  });
  return { written, log };
}

describe('jsonLogger', () => {
  it('writes one JSON object per line: time, level, msg, the base fields, then the line’s', () => {
    const { written, log } = lines();
    log.with({ replica: 'r1' }).warn('careful', { key: 'k' });
    expect(written).toHaveLength(1);
    expect(written[0]?.endsWith('\n')).toBe(true);
    const parsed = JSON.parse(written[0] ?? '') as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['time', 'level', 'msg', 'component', 'replica', 'key']);
    expect(parsed).toMatchObject({
      level: 'warn',
      msg: 'careful',
      component: 'test',
      replica: 'r1',
      key: 'k',
    });
    expect(new Date(parsed.time as string).toISOString()).toBe(parsed.time);
  });

  it.each([
    { level: undefined, written: ['info', 'warn', 'error'] },
    { level: 'debug', written: ['debug', 'info', 'warn', 'error'] },
    { level: 'warn', written: ['warn', 'error'] },
    { level: 'error', written: ['error'] },
  ] as const)('at level $level writes $written', ({ level, written: expected }) => {
    const { written, log } = lines(level);
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(written.map((line) => (JSON.parse(line) as { level: string }).level)).toEqual(expected);
  });
});
