/**
 * A node-wide lock serialising this plugin's invocations on one node, so that pods starting together
 * take turns on the node's blocks instead of racing each other's compare-and-swap.
 *
 * The lock is an abstract-namespace unix socket (`\0topology-ipam/<node>`): binding it acquires the
 * lock, closing it (or the process dying, however it dies) releases it, because the kernel frees an
 * abstract name with its last file descriptor. No file is left behind that a killed plugin could leave
 * locked, and nothing needs cleaning after a reboot.
 *
 * Waiting costs no CPU: a waiter that finds the name taken connects to the holder's socket and sleeps
 * until that connection closes, which happens when the holder releases the lock or dies (the kernel
 * closes its sockets). Then it tries to bind again. (Polling the bind instead burns the CPU that the
 * holder needs when dozens of pods start at once on a small node.)
 *
 * Limits: abstract names are per network namespace, so every invocation must run in the host's (runtimes
 * run IPAM plugins there). The lock is an optimisation: correctness comes from the compare-and-swap on
 * each block's resourceVersion, so a lock that failed to exclude would cost retries, never a duplicate.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HeldLock {
  /** How long the lock took to get, in milliseconds. */
  readonly waitedMs: number;
  release(): Promise<void>;
}

/** The abstract socket name for a key; long keys are hashed to fit sun_path's 108 bytes. */
export function lockAddress(key: string): string {
  const name = `topology-ipam/${key}`;
  return `\0${name.length <= 100 ? name : `topology-ipam/${createHash('sha256').update(key).digest('hex').slice(0, 40)}`}`;
}

export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';
}

/** Binds the name; `undefined` if another process holds it. Accepted waiters are kept until release. */
function tryBind(address: string): Promise<{ server: net.Server; waiters: Set<net.Socket> } | undefined> {
  return new Promise((resolve, reject) => {
    const waiters = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      waiters.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => waiters.delete(socket));
    });
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(undefined);
      else reject(error);
    });
    server.listen({ path: address, exclusive: true }, () => {
      server.unref();
      resolve({ server, waiters });
    });
  });
}

/** Waits until the holder's socket goes away (released or died), or until `deadline`; false on timeout. */
function awaitRelease(address: string, deadline: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ path: address });
    const timer = setTimeout(
      () => {
        socket.destroy();
        resolve(false);
      },
      Math.max(0, deadline - Date.now()),
    );
    // Refused (no holder any more, or its backlog is full) and closed both mean: try to bind again.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Acquires the lock named `key`, waiting until `deadline` (epoch ms) at most; throws LockTimeoutError then.
 */
export async function acquireLock(key: string, deadline: number): Promise<HeldLock> {
  const address = lockAddress(key);
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    const bound = await tryBind(address);
    if (bound) {
      const { server, waiters } = bound;
      return {
        waitedMs: Date.now() - started,
        release: () =>
          new Promise((resolve) => {
            server.close(() => {
              resolve();
            });
            for (const socket of waiters) socket.destroy();
          }),
      };
    }
    if (Date.now() >= deadline || !(await awaitRelease(address, deadline))) {
      throw new LockTimeoutError(
        `another topology-ipam invocation held the node lock ${JSON.stringify(address.slice(1))} for ${Date.now() - started} ms`,
      );
    }
    // Every waiter wakes at a release; a little jitter spreads their binds (and a refused connect
    // right after a bind lost, before the winner listens, does not spin).
    await sleep(Math.random() * Math.min(5, 1 + attempt));
  }
}
