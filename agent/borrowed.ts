/**
 * Node-local records of addresses borrowed from other nodes' blocks. The steady-state LIST only sees this
 * node's blocks, so without a record a borrowed address would be invisible to a repeated ADD (which must
 * return it, not a second one), to DEL and to CHECK. One small file per handle under
 * `<state_dir>/borrowed/`, naming the blocks; written before the block, removed after the release. A
 * stale record (written, then the PUT failed) costs one GET and is dropped.
 *
 * A file is named by its URI-encoded handle, which it holds as a JSON array of block names; a handle too
 * long for a file name (a long network name or container ID) is named by its hash instead, and the file
 * holds `{handle, blocks}`. A state_dir that cannot hold these files is a configuration error (code 7).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CniError } from '../cni/errors.js';

/** File names up to this long are the encoded handle (Linux allows 255 bytes; `.tmp` is appended while writing). */
const maxPlainNameLength = 200;
const hashedPrefix = 'sha256-';

interface HashedRecord {
  readonly handle: string;
  readonly blocks: string[];
}

export class BorrowRecords {
  private readonly dir: string;

  constructor(private readonly stateDir: string) {
    this.dir = path.join(stateDir, 'borrowed');
  }

  private fileName(handle: string): string {
    const plain = encodeURIComponent(handle);
    if (plain.length <= maxPlainNameLength) return plain;
    return `${hashedPrefix}${createHash('sha256').update(handle).digest('hex')}`;
  }

  /** Runs a file operation; any failure but the expected ones names ipam.state_dir. */
  private io<T>(what: () => T, expected: (code: string | undefined) => T | undefined): T {
    try {
      return what();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const fallback = expected(code);
      if (fallback !== undefined) return fallback;
      throw new CniError(
        {
          kind: 'invalid-config',
          path: 'ipam.state_dir',
          reason: `ipam.state_dir ${this.stateDir} cannot hold the plugin's node-local records (${code ?? (error as Error).message}); point it at a directory writable by root`,
        },
        { cause: error },
      );
    }
  }

  private read(name: string): unknown {
    return this.io(
      () => JSON.parse(fs.readFileSync(path.join(this.dir, name), 'utf8')) as unknown,
      (code) => (code === 'ENOENT' ? null : undefined),
    );
  }

  /** Names of the blocks the handle may hold a borrowed address in. */
  blocksOf(handle: string): string[] {
    const record = this.read(this.fileName(handle));
    if (record === null) return [];
    if (Array.isArray(record)) return record as string[];
    const hashed = record as HashedRecord;
    return hashed.handle === handle ? hashed.blocks : [];
  }

  add(handle: string, blockName: string): void {
    const blocks = this.blocksOf(handle);
    if (blocks.includes(blockName)) return;
    const name = this.fileName(handle);
    const updated = [...blocks, blockName];
    const content = name.startsWith(hashedPrefix) ? { handle, blocks: updated } : updated;
    const file = path.join(this.dir, name);
    this.io(
      () => {
        fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        fs.writeFileSync(`${file}.tmp`, JSON.stringify(content));
        fs.renameSync(`${file}.tmp`, file);
      },
      () => undefined,
    );
  }

  remove(handle: string): void {
    const file = path.join(this.dir, this.fileName(handle));
    this.io(
      () => {
        fs.rmSync(file, { force: true });
      },
      () => undefined,
    );
  }

  /** Every handle with a record (for GC). */
  handles(): string[] {
    const names = this.io(
      () => fs.readdirSync(this.dir),
      (code) => (code === 'ENOENT' ? [] : undefined),
    );
    return names
      .filter((name) => !name.endsWith('.tmp'))
      .flatMap((name) => {
        if (!name.startsWith(hashedPrefix)) return [decodeURIComponent(name)];
        const record = this.read(name) as HashedRecord | null;
        return record === null ? [] : [record.handle];
      });
  }
}
