import { describe, expect, it } from 'vitest';
import { parseCidr } from '../ipam/index.js';
import { type Annotations, requestsPool } from './workload-annotations.js';

const pool = { name: 'dmz', cidr: parseCidr('10.9.0.0/16') };
const v6pool = { name: 'dmz6', cidr: parseCidr('fd00:9::/48') };

describe('requestsPool: whether a pod asks for a pool explicitly (the operator keeps its block serving)', () => {
  it.each<{ name: string; pod: Annotations; namespace?: Annotations; of?: typeof pool; want: boolean }>([
    { name: 'no annotation', pod: {}, want: false },
    { name: 'no pod annotations at all', pod: undefined, want: false },
    { name: 'the pod names it', pod: { 'ipam.topology-ipam.dev/ipv4pools': '["a", "dmz"]' }, want: true },
    { name: "by Calico's name", pod: { 'cni.projectcalico.org/ipv4pools': '["dmz"]' }, want: true },
    { name: 'by its CIDR', pod: { 'ipam.topology-ipam.dev/ipv4pools': '["10.9.0.0/16"]' }, want: true },
    { name: 'another CIDR', pod: { 'ipam.topology-ipam.dev/ipv4pools': '["10.9.0.0/24"]' }, want: false },
    {
      name: 'the namespace names it, the pod nothing',
      pod: {},
      namespace: { 'ipam.topology-ipam.dev/ipv4pools': '["dmz"]' },
      want: true,
    },
    {
      name: "the pod's choice hides its namespace's",
      pod: { 'ipam.topology-ipam.dev/ipv4pools': '["other"]' },
      namespace: { 'ipam.topology-ipam.dev/ipv4pools': '["dmz"]' },
      want: false,
    },
    {
      name: 'a requested address inside it',
      pod: { 'cni.projectcalico.org/ipAddrs': '["10.9.3.4"]' },
      want: true,
    },
    {
      name: 'a requested address outside it',
      pod: { 'ipam.topology-ipam.dev/ipAddrs': '["10.8.0.1"]' },
      want: false,
    },
    {
      name: 'the other family’s annotation',
      pod: { 'ipam.topology-ipam.dev/ipv4pools': '["dmz6"]' },
      of: v6pool,
      want: false,
    },
    {
      name: 'an IPv6 pool named in ipv6pools',
      pod: { 'ipam.topology-ipam.dev/ipv6pools': '["dmz6"]' },
      of: v6pool,
      want: true,
    },
    {
      name: 'a value that is not JSON names nothing',
      pod: { 'ipam.topology-ipam.dev/ipv4pools': 'dmz' },
      want: false,
    },
  ])('$name', ({ pod, namespace, of, want }) => {
    expect(requestsPool(of ?? pool, pod, namespace)).toBe(want);
  });
});
