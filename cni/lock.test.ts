import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LockTimeoutError, acquireLock, lockAddress } from './lock.js';

const key = () => `lock-test-${randomBytes(4).toString('hex')}`;

describe('the node lock', () => {
  it('excludes a second holder until the first releases', async () => {
    const name = key();
    const first = await acquireLock(name, Date.now() + 1000);
    await expect(acquireLock(name, Date.now() + 100)).rejects.toBeInstanceOf(LockTimeoutError);
    const waiting = acquireLock(name, Date.now() + 2000);
    await first.release();
    const second = await waiting;
    await second.release();
  });

  it('is freed by the kernel when its holder is killed with SIGKILL', async () => {
    const name = key();
    const address = JSON.stringify(lockAddress(name));
    const holder = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${address}, () => console.log('held'))`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) =>
      holder.stdout.once('data', () => {
        resolve();
      }),
    );
    await expect(acquireLock(name, Date.now() + 100)).rejects.toBeInstanceOf(LockTimeoutError);
    holder.kill('SIGKILL');
    const lock = await acquireLock(name, Date.now() + 5000);
    await lock.release();
  });

  it('hashes keys too long for sun_path', () => {
    const address = lockAddress('n'.repeat(253));
    expect(address.startsWith('\0topology-ipam/')).toBe(true);
    expect(Buffer.byteLength(address)).toBeLessThan(108);
  });
});
