import { apiVersion } from '../api/index.js';
import type { MalformedObject } from './cluster-state.js';
import type { EventRecorder } from '../runtime/index.js';
import type { Logger } from '../common/index.js';
import type { OperatorMetrics } from './metrics.js';

export const malformedReason = 'Malformed';

/**
 * Reports the objects the controllers skip because they do not parse: the gauge of how many there are
 * by kind, and once per version of each object a warning log and a Warning Event on it naming every
 * field that is wrong. The controllers go on with everything else.
 */
export function malformedReporter(options: {
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly metrics: OperatorMetrics;
}): (found: readonly MalformedObject[]) => Promise<void> {
  const { events, log, metrics } = options;
  let reported = new Set<string>();
  const kinds: readonly MalformedObject['kind'][] = [
    'IPAMBlock',
    'BlockAffinity',
    'IPAMConfig',
    'IPReservation',
  ];
  return async (found) => {
    for (const kind of kinds)
      metrics.malformedObjects.set({ kind }, found.filter((m) => m.kind === kind).length);
    const current = new Set<string>();
    for (const { kind, object, problems } of found) {
      const key = `${kind}/${object.metadata.name}@${object.metadata.resourceVersion ?? ''}`;
      current.add(key);
      if (reported.has(key)) continue;
      reported.add(key);
      log.warn('skipping an object that does not parse; fix or delete it', {
        kind,
        name: object.metadata.name,
        problems,
      });
      await events.record(
        { ...object, apiVersion, kind },
        'Warning',
        malformedReason,
        kind === 'IPReservation'
          ? `entries skipped by the operator and the node agents until fixed: ${problems.join('; ')}`
          : `skipped by the operator until fixed: ${problems.join('; ')}`,
      );
    }
    // Forget versions that were fixed or deleted, so the set stays as small as the problem.
    reported = new Set([...reported].filter((key) => current.has(key)));
  };
}
