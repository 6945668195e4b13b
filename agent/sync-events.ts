/**
 * Events on the node's Node for a loop that keeps the kernel in step (routes, natOutgoing), so that
 * `kubectl describe node` shows a sync that fails and what to do about it, not only the agent's log and
 * metric. Rate-limited as Kubernetes' event recorders aggregate: a Warning when a streak of failed runs
 * starts, again at most every `repeatMs` while it lasts (the recorder bumps the count of an identical
 * one), and a Normal Event when a run goes through again.
 */
import type { KubeObject } from '../kube/index.js';
import type { EventRecorder } from '../runtime/index.js';
import type { RunFailure } from './level-triggered.js';

/** What to record after a run. */
export type StreakEvent = 'failed' | 'recovered' | undefined;

/** The rate limit: which runs' outcomes are worth an Event. */
export class FailureStreak {
  /** When the current streak's last Warning was recorded; undefined outside a streak. */
  private warnedAt: number | undefined;

  constructor(private readonly repeatMs: number) {}

  next(failed: boolean, now: number): StreakEvent {
    if (!failed) {
      const ended = this.warnedAt !== undefined;
      this.warnedAt = undefined;
      return ended ? 'recovered' : undefined;
    }
    if (this.warnedAt !== undefined && now - this.warnedAt < this.repeatMs) return undefined;
    this.warnedAt = now;
    return 'failed';
  }
}

export interface SyncEventOptions {
  readonly recorder: EventRecorder;
  readonly node: string;
  /** The loop's subject in a message: `routes not synced: …`. */
  readonly what: string;
  readonly reasons: { readonly failed: string; readonly recovered: string };
  readonly repeatMs?: number;
  readonly now?: () => number;
}

/** After each run of a loop: records the Events its streak of failures is worth. */
export function syncEvents({
  recorder,
  node,
  what,
  reasons,
  repeatMs = 10 * 60_000,
  now = Date.now,
}: SyncEventOptions): (failure: RunFailure) => void {
  // As the kubelet refers to its Node (UID = name), so that no read of the Node is needed and
  // `kubectl describe node` finds it.
  const object: KubeObject = { apiVersion: 'v1', kind: 'Node', metadata: { name: node, uid: node } };
  const streak = new FailureStreak(repeatMs);
  return (failure) => {
    const event = streak.next(failure !== undefined, now());
    // The recorder logs its own failures and never rejects.
    if (event === 'failed' && failure !== undefined)
      void recorder.record(object, 'Warning', reasons.failed, failureMessage(what, failure));
    else if (event === 'recovered')
      void recorder.record(object, 'Normal', reasons.recovered, `${what} synced again`);
  };
}

/** An Event's message is at most 1 KiB; the advice goes first so that a long error is what is cut. */
export const maxMessageLength = 1024;

function failureMessage(what: string, { error, advice }: NonNullable<RunFailure>): string {
  const message = `${what} not synced; ${advice}. The error: ${error}`;
  return message.length <= maxMessageLength ? message : `${message.slice(0, maxMessageLength - 1)}…`;
}
