import { describe, expect, it } from 'vitest';
import { parseNetworkIpamSection } from './config.js';
import { CniError, toCniError } from './errors.js';
import type { Annotations } from '../api/index.js';
import { addressToString } from '../ipam/index.js';
import {
  type PoolSelection,
  type Workload,
  parsePoolAnnotation,
  requestedAddresses,
  selectPools,
} from './pool-annotations.js';

const ours4 = 'ipam.topology-ipam.dev/ipv4pools';
const ours6 = 'ipam.topology-ipam.dev/ipv6pools';
const calico4 = 'cni.projectcalico.org/ipv4pools';
const calico6 = 'cni.projectcalico.org/ipv6pools';
const configured = parseNetworkIpamSection({ type: 't', pools: ['from-config'] }).pools;
const source = { kind: 'annotation', annotation: ours4, on: 'pod', pod: 'team-a/web-0' } as const;

/** A selection as text: where it came from, and the pools it names. */
const describeSelection = ({ refs, source: from }: PoolSelection): string => {
  const where = from.kind === 'config' ? 'config' : `${from.on} ${from.annotation}`;
  const named = refs.map((ref) => (ref.kind === 'name' ? ref.name : `${ref.cidr.family}:cidr`));
  return `${where}: ${named.join(',')}`;
};

describe('selectPools: the pod wins, then its namespace, then the configuration, per family', () => {
  it.each<{ name: string; pod: Annotations; namespace: Annotations; family: 4 | 6; want: string }>([
    { name: 'no annotation', pod: {}, namespace: {}, family: 4, want: 'config: from-config' },
    {
      name: 'objects not found',
      pod: undefined,
      namespace: undefined,
      family: 4,
      want: 'config: from-config',
    },
    { name: 'the pod', pod: { [ours4]: '["a"]' }, namespace: {}, family: 4, want: `pod ${ours4}: a` },
    {
      name: 'the namespace',
      pod: {},
      namespace: { [ours4]: '["b"]' },
      family: 4,
      want: `namespace ${ours4}: b`,
    },
    {
      name: "the pod's over the namespace's",
      pod: { [ours4]: '["a"]' },
      namespace: { [ours4]: '["b"]' },
      family: 4,
      want: `pod ${ours4}: a`,
    },
    {
      name: "the pod's Calico annotation over the namespace's own",
      pod: { [calico4]: '["a"]' },
      namespace: { [ours4]: '["b"]' },
      family: 4,
      want: `pod ${calico4}: a`,
    },
    {
      name: "ours over Calico's on one object",
      pod: { [calico4]: '["c"]', [ours4]: '["a"]' },
      namespace: {},
      family: 4,
      want: `pod ${ours4}: a`,
    },
    {
      name: "the pod's IPv4 choice leaves IPv6 to the namespace",
      pod: { [ours4]: '["a"]' },
      namespace: { [calico6]: '["v6"]' },
      family: 6,
      want: `namespace ${calico6}: v6`,
    },
    {
      name: 'the other family only',
      pod: { [ours6]: '["v6"]' },
      namespace: {},
      family: 4,
      want: 'config: from-config',
    },
    {
      name: 'an empty list: every Automatic pool, hiding the namespace',
      pod: { [ours4]: '[]' },
      namespace: { [ours4]: '["b"]' },
      family: 4,
      want: `pod ${ours4}: `,
    },
    {
      name: 'CIDRs',
      pod: { [ours6]: '["fd00::/48"]' },
      namespace: {},
      family: 6,
      want: `pod ${ours6}: 6:cidr`,
    },
  ])('$name', ({ pod, namespace, family, want }) => {
    const selection = selectPools(
      family,
      { pod: 'team-a/web-0', podAnnotations: pod, namespaceAnnotations: namespace, namespaceLabels: {} },
      configured,
    );
    expect(describeSelection(selection)).toBe(want);
  });

  it('keeps the configuration when the runtime names no pod', () => {
    expect(describeSelection(selectPools(4, undefined, configured))).toBe('config: from-config');
  });

  it('names the family on names, so a pool of the other family is not taken', () => {
    expect(parsePoolAnnotation('["a"]', 6, source)).toEqual([{ kind: 'name', name: 'a', family: 6 }]);
  });
});

