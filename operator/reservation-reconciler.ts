/**
 * Converges one IPReservation's status: the EntriesValid condition, False while an entry is neither an
 * address nor a CIDR (the Warning Event `Malformed` says the same, once per version, from the malformed
 * reporter). Written only when it changed in substance.
 */
import { reservationStatus } from '../api/index.js';
import { isNotFound } from '../kube/index.js';
import type { ClusterState } from './cluster-state.js';
import { type ReconcileResult, done } from './controller.js';
import { semanticallyEqual } from './equality.js';

export function reservationReconciler(options: {
  readonly state: ClusterState;
  readonly now?: () => Date;
}): (name: string) => Promise<ReconcileResult> {
  const { state, now = () => new Date() } = options;
  return async (name) => {
    const reservation = state.reservations.get(name);
    if (reservation === undefined) return done;
    const status = reservationStatus(reservation, now());
    if (semanticallyEqual(status, reservation.status ?? {})) return done;
    try {
      await state.resources.reservations.replaceStatus({ ...reservation, status });
    } catch (error) {
      // A conflict (the reservation changed meanwhile) is retried by the queue with the fresh object.
      if (!isNotFound(error)) throw error;
    }
    return done;
  };
}
