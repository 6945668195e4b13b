import { describe, expect, it } from 'vitest';
import type { Namespace, Pod } from '../kube/index.js';
import { type WorkloadSource, readWorkload } from './workloads.js';

/** A source over fixed objects that records what it was asked. */
function fakeSource(pod: Pod | undefined, namespace: Namespace | undefined) {
  const asked: string[] = [];
  const source: WorkloadSource = {
    pod: (ns, name, uid) => {
      asked.push(`pod ${ns}/${name} ${uid ?? '-'}`);
      return Promise.resolve(pod);
    },
    namespace: (name) => {
      asked.push(`namespace ${name}`);
      return Promise.resolve(namespace);
    },
  };
  return { source, asked };
}

const v4 = { 'ipam.topology-ipam.dev/ipv4pools': '["a"]' };
const pod: Pod = { metadata: { name: 'web', namespace: 'ns', annotations: v4 } };
const namespace: Namespace = { metadata: { name: 'ns', labels: { tenant: 'a' }, annotations: {} } };

describe('readWorkload: the pod of an ADD and its namespace, as the annotations are read from them', () => {
  it.each([
    {
      name: 'both found',
      pod,
      namespace,
      want: { podAnnotations: v4, namespaceAnnotations: {}, namespaceLabels: { tenant: 'a' } },
    },
    {
      name: 'the pod gone: no annotations of its own',
      pod: undefined,
      namespace,
      want: { podAnnotations: undefined, namespaceAnnotations: {}, namespaceLabels: { tenant: 'a' } },
    },
    {
      name: 'the namespace gone: no labels, so only pools selecting every namespace serve',
      pod,
      namespace: undefined,
      want: { podAnnotations: v4, namespaceAnnotations: undefined, namespaceLabels: {} },
    },
  ])('$name', async ({ pod: found, namespace: foundNamespace, want }) => {
    const fake = fakeSource(found, foundNamespace);
    const workload = await readWorkload(fake.source, { namespace: 'ns', name: 'web', uid: 'u1' });
    expect(workload).toEqual({ pod: 'ns/web', ...want });
    expect(fake.asked.sort()).toEqual(['namespace ns', 'pod ns/web u1']);
  });

  it.each([{ namespace: 'ns' }, { name: 'web' }, {}])(
    'asks nothing when the runtime names no pod (%o)',
    async (identity) => {
      const fake = fakeSource(pod, namespace);
      expect(await readWorkload(fake.source, identity)).toBeUndefined();
      expect(fake.asked).toEqual([]);
    },
  );
});
