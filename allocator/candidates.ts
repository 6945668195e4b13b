import { type Cidr, blockCount, blockIndexOf, cidrToResourceName, iterateBlocks } from '../ipam/index.js';

/**
 * The blocks of a pool a node should try to claim next, best first: those just after the node's
 * highest block (so its blocks stay contiguous and aggregate into fewer routes), then from the start of
 * the pool. Blocks whose names are in `taken`, and those `unusable` says could give no address (wholly
 * reserved), are skipped. Lazy: an IPv6 pool may have 2^58 blocks.
 */
export function* candidateBlocks(
  pool: Cidr,
  blockSize: number,
  held: readonly Cidr[],
  taken: ReadonlySet<string>,
  unusable: (block: Cidr) => boolean = () => false,
): Generator<Cidr, void, undefined> {
  const open = (block: Cidr): boolean => !taken.has(cidrToResourceName(block)) && !unusable(block);
  let start = 0n;
  for (const block of held) {
    const index = blockIndexOf(pool, blockSize, block);
    if (index !== undefined && index + 1n > start) start = index + 1n;
  }
  if (start >= blockCount(pool, blockSize)) start = 0n;
  for (const block of iterateBlocks(pool, blockSize, start)) {
    if (open(block)) yield block;
  }
  let index = 0n;
  for (const block of iterateBlocks(pool, blockSize)) {
    if (index++ >= start) return;
    if (open(block)) yield block;
  }
}
