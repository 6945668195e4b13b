/**
 * A node-wide lock serialising this plugin's invocations on one node, so that pods starting together
 * take turns on the node's blocks instead of racing each other's compare-and-swap.
 *
 * The lock is flock(2) on a file in a directory only root can enter (`ipam.lock_dir`, created mode 0700
 * and refused if anyone else may enter it): a process that cannot open the file cannot lock it, so an
 * unprivileged local process cannot take the lock and wedge every ADD and DEL on the node (as it could
 * squat the abstract unix socket earlier versions bound).
 *
 * Node.js has no flock, but a flock lock belongs to the open file description, not to the process: we
 * open the file and hand that descriptor to util-linux's `flock -x -w SECONDS 3` as its fd 3. When the
 * child exits, the lock stays held by our descriptor; closing it releases the lock, and so does our death
 * however we die (kill -9 included), because the kernel closes the descriptor. A waiter sleeps in the
 * kernel (no CPU while fifty pods start on a small node), and `-w` bounds the wait by the deadline. No
 * file is left locked by a dead plugin; the lock file itself stays, empty, and is reused.
 *
 * The lock is an optimisation: correctness comes from the compare-and-swap on each block's
 * resourceVersion, so a lock that failed to exclude would cost retries, never a duplicate.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface HeldLock {
  /** How long the lock took to get, in milliseconds. */
  readonly waitedMs: number;
  release(): Promise<void>;
}

/** The deadline passed with another invocation holding the lock. */
export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';
}

/** The lock directory or file cannot be used safely (wrong owner or mode, not a directory, no flock). */
export class LockSetupError extends Error {
  override readonly name = 'LockSetupError';
}

/** The lock file for a key (a node name); keys too long for a file name are hashed. */
export function lockFile(dir: string, key: string): string {
  const name = encodeURIComponent(key);
  return path.join(
    dir,
    name.length <= 200 ? `${name}.lock` : `${createHash('sha256').update(key).digest('hex')}.lock`,
  );
}

/** flock's exit code when `-w` runs out (its default, 1, is also its code for other failures). */
const timeoutExitCode = 75;

/**
 * Creates the lock directory (mode 0700) if needed and checks that only we can enter it: a real
 * directory (not a symlink) owned by our user, with no permission for group or others.
 */
function ensurePrivateDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new LockSetupError(`cannot create ${dir}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const stat = fs.lstatSync(dir);
  const uid = process.geteuid?.() ?? 0;
  if (!stat.isDirectory()) throw new LockSetupError(`${dir} is not a directory`);
  if (stat.uid !== uid || (stat.mode & 0o077) !== 0) {
    throw new LockSetupError(
      `${dir} must be a directory owned by uid ${uid} with mode 0700 (it is owned by uid ${stat.uid}, mode ${(stat.mode & 0o777).toString(8)}): anyone who can open the lock file can hold the lock`,
    );
  }
}

/** util-linux's flock: on PATH, or where distributions put it (runtimes may pass a minimal PATH). */
function flockBinary(): string {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((dir) => dir !== ''), '/usr/bin', '/bin'];
  for (const dir of dirs) {
    const candidate = path.join(dir, 'flock');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next.
    }
  }
  throw new LockSetupError('util-linux flock is not installed (looked on PATH, in /usr/bin and /bin)');
}

/** Runs flock on `fd` until it holds the lock (true) or `-w` runs out (false). */
function flockDescriptor(fd: number, waitSeconds: number): Promise<boolean> {
  const wait = waitSeconds <= 0 ? ['-n'] : ['-w', waitSeconds.toFixed(3)];
  return new Promise((resolve, reject) => {
    const child = spawn(flockBinary(), ['-x', ...wait, '-E', String(timeoutExitCode), '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error) => {
      reject(new LockSetupError(`cannot run flock: ${error.message}`));
    });
    child.on('close', (code) => {
      if (code === 0) resolve(true);
      else if (code === timeoutExitCode) resolve(false);
      else reject(new LockSetupError(`flock failed (exit ${code ?? 'signal'}): ${stderr.trim()}`));
    });
  });
}

/**
 * Acquires the lock named `key` in `dir`, waiting until `deadline` (epoch ms) at most; throws
 * LockTimeoutError then, and LockSetupError when the lock cannot be used safely.
 */
export async function acquireLock(dir: string, key: string, deadline: number): Promise<HeldLock> {
  const started = Date.now();
  ensurePrivateDir(dir);
  const file = lockFile(dir, key);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    throw new LockSetupError(`cannot open ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let held: boolean;
  try {
    held = await flockDescriptor(fd, (deadline - Date.now()) / 1000);
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  if (!held) {
    fs.closeSync(fd);
    throw new LockTimeoutError(
      `another topology-ipam invocation held the node lock ${file} for ${Date.now() - started} ms`,
    );
  }
  return {
    waitedMs: Date.now() - started,
    release: () => {
      // The last descriptor of the open file description: closing it releases the flock.
      fs.closeSync(fd);
      return Promise.resolve();
    },
  };
}
