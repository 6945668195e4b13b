import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { crdDir } from './crds.js';
import { clusterTestContext } from './context.js';

const cluster = clusterTestContext(import.meta.url);
const fixture = (name: string) =>
  fs
    .readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', name), 'utf8')
    .replaceAll('PREFIX', cluster.prefix);

function pool(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'ipam.topology-ipam.dev/v1alpha1',
    kind: 'IPPool',
    metadata: { name: `${cluster.prefix}-${name}` },
    spec,
  });
}

afterAll(() => {
  const names = ['rack-0', 'immutable', 'invalid'].map((name) => `${cluster.prefix}-${name}`);
  cluster.tryKubectl(['delete', 'ippool', ...names, '--ignore-not-found']);
});

describe('the CRDs on a real API server', () => {
  it('applies every CRD with kubectl, then a valid IPPool, and lists it with -o wide', () => {
    const applied = cluster.kubectl(['apply', '-f', crdDir]);
    expect(applied).toMatch(
      /ippools\.ipam\.topology-ipam\.dev (created|configured|unchanged|serverside-applied)/,
    );
    cluster.kubectl(['apply', '-f', '-'], fixture('ippool-valid.yaml'));
    const wide = cluster.kubectl(['get', 'ippools', `${cluster.prefix}-rack-0`, '-o', 'wide']);
    const [header, row] = wide.trim().split('\n');
    expect(header?.split(/\s+/)).toEqual([
      'NAME',
      'CIDR',
      'BLOCKSIZE',
      'NAT',
      'IPIPMODE',
      'VXLANMODE',
      'DISABLED',
      'SELECTOR',
      'USED',
      'ALLOCATABLE',
      'AGE',
    ]);
    expect(row).toContain(`${cluster.prefix}-rack-0`);
    expect(row).toContain('192.168.0.0/24');
    expect(row).toContain('rack == "0"');
    // Defaults come from the schema: encapsulation off, not disabled.
    expect(row).toMatch(/true\s+Never\s+Never\s+false/);
  });

  it.each([
    ['an unparseable CIDR', { cidr: '192.168.0.0/33' }, /spec\.cidr.*cidr must be a CIDR/],
    ['host bits set', { cidr: '10.0.0.1/24' }, /spec\.cidr.*host bits set/],
    ['an IPv4 block size out of range', { cidr: '10.0.0.0/16', blockSize: 19 }, /spec\.blockSize.*20-32/],
    ['an IPv6 block size out of range', { cidr: 'fd00::/64', blockSize: 64 }, /spec\.blockSize.*116-128/],
    [
      'ipip and vxlan together',
      { cidr: '10.1.0.0/16', ipipMode: 'Always', vxlanMode: 'Always' },
      /spec\.ipipMode/,
    ],
    ['ipip on IPv6', { cidr: 'fd01::/64', ipipMode: 'Always' }, /spec\.ipipMode.*IPv4/],
    [
      'an unknown encapsulation mode',
      { cidr: '10.2.0.0/16', vxlanMode: 'Sometimes' },
      /spec\.vxlanMode.*Unsupported value/,
    ],
    [
      'a duplicate allowed use',
      { cidr: '10.3.0.0/16', allowedUses: ['Workload', 'Workload'] },
      /spec\.allowedUses\[1\].*Duplicate/,
    ],
  ])('the API server itself refuses %s, naming the field', (_, spec, message) => {
    const result = cluster.tryKubectl(['apply', '-f', '-'], pool('invalid', spec));
    expect(result.ok).toBe(false);
    expect(result.stderr).toMatch(message);
  });

  it('refuses a change to cidr or blockSize after creation', () => {
    cluster.kubectl(['apply', '-f', '-'], pool('immutable', { cidr: '10.9.0.0/16', blockSize: 26 }));
    const cidrChange = cluster.tryKubectl(
      ['apply', '-f', '-'],
      pool('immutable', { cidr: '10.8.0.0/16', blockSize: 26 }),
    );
    expect(cidrChange.stderr).toMatch(/spec\.cidr.*cidr is immutable/);
    const sizeChange = cluster.tryKubectl(
      ['apply', '-f', '-'],
      pool('immutable', { cidr: '10.9.0.0/16', blockSize: 24 }),
    );
    expect(sizeChange.stderr).toMatch(/spec\.blockSize.*blockSize is immutable/);
  });
});
