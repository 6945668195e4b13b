/**
 * Node-local records of addresses borrowed from other nodes' blocks. The steady-state LIST only sees this
 * node's blocks, so without a record a borrowed address would be invisible to a repeated ADD (which must
 * return it, not a second one), to DEL and to CHECK. One small file per handle under
 * `<state_dir>/borrowed/`, naming the blocks; written before the block, removed after the release. A
 * stale record (written, then the PUT failed) costs one GET and is dropped.
 */
import fs from 'node:fs';
import path from 'node:path';

export class BorrowRecords {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'borrowed');
  }

  private file(handle: string): string {
    return path.join(this.dir, encodeURIComponent(handle));
  }

  /** Names of the blocks the handle may hold a borrowed address in. */
  blocksOf(handle: string): string[] {
    try {
      return JSON.parse(fs.readFileSync(this.file(handle), 'utf8')) as string[];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  add(handle: string, blockName: string): void {
    const blocks = this.blocksOf(handle);
    if (blocks.includes(blockName)) return;
    fs.mkdirSync(this.dir, { recursive: true });
    const file = this.file(handle);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify([...blocks, blockName]));
    fs.renameSync(`${file}.tmp`, file);
  }

  remove(handle: string): void {
    fs.rmSync(this.file(handle), { force: true });
  }

  /** Every handle with a record (for GC). */
  handles(): string[] {
    try {
      return fs
        .readdirSync(this.dir)
        .filter((name) => !name.endsWith('.tmp'))
        .map((name) => decodeURIComponent(name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }
}
