import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockSetupError, LockTimeoutError, acquireLock, lockFile } from './lock.js';

let root: string;
let dir: string;
const key = 'node-a';

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'lock-test-'));
  dir = path.join(root, 'locks');
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('the node lock', () => {
  it('excludes a second holder until the first releases (the lock outlives the flock child)', async () => {
    const first = await acquireLock(dir, key, Date.now() + 5000);
    await expect(acquireLock(dir, key, Date.now() + 100)).rejects.toBeInstanceOf(LockTimeoutError);
    const waiting = acquireLock(dir, key, Date.now() + 10_000);
    await first.release();
    const second = await waiting;
    expect(second.waitedMs).toBeGreaterThanOrEqual(0);
    await second.release();
  });

  it('is released by the kernel when its holder is killed with SIGKILL', async () => {
    const holder = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const { acquireLock } = await import(${JSON.stringify(path.resolve('cni/lock.ts'))});
         await acquireLock(${JSON.stringify(dir)}, ${JSON.stringify(key)}, Date.now() + 60000);
         console.log('held');
         setInterval(() => undefined, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) =>
      holder.stdout.once('data', () => {
        resolve();
      }),
    );
    await expect(acquireLock(dir, key, Date.now() + 100)).rejects.toBeInstanceOf(LockTimeoutError);
    holder.kill('SIGKILL');
    const lock = await acquireLock(dir, key, Date.now() + 10_000);
    await lock.release();
  }, 60_000);

  it('cannot be taken by an unprivileged process', async () => {
    const lock = await acquireLock(dir, key, Date.now() + 1000);
    await lock.release();
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    const attempt = spawnSync(
      'setpriv',
      ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'flock', '-n', lockFile(dir, key), 'true'],
      { encoding: 'utf8' },
    );
    expect(attempt.status).not.toBe(0);
    expect(attempt.stderr).toMatch(/Permission denied/);
  });

  it.each([
    [
      'open to others',
      (target: string) => {
        fs.mkdirSync(target, { mode: 0o755 });
      },
      /mode 0700/,
    ],
    [
      'owned by someone else',
      (target: string) => {
        fs.mkdirSync(target, { mode: 0o700 });
        fs.chownSync(target, 65534, 65534);
      },
      /owned by uid 0/,
    ],
    [
      'a file',
      (target: string) => {
        fs.writeFileSync(target, '');
      },
      /not a directory|ENOTDIR|EEXIST/,
    ],
    [
      'a symlink to a private directory',
      (target: string) => {
        fs.mkdirSync(`${target}-real`, { mode: 0o700 });
        fs.symlinkSync(`${target}-real`, target);
      },
      /not a directory/,
    ],
  ])('refuses a lock directory that is %s', async (_, make, message) => {
    make(dir);
    const attempt = acquireLock(dir, key, Date.now() + 1000);
    await expect(attempt).rejects.toBeInstanceOf(LockSetupError);
    await expect(attempt).rejects.toThrow(message);
  });

  it('hashes keys too long for a file name', () => {
    const file = path.basename(lockFile(dir, 'n'.repeat(253)));
    expect(file).toMatch(/^[0-9a-f]{64}\.lock$/);
    expect(path.basename(lockFile(dir, 'node-a'))).toBe('node-a.lock');
  });
});
