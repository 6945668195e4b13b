/**
 * `kubectl ipam release`: which recorded addresses may go, decided purely from a fresh read of their block
 * and pod. The adapter reads, asks `judgeRelease`, and writes the block back at the version it read.
 */
import { z } from 'zod';
import { type IPAMBlock, type LeakTiming, leakReason, withinLeakGrace } from '../api/index.js';
import { safeParseCidr } from '../ipam/index.js';
import type { Pod } from '../kube/index.js';
import { type ClusterIdentity, sameCluster } from './snapshot.js';

/** One address to release, as a check report (or a look-up of one address) recorded it. */
export interface ReleaseTarget {
  readonly address: string;
  readonly block: string;
  readonly ordinal: number;
  readonly handle: string;
  readonly namespace?: string;
  readonly pod?: string;
}

/** The parts of a `check -o json` report that `release --from-report` reads; other fields are ignored. */
export const reportFileSchema = z.object({
  kind: z.literal('IpamCheckReport'),
  version: z.literal(1),
  cluster: z.object({ server: z.string(), uid: z.string().optional() }),
  generatedAt: z.iso.datetime(),
  leaks: z.array(
    z.object({
      address: z.string(),
      block: z.string(),
      ordinal: z.int().min(0),
      handle: z.string().min(1),
      namespace: z.string(),
      pod: z.string(),
    }),
  ),
});
export type ReportFile = z.infer<typeof reportFileSchema>;

/** Why a report must not be acted on without `--force`, or undefined. */
export function reportRefusal(
  report: ReportFile,
  live: ClusterIdentity,
  now: Date,
  maxAgeMs: number,
): string | undefined {
  if (!sameCluster(report.cluster, live)) {
    const from = report.cluster.uid ?? report.cluster.server;
    return `the report was made on another cluster (${from}), not this one (${live.uid ?? live.server})`;
  }
  const ageMs = now.getTime() - Date.parse(report.generatedAt);
  if (ageMs > maxAgeMs) {
    return `the report is ${Math.round(ageMs / 60_000)} minutes old, more than ${Math.round(maxAgeMs / 60_000)}: run check again`;
  }
  if (ageMs < 0) return 'the report is dated in the future';
  return undefined;
}

export type Verdict =
  /** The pod is gone (or replaced, moved, re-addressed): the address goes. */
  | 'release'
  /** Not recorded any more under that handle (released meanwhile, or reassigned): nothing to do. */
  | 'already-free'
  /** Its pod still holds it: kept. */
  | 'held'
  /** No pod recorded (another user's handle): kept, as its holder cannot be checked. */
  | 'unowned';

export interface ReleaseRules extends LeakTiming {
  /** release --ip --force: let an address go even though its holder still looks alive. */
  readonly releaseHeld: boolean;
}

/**
 * What to do with `target` given its block and pod as read just now (undefined: not found). An
 * allocation within the leak grace is held, as the operator holds it: its pod may still report the
 * address of the sandbox it replaced.
 */
export function judgeRelease(
  target: ReleaseTarget,
  block: IPAMBlock | undefined,
  pod: Pod | undefined,
  rules: ReleaseRules,
): Verdict {
  const cidr = block === undefined ? undefined : safeParseCidr(block.spec.cidr);
  const allocation = block?.spec.allocations.find(
    (entry) => entry.ordinal === target.ordinal && entry.handle === target.handle,
  );
  if (allocation === undefined || !cidr?.ok) return 'already-free';
  if (rules.releaseHeld) return 'release';
  if (allocation.namespace === undefined || allocation.pod === undefined) return 'unowned';
  if (withinLeakGrace(allocation, rules)) return 'held';
  return leakReason(allocation, pod, cidr.value) === undefined ? 'held' : 'release';
}
