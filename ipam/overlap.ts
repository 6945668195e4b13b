/**
 * Overlap detection between IPPools.
 *
 * Two CIDRs either nest or are disjoint, so after sorting by (start address, prefix length) a single sweep
 * with a stack of enclosing CIDRs finds every overlapping pair: when a CIDR comes up, pop the CIDRs that end
 * before it starts; everything left on the stack contains it. That is O(n log n + k) for n pools and k
 * overlapping pairs, and it reports all pairs (a /16 holding fifty /24s yields fifty pairs).
 *
 * Each pair is oriented by precedence: `a` is the pool that came first, `b` the one that came later, which
 * is the one a controller would mark as conflicting. An incumbent (a pool already in service) comes before
 * one that is not; then the earlier `createdAt` (a pool without one counts as newer than any with one);
 * then the name; then input order. Incumbency matters because creation times have one-second resolution:
 * a pool applied in the same second as the one it overlaps must not take its place.
 */
import { compareBigints } from './address.js';
import { type Cidr, cidrEnd, cidrToString } from './cidr.js';

export interface PoolRef {
  readonly name: string;
  readonly cidr: Cidr;
  /** When the pool was created (its `metadata.creationTimestamp`); decides which of a pair is older. */
  readonly createdAt?: Date | undefined;
  /** The pool is already in service (its status says so); it keeps precedence over one that is not. */
  readonly incumbent?: boolean | undefined;
}

/** `equal`: same CIDR. `a-contains-b`: `a` is the larger pool and `b` lies inside it. */
export type OverlapRelation = 'equal' | 'a-contains-b' | 'b-contains-a';

export interface Overlap<P extends PoolRef = PoolRef> {
  /** The pool that came first (see module comment). */
  readonly a: P;
  /** The pool that came later. */
  readonly b: P;
  readonly relation: OverlapRelation;
}

interface Entry<P> {
  readonly pool: P;
  readonly index: number;
  readonly start: bigint;
  readonly end: bigint;
  readonly prefixLength: number;
}

/** Negative if `x` came before `y`. */
function comparePrecedence<P extends PoolRef>(x: Entry<P>, y: Entry<P>): number {
  const ix = x.pool.incumbent === true;
  const iy = y.pool.incumbent === true;
  if (ix !== iy) return ix ? -1 : 1;
  const tx = x.pool.createdAt?.getTime();
  const ty = y.pool.createdAt?.getTime();
  if (tx !== undefined && ty !== undefined && tx !== ty) return tx - ty;
  if (tx !== undefined && ty === undefined) return -1;
  if (tx === undefined && ty !== undefined) return 1;
  if (x.pool.name !== y.pool.name) return x.pool.name < y.pool.name ? -1 : 1;
  return x.index - y.index;
}

/** Orients a pair in which `outer` contains (or equals) `inner`. */
function orient<P extends PoolRef>(outer: Entry<P>, inner: Entry<P>): Overlap<P> {
  const equal = outer.prefixLength === inner.prefixLength;
  if (comparePrecedence(outer, inner) <= 0) {
    return { a: outer.pool, b: inner.pool, relation: equal ? 'equal' : 'a-contains-b' };
  }
  return { a: inner.pool, b: outer.pool, relation: equal ? 'equal' : 'b-contains-a' };
}

function toEntry<P extends PoolRef>(pool: P, index: number): Entry<P> {
  return {
    pool,
    index,
    start: pool.cidr.network,
    end: cidrEnd(pool.cidr),
    prefixLength: pool.cidr.prefixLength,
  };
}

function sweep<P extends PoolRef>(entries: Entry<P>[], out: Overlap<P>[]): void {
  entries.sort(
    (x, y) => compareBigints(x.start, y.start) || x.prefixLength - y.prefixLength || x.index - y.index,
  );
  // Invariant: each entry contains the one above it.
  const stack: Entry<P>[] = [];
  for (const entry of entries) {
    let top = stack.at(-1);
    while (top !== undefined && top.end < entry.start) {
      stack.pop();
      top = stack.at(-1);
    }
    for (const outer of stack) out.push(orient(outer, entry));
    stack.push(entry);
  }
}

/**
 * Every pair of pools whose CIDRs overlap, IPv4 first, then in order of the inner pool's address.
 * IPv4 and IPv6 pools never overlap each other.
 */
export function findOverlaps<P extends PoolRef>(pools: readonly P[]): Overlap<P>[] {
  const v4: Entry<P>[] = [];
  const v6: Entry<P>[] = [];
  pools.forEach((pool, index) => {
    (pool.cidr.family === 4 ? v4 : v6).push(toEntry(pool, index));
  });
  const out: Overlap<P>[] = [];
  sweep(v4, out);
  sweep(v6, out);
  return out;
}

/**
 * The overlaps of one new or updated pool with existing ones, for admission: `a` is always the existing
 * pool and `b` the candidate, whatever their timestamps. An existing pool with the candidate's name is its
 * own previous version and is skipped. O(n).
 */
export function findOverlapsWith<P extends PoolRef>(candidate: P, existing: readonly P[]): Overlap<P>[] {
  const out: Overlap<P>[] = [];
  const inner = toEntry(candidate, 0);
  for (const pool of existing) {
    if (pool.name === candidate.name || pool.cidr.family !== candidate.cidr.family) continue;
    const other = toEntry(pool, 0);
    if (other.start <= inner.start && inner.end <= other.end) {
      out.push({
        a: pool,
        b: candidate,
        relation: other.prefixLength === inner.prefixLength ? 'equal' : 'a-contains-b',
      });
    } else if (inner.start <= other.start && other.end <= inner.end) {
      out.push({ a: pool, b: candidate, relation: 'b-contains-a' });
    }
  }
  return out;
}

/**
 * A user-facing sentence about an overlap, naming `subject` (default `b`, the later or candidate pool)
 * first; the note in parentheses describes the pool named second, the one already there:
 *
 *     IPPool "rack-1" 192.168.1.0/24 overlaps IPPool "default" 192.168.0.0/16 (contains it)
 *     IPPool "default" 192.168.0.0/16 overlaps IPPool "rack-1" 192.168.1.0/24 (inside it)
 *     IPPool "copy" 10.0.0.0/8 overlaps IPPool "orig" 10.0.0.0/8 (same CIDR)
 *
 * The admission webhook uses this text as is.
 */
export function formatOverlap(overlap: Overlap, subject: 'a' | 'b' = 'b'): string {
  const first = subject === 'a' ? overlap.a : overlap.b;
  const second = subject === 'a' ? overlap.b : overlap.a;
  const describe = (pool: PoolRef): string =>
    `IPPool ${JSON.stringify(pool.name)} ${cidrToString(pool.cidr)}`;
  let detail: string;
  switch (overlap.relation) {
    case 'equal':
      detail = 'same CIDR';
      break;
    case 'a-contains-b':
      detail = second === overlap.a ? 'contains it' : 'inside it';
      break;
    case 'b-contains-a':
      detail = second === overlap.b ? 'contains it' : 'inside it';
      break;
  }
  return `${describe(first)} overlaps ${describe(second)} (${detail})`;
}
