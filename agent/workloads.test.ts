import { describe, expect, it } from 'vitest';
import type { Annotations } from '../cni/pool-annotations.js';
import { type WorkloadReader, readWorkloadAnnotations } from './workloads.js';

/** A reader over fixed objects that records what it was asked. */
function fakeReader(pod: Annotations, namespace: Annotations) {
  const reads: string[] = [];
  const reader: WorkloadReader = {
    podAnnotations: (ns, name) => {
      reads.push(`pod ${ns}/${name}`);
      return Promise.resolve(pod);
    },
    namespaceAnnotations: (name) => {
      reads.push(`namespace ${name}`);
      return Promise.resolve(namespace);
    },
  };
  return { reader, reads };
}

const v4 = { 'ipam.topology-ipam.dev/ipv4pools': '["a"]' };
const both = { ...v4, 'cni.projectcalico.org/ipv6pools': '["b"]' };

describe('readWorkloadAnnotations reads the pod, and its namespace only when needed', () => {
  it.each([
    { name: 'the pod chooses every family', pod: both, families: [4, 6], reads: ['pod ns/web'] },
    { name: 'the pod chooses its only family', pod: v4, families: [4], reads: ['pod ns/web'] },
    {
      name: 'the pod leaves IPv6 unchosen',
      pod: v4,
      families: [4, 6],
      reads: ['pod ns/web', 'namespace ns'],
    },
    { name: 'the pod has no annotation', pod: {}, families: [4], reads: ['pod ns/web', 'namespace ns'] },
    { name: 'the pod is gone', pod: undefined, families: [4], reads: ['pod ns/web', 'namespace ns'] },
  ] as const)('$name', async ({ pod, families, reads }) => {
    const fake = fakeReader(pod, {});
    const read = await readWorkloadAnnotations(fake.reader, { namespace: 'ns', name: 'web' }, families);
    expect(fake.reads).toEqual(reads);
    expect(read?.pod).toBe('ns/web');
    expect(read?.podAnnotations).toEqual(pod);
  });

  it.each([{ namespace: 'ns' }, { name: 'web' }, {}])(
    'reads nothing when the runtime names no pod (%o)',
    async (pod) => {
      const fake = fakeReader(both, both);
      expect(await readWorkloadAnnotations(fake.reader, pod, [4, 6])).toBeUndefined();
      expect(fake.reads).toEqual([]);
    },
  );
});
