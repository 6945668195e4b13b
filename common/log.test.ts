import { describe, expect, it } from 'vitest';
import { type LogFields, type LogLevel, callbackLogger, silentLogger } from './log.js';

type Line = readonly [LogLevel, string, LogFields];

function recorder() {
  const lines: Line[] = [];
  return { lines, log: callbackLogger((level, message, fields) => lines.push([level, message, fields])) };
}

describe('callbackLogger', () => {
  it.each(['debug', 'info', 'warn', 'error'] as const)('sends a %s line with its level', (level) => {
    const { lines, log } = recorder();
    log[level]('hello', { n: 1 });
    expect(lines).toEqual([[level, 'hello', { n: 1 }]]);
  });

  it('adds the fields of `with`, nested, a line’s own fields winning', () => {
    const { lines, log } = recorder();
    log
      .with({ component: 'a', replica: 'r' })
      .with({ component: 'b' })
      .info('x', { replica: 'mine', extra: true });
    log.info('plain');
    expect(lines).toEqual([
      ['info', 'x', { component: 'b', replica: 'mine', extra: true }],
      ['info', 'plain', {}],
    ]);
  });
});

describe('silentLogger', () => {
  it('drops every line, also through `with`', () => {
    expect(() => {
      silentLogger.with({ a: 1 }).error('ignored');
    }).not.toThrow();
  });
});
