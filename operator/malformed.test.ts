import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../kube/index.js';
import type { MalformedObject } from './cluster-state.js';
import type { EventRecorder } from '../runtime/index.js';
import { jsonLogger } from '../runtime/index.js';
import { malformedReporter } from './malformed.js';
import { createMetrics } from './metrics.js';

function setup() {
  const recorded: {
    name: string;
    kind: string | undefined;
    type: string;
    reason: string;
    message: string;
  }[] = [];
  const events: EventRecorder = {
    record(object: KubeObject, type, reason, message) {
      recorded.push({ name: object.metadata.name, kind: object.kind, type, reason, message });
      return Promise.resolve();
    },
  };
  const logged: string[] = [];
  const metrics = createMetrics();
  const report = malformedReporter({
    events,
    log: jsonLogger({ write: (line) => logged.push(line) }),
    metrics,
  });
  const gauge = async (kind: string) =>
    (await metrics.malformedObjects.get()).values.find((value) => value.labels.kind === kind)?.value;
  return { report, recorded, logged, gauge };
}

const block = (name: string, resourceVersion: string): MalformedObject => ({
  kind: 'IPAMBlock',
  object: { metadata: { name, resourceVersion } },
  problems: ['spec.cidr: "garbage" is not a valid CIDR: no "/" before the prefix length'],
});

describe('malformedReporter', () => {
  it('records one Warning Event and one log per version of each object, naming every problem', async () => {
    const { report, recorded, logged } = setup();
    await report([block('a', '1'), block('b', '1')]);
    await report([block('a', '1'), block('b', '1')]);
    expect(recorded).toEqual([
      expect.objectContaining({ name: 'a', kind: 'IPAMBlock', type: 'Warning', reason: 'Malformed' }),
      expect.objectContaining({ name: 'b', kind: 'IPAMBlock', type: 'Warning', reason: 'Malformed' }),
    ]);
    expect(recorded[0]?.message).toContain('spec.cidr: "garbage" is not a valid CIDR');
    expect(logged).toHaveLength(2);
    await report([block('a', '2')]);
    expect(recorded.map((event) => event.name)).toEqual(['a', 'b', 'a']);
  });

  it('counts what is malformed now, by kind, down to zero once fixed', async () => {
    const { report, gauge } = setup();
    const affinity: MalformedObject = { ...block('c', '1'), kind: 'BlockAffinity' };
    await report([block('a', '1'), block('b', '1'), affinity]);
    expect(await gauge('IPAMBlock')).toBe(2);
    expect(await gauge('BlockAffinity')).toBe(1);
    expect(await gauge('IPAMConfig')).toBe(0);
    await report([]);
    expect(await gauge('IPAMBlock')).toBe(0);
  });

  it('says of an IPReservation that only its malformed entries are skipped, by the agents too', async () => {
    const { report, recorded, gauge } = setup();
    await report([
      {
        kind: 'IPReservation',
        object: { metadata: { name: 'r', resourceVersion: '1' } },
        problems: ['spec.reservedCIDRs[1]: "garbage" is not a valid IP address: unexpected "g"'],
      },
    ]);
    expect(recorded).toEqual([
      {
        name: 'r',
        kind: 'IPReservation',
        type: 'Warning',
        reason: 'Malformed',
        message:
          'entries skipped by the operator and the node agents until fixed: spec.reservedCIDRs[1]: "garbage" is not a valid IP address: unexpected "g"',
      },
    ]);
    expect(await gauge('IPReservation')).toBe(1);
  });
});
