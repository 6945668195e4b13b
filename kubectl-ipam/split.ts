/**
 * `kubectl ipam split POOL N`, decided purely: the pools a split makes and which of them each block goes
 * to. The steps that write (cluster.ts) are: disable the pool, create the new pools (each names the old
 * one in its split-from annotation, which makes it no conflict while the old pool stays disabled), hand
 * every confirmed block and its affinity to the new pool around it, and delete the old pool, which the
 * operator lets go once no block is left in it. Every step can be run again: an interrupted split is
 * finished by running the same command. See docs/adr/0014-splitting-a-pool.md.
 */
import { type IPAMBlock, type IPPool, isPendingBlock, splitFromAnnotation } from '../api/index.js';
import {
  type Cidr,
  type Result,
  blockAt,
  cidrContains,
  cidrEquals,
  cidrToString,
  safeParseCidr,
} from '../ipam/index.js';
import { poolRange } from './snapshot.js';

/** Kubernetes' limit on an object's name (a DNS subdomain). */
const maxNameLength = 253;

/** The pools `split` makes: the new pool's name, its CIDR, and whether it exists already. */
export interface SplitChild {
  readonly name: string;
  readonly cidr: Cidr;
  readonly exists: boolean;
}

export interface SplitPlan {
  readonly children: readonly SplitChild[];
}

/** The name of the `index`th pool split out of `pool`. */
export function childName(pool: string, index: number): string {
  return `${pool}-${index}`;
}

/**
 * The `parts` pools of equal size `pool` splits into, or why it cannot: `parts` must be a power of two
 * of at least 2, and each part must still hold a whole block of the pool's block size (as each new pool
 * keeps it). `existing` are the pools there are: one with a new pool's name must be that very pool from an
 * earlier run of the same split, else the split is refused rather than take it over.
 */
export function planSplit(
  pool: IPPool,
  parts: number,
  existing: readonly IPPool[],
): Result<SplitPlan, string> {
  const name = pool.metadata.name;
  if (!Number.isInteger(parts) || parts < 2 || (parts & (parts - 1)) !== 0)
    return { ok: false, error: `N must be a power of two of at least 2, not ${parts}` };
  const range = poolRange(pool);
  if (range === undefined) return { ok: false, error: `IPPool "${name}" has a CIDR that does not parse` };
  const prefixLength = range.cidr.prefixLength + Math.log2(parts);
  if (prefixLength > range.blockSize) {
    const most = 2 ** (range.blockSize - range.cidr.prefixLength);
    return {
      ok: false,
      error:
        `${cidrToString(range.cidr)} cannot be split into ${parts}: each part would be smaller than one ` +
        `/${range.blockSize} block (at most ${most})`,
    };
  }
  const tooLong = childName(name, parts - 1).length > maxNameLength;
  if (tooLong) return { ok: false, error: `IPPool "${name}" has too long a name to name its parts after it` };
  const children: SplitChild[] = [];
  for (let index = 0; index < parts; index++) {
    const child = { name: childName(name, index), cidr: blockAt(range.cidr, prefixLength, BigInt(index)) };
    const found = existing.find((other) => other.metadata.name === child.name);
    if (found !== undefined && !isChildOf(found, name, child.cidr)) {
      return {
        ok: false,
        error:
          `IPPool "${child.name}" exists and is not the part ${cidrToString(child.cidr)} of this split ` +
          `(${found.spec.cidr}${found.metadata.annotations?.[splitFromAnnotation] === name ? '' : `, not split from "${name}"`})`,
      };
    }
    children.push({ ...child, exists: found !== undefined });
  }
  return { ok: true, value: { children } };
}

function isChildOf(pool: IPPool, parent: string, cidr: Cidr): boolean {
  const own = safeParseCidr(pool.spec.cidr);
  return pool.metadata.annotations?.[splitFromAnnotation] === parent && own.ok && cidrEquals(own.value, cidr);
}

/** The pools an earlier split of `parent` made (the pool itself may be gone by now). */
export function splitChildren(parent: string, pools: readonly IPPool[]): IPPool[] {
  return pools.filter((pool) => pool.metadata.annotations?.[splitFromAnnotation] === parent);
}

/**
 * A new pool: the old one's settings and labels with its part's CIDR, enabled, naming the old pool.
 * Annotations other than ours are not copied (kubectl's last-applied-configuration would describe the old
 * pool). The parts are enabled: the old pool is disabled by the split itself (or an earlier run of it).
 */
export function childPool(parent: IPPool, child: SplitChild): IPPool {
  return {
    metadata: {
      name: child.name,
      ...(parent.metadata.labels === undefined ? {} : { labels: { ...parent.metadata.labels } }),
      annotations: { [splitFromAnnotation]: parent.metadata.name },
    },
    spec: { ...parent.spec, cidr: cidrToString(child.cidr), disabled: false },
  };
}

/**
 * The new pool a block of the old pool goes to: the part holding it. Undefined for a block still pending
 * (its claimer confirms it or gives it up; a later run moves it), or one in no part (not the old pool's).
 */
export function newPoolOf(block: IPAMBlock, children: readonly SplitChild[]): string | undefined {
  if (isPendingBlock(block)) return undefined;
  const cidr = safeParseCidr(block.spec.cidr);
  if (!cidr.ok) return undefined;
  return children.find((child) => cidrContains(child.cidr, cidr.value))?.name;
}

/** What a run of `split` did, for the user and for tools (`-o json`). */
export interface SplitOutcome {
  readonly pool: string;
  /** Absent when the old pool is gone already: an earlier run finished the split. */
  readonly cidr?: string;
  /** The old pool was disabled by this run (false when it already was). */
  readonly disabled: boolean;
  readonly pools: readonly { readonly name: string; readonly cidr: string; readonly created: boolean }[];
  /** Blocks handed to the new pools by this run, by new pool. */
  readonly blocksMoved: Readonly<Record<string, number>>;
  /** Blocks still in the old pool (pending claims): running the split again moves them. */
  readonly blocksLeft: readonly string[];
}
