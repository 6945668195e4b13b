import type { Verdict } from '../runtime/index.js';

/** Where a controller's work stands, as plain times (ms since the epoch). */
export interface ControllerProgress {
  readonly name: string;
  /** When the longest-running reconcile in progress started; undefined when none runs. */
  readonly oldestReconcileSince: number | undefined;
  /** Since when the key at the head of the queue has been ready and waiting for a worker; undefined when none waits. */
  readonly oldestWaitingSince: number | undefined;
}

/** What the probes judge a replica by. */
export interface HealthObservations {
  /** When the replica started: until the API server first answers, it counts as unreachable since then. */
  readonly startedAt: number;
  /** When the API server last answered anything but a server error (see KubeClient.lastAnsweredAt). */
  readonly lastApiAnswerAt: number | undefined;
  readonly cachesSynced: boolean;
  /** The leader's controllers; a follower runs none. */
  readonly controllers: readonly ControllerProgress[];
}

export interface HealthBounds {
  /** Not ready (no webhook traffic) once the API server has not answered for this long. */
  readonly notReadyAfterApiSilenceMs: number;
  /** Not alive (restart me) once the API server has not answered for this long. */
  readonly unhealthyAfterApiSilenceMs: number;
  /** A controller is stuck when a reconcile has run, or a ready key has waited for a worker, this long. */
  readonly controllerStuckMs: number;
}

const seconds = (ms: number): string => `${String(Math.round(ms / 100) / 10)} s`;

function apiSilence(observed: HealthObservations, now: number, boundMs: number): string[] {
  const silentMs = now - (observed.lastApiAnswerAt ?? observed.startedAt);
  if (silentMs <= boundMs) return [];
  const how =
    observed.lastApiAnswerAt === undefined
      ? `since this replica started ${seconds(silentMs)} ago`
      : `for ${seconds(silentMs)}`;
  return [`the API server has not answered ${how} (bound ${seconds(boundMs)})`];
}

/** /healthz: fails when the API server has been out of reach too long or a controller is stuck. */
export function liveness(observed: HealthObservations, now: number, bounds: HealthBounds): Verdict {
  const reasons = apiSilence(observed, now, bounds.unhealthyAfterApiSilenceMs);
  for (const controller of observed.controllers) {
    const { name, oldestReconcileSince, oldestWaitingSince } = controller;
    if (oldestReconcileSince !== undefined && now - oldestReconcileSince > bounds.controllerStuckMs) {
      reasons.push(
        `controller ${name}: a reconcile has run for ${seconds(now - oldestReconcileSince)} (bound ${seconds(bounds.controllerStuckMs)})`,
      );
    }
    if (oldestWaitingSince !== undefined && now - oldestWaitingSince > bounds.controllerStuckMs) {
      reasons.push(
        `controller ${name}: a queued key has waited ${seconds(now - oldestWaitingSince)} for a worker (bound ${seconds(bounds.controllerStuckMs)})`,
      );
    }
  }
  return { ok: reasons.length === 0, reasons };
}

/** /readyz: fails until the caches have synced, and while the API server is out of reach. */
export function readiness(observed: HealthObservations, now: number, bounds: HealthBounds): Verdict {
  const reasons = [
    ...(observed.cachesSynced ? [] : ['caches not synced']),
    ...apiSilence(observed, now, bounds.notReadyAfterApiSilenceMs),
  ];
  return { ok: reasons.length === 0, reasons };
}
