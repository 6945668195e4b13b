/**
 * Which handles of this node hold an address borrowed from another node's block, and in which blocks.
 * The node's watch only sees its own blocks, so without this index a borrowed address would be invisible
 * to a repeated ADD (which must return it, not a second one), to DEL and to CHECK.
 *
 * The index lives in memory and is rebuilt from the API server when the agent starts
 * (`borrowedAddresses`): every allocation made for this node in another node's block of a pool selecting
 * it. A record is added before the block is written (a crash in between leaves a record that costs one
 * read) and removed after the release. Nothing is kept on the node's disk, so a new agent, a wiped disk
 * or a reinstalled node lose nothing.
 */
import type { IPAMBlock } from '../api/index.js';

export class BorrowIndex {
  private readonly blocksByHandle = new Map<string, Set<string>>();

  /** Names of the blocks the handle may hold a borrowed address in. */
  blocksOf(handle: string): string[] {
    return [...(this.blocksByHandle.get(handle) ?? [])];
  }

  add(handle: string, blockName: string): void {
    const blocks = this.blocksByHandle.get(handle) ?? new Set<string>();
    blocks.add(blockName);
    this.blocksByHandle.set(handle, blocks);
  }

  remove(handle: string): void {
    this.blocksByHandle.delete(handle);
  }

  /** Every handle with a record (for GC). */
  handles(): string[] {
    return [...this.blocksByHandle.keys()];
  }
}

/** The allocations made for `node` in other nodes' blocks, as (handle, block) pairs. */
export function borrowedAddresses(blocks: readonly IPAMBlock[], node: string): [string, string][] {
  return blocks.flatMap((block) =>
    block.spec.node === node
      ? []
      : block.spec.allocations
          .filter((allocation) => allocation.node === node)
          .map((allocation): [string, string] => [allocation.handle, block.metadata.name]),
  );
}