describe('parsePoolAnnotation refuses with code 7, naming the annotation, where it is and the pod', () => {
  it.each([
    { name: 'not JSON', value: 'pool-a', family: 4, details: /is not JSON: "pool-a"; write a JSON list/ },
    { name: 'not a list', value: '"pool-a"', family: 4, details: /is "\\"pool-a\\"", not a JSON list/ },
    { name: 'an object', value: '{"pool":"a"}', family: 4, details: /not a JSON list/ },
    { name: 'not a string', value: '["a", 7]', family: 4, details: /ipv4pools\[1\] is 7, not a string/ },
    {
      name: 'neither name nor CIDR',
      value: '["Pool_A"]',
      family: 4,
      details: /"Pool_A" is neither an IPPool name nor a CIDR/,
    },
    { name: 'a bad CIDR', value: '["10.0.0.1/16"]', family: 4, details: /did you mean 10\.0\.0\.0\/16\?/ },
    {
      name: 'a CIDR of the other family',
      value: '["fd00::/48"]',
      family: 4,
      details: /IPv6 CIDR in the IPv4 pool list/,
    },
  ] as const)('$name', ({ value, family, details }) => {
    let error: unknown;
    try {
      parsePoolAnnotation(value, family, source);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(CniError);
    const object = toCniError(error);
    expect(object.code).toBe(7);
    expect(object.msg).toBe(`invalid annotation ${ours4} on pod team-a/web-0`);
    expect(object.details).toMatch(details);
  });

  it('says when the annotation was the namespace’s', () => {
    const error = toCniError(
      (() => {
        try {
          return parsePoolAnnotation('x', 4, { ...source, on: 'namespace' });
        } catch (thrown) {
          return thrown;
        }
      })(),
    );
    expect(error.msg).toBe(`invalid annotation ${ours4} on the namespace of pod team-a/web-0`);
  });
});

describe("requestedAddresses: the pod's ipAddrs, one address per family", () => {
  const oursAddrs = 'ipam.topology-ipam.dev/ipAddrs';
  const calicoAddrs = 'cni.projectcalico.org/ipAddrs';
  const workload = (podAnnotations: Annotations, namespaceAnnotations: Annotations = {}): Workload => ({
    pod: 'team-a/db-0',
    podAnnotations,
    namespaceAnnotations,
    namespaceLabels: {},
  });
  const asText = (found: ReturnType<typeof requestedAddresses>) =>
    [...found].map(
      ([family, { address, source }]) => `${family} ${addressToString(address)} ${source.annotation}`,
    );

  it.each([
    { name: 'none', pod: {}, families: [4], want: [] },
    { name: 'ours', pod: { [oursAddrs]: '["10.0.0.5"]' }, families: [4], want: [`4 10.0.0.5 ${oursAddrs}`] },
    {
      name: "Calico's, unchanged",
      pod: { [calicoAddrs]: '["10.0.0.5"]' },
      families: [4],
      want: [`4 10.0.0.5 ${calicoAddrs}`],
    },
    {
      name: "ours over Calico's",
      pod: { [calicoAddrs]: '["10.0.0.6"]', [oursAddrs]: '["10.0.0.5"]' },
      families: [4],
      want: [`4 10.0.0.5 ${oursAddrs}`],
    },
    {
      name: 'dual-stack',
      pod: { [oursAddrs]: '["fd00::5", "10.0.0.5"]' },
      families: [4, 6],
      want: [`6 fd00::5 ${oursAddrs}`, `4 10.0.0.5 ${oursAddrs}`],
    },
    { name: 'an empty list', pod: { [oursAddrs]: '[]' }, families: [4], want: [] },
  ] as const)('$name', ({ pod, families, want }) => {
    expect(asText(requestedAddresses(workload(pod), families))).toEqual(want);
  });

  it("ignores a namespace's ipAddrs, as Calico does (it would give every pod there one address)", () => {
    expect(requestedAddresses(workload({}, { [oursAddrs]: '["10.0.0.5"]' }), [4]).size).toBe(0);
  });

  it('asks nothing of a runtime that names no pod', () => {
    expect(requestedAddresses(undefined, [4]).size).toBe(0);
  });

  it.each([
    {
      name: 'not JSON',
      value: '10.0.0.5',
      details: /is not JSON: "10\.0\.0\.5"; write a JSON list of an IP addresss/,
    },
    { name: 'not a list', value: '"10.0.0.5"', details: /not a JSON list/ },
    { name: 'not a string', value: '[5]', details: /ipAddrs\[0\] is 5, not a string/ },
    {
      name: 'not an address',
      value: '["10.0.0.0/24"]',
      details: /ipAddrs\[0\]: "10\.0\.0\.0\/24" is not an IP address/,
    },
    {
      name: 'two of one family',
      value: '["10.0.0.5", "10.0.0.6"]',
      details: /asks for two IPv4 addresses \(10\.0\.0\.5 and 10\.0\.0\.6\)/,
    },
    {
      name: 'a family the network does not assign',
      value: '["fd00::5"]',
      details: /asks for the IPv6 address fd00::5, but the network assigns IPv4 only/,
    },
  ])('refuses $name with code 7, naming the annotation and the pod', ({ value, details }) => {
    let error: unknown;
    try {
      requestedAddresses(workload({ [oursAddrs]: value }), [4]);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(CniError);
    const object = toCniError(error);
    expect(object.code).toBe(7);
    expect(object.msg).toBe(`invalid annotation ${oursAddrs} on pod team-a/db-0`);
    expect(object.details).toMatch(details);
  });
});
