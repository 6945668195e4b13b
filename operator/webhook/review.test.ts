import { describe, expect, it } from 'vitest';
import type { IPPool } from '../../api/index.js';
import { type AdmissionRequest, type AdmissionResponse, reviewPool } from './review.js';
import { ipPoolKind, ipPoolResource } from './testing.js';

function pool(
  name: string,
  spec: Record<string, unknown>,
  metadata: Partial<IPPool['metadata']> = {},
): IPPool {
  return {
    apiVersion: 'ipam.topology-ipam.dev/v1alpha1',
    kind: 'IPPool',
    metadata: { name, ...metadata },
    spec: spec as IPPool['spec'],
  };
}

function request(
  operation: AdmissionRequest['operation'],
  object: IPPool | undefined,
  oldObject?: IPPool,
): AdmissionRequest {
  return {
    uid: 'uid-1',
    kind: ipPoolKind,
    resource: ipPoolResource,
    name: object?.metadata.name ?? oldObject?.metadata.name ?? '',
    operation,
    ...(object === undefined ? {} : { object }),
    ...(oldObject === undefined ? {} : { oldObject }),
  };
}

const existing: readonly IPPool[] = [
  pool('default', { cidr: '192.168.0.0/16' }, { creationTimestamp: '2024-01-01T00:00:00Z' }),
  pool('v6', { cidr: 'fd00:10:244::/64' }),
  // Being deleted: its blocks are still in use until the finalizer goes, so it still counts.
  pool('leaving', { cidr: '10.20.0.0/16' }, { deletionTimestamp: '2024-02-01T00:00:00Z' }),
  // Written before the webhook was installed, with a CIDR that does not parse: never compared.
  pool('broken', { cidr: 'nonsense' }),
];

const message = (response: AdmissionResponse): string => response.status?.message ?? '';

describe('reviewPool', () => {
  it.each([
    ['a pool that overlaps nothing', pool('rack-9', { cidr: '10.0.0.0/24' })],
    ['an IPv6 pool beside an IPv4 one of the same bits', pool('v6-b', { cidr: 'fd00:20::/64' })],
    ['a pool with a good selector', pool('rack-0', { cidr: '10.1.0.0/24', nodeSelector: 'rack == "0"' })],
    [
      'a pool named like an existing one (its own previous version)',
      pool('default', { cidr: '192.168.0.0/16' }),
    ],
  ])('allows CREATE of %s', (_, object) => {
    expect(reviewPool(request('CREATE', object), existing)).toEqual({ uid: 'uid-1', allowed: true });
  });

  it.each([
    [
      'a pool inside an existing one',
      pool('rack-1', { cidr: '192.168.1.0/24' }),
      ['IPPool "rack-1" 192.168.1.0/24 overlaps IPPool "default" 192.168.0.0/16 (contains it)'],
    ],
    [
      'a pool containing an existing one',
      pool('big', { cidr: '192.0.0.0/8' }),
      ['IPPool "big" 192.0.0.0/8 overlaps IPPool "default" 192.168.0.0/16 (inside it)'],
    ],
    [
      'a pool with the CIDR of an existing one',
      pool('copy', { cidr: 'fd00:10:244::/64' }),
      ['IPPool "copy" fd00:10:244::/64 overlaps IPPool "v6" fd00:10:244::/64 (same CIDR)'],
    ],
    [
      'a pool overlapping one being deleted',
      pool('again', { cidr: '10.20.0.0/24' }),
      ['IPPool "again" 10.20.0.0/24 overlaps IPPool "leaving" 10.20.0.0/16 (contains it)'],
    ],
    [
      'a selector that does not parse',
      pool('rack-x', { cidr: '10.2.0.0/24', nodeSelector: 'rack == ' }),
      ['spec.nodeSelector: cannot parse selector "rack == ": expected string at position 8'],
    ],
    [
      'a namespaceSelector that does not parse',
      pool('tenant-x', { cidr: '10.2.1.0/24', namespaceSelector: 'tenant in {"a"' }),
      ['spec.namespaceSelector: cannot parse selector "tenant in {\\"a\\"": expected , or } at position 14'],
    ],
    [
      'several broken rules and an overlap at once',
      pool('many', {
        cidr: '192.168.4.0/24',
        nodeSelector: 'rack in {',
        allowedUses: ['Workload', 'Workload'],
      }),
      [
        'spec.nodeSelector: cannot parse selector "rack in {": expected string or } at position 9',
        'spec.allowedUses[1]: Workload is listed more than once',
        'IPPool "many" 192.168.4.0/24 overlaps IPPool "default" 192.168.0.0/16 (contains it)',
      ],
    ],
    [
      'a spec of the wrong shape',
      pool('shape', { cidr: 42 }),
      ['spec.cidr: Invalid input: expected string, received number'],
    ],
  ])('refuses CREATE of %s with 422 and every reason', (_, object, reasons) => {
    const response = reviewPool(request('CREATE', object), existing);
    expect(response.allowed).toBe(false);
    expect(response.uid).toBe('uid-1');
    expect(response.status).toMatchObject({ status: 'Failure', code: 422, reason: 'Invalid' });
    expect(message(response).split('\n')).toEqual(reasons);
    expect(response.status?.details?.causes.map((cause) => `${cause.field}: ${cause.message}`)).toHaveLength(
      reasons.length,
    );
  });

  it('reports one overlap per overlapping pool', () => {
    const pools = [
      pool('a', { cidr: '10.0.0.0/16' }),
      pool('b', { cidr: '10.0.1.0/24' }),
      pool('c', { cidr: '10.0.2.0/24' }),
    ];
    const response = reviewPool(request('CREATE', pool('wide', { cidr: '10.0.0.0/8' })), pools);
    expect(message(response).split('\n')).toEqual([
      'IPPool "wide" 10.0.0.0/8 overlaps IPPool "a" 10.0.0.0/16 (inside it)',
      'IPPool "wide" 10.0.0.0/8 overlaps IPPool "b" 10.0.1.0/24 (inside it)',
      'IPPool "wide" 10.0.0.0/8 overlaps IPPool "c" 10.0.2.0/24 (inside it)',
    ]);
    expect(response.status?.details?.causes).toContainEqual({
      reason: 'FieldValueInvalid',
      field: 'spec.cidr',
      message: 'IPPool "wide" 10.0.0.0/8 overlaps IPPool "a" 10.0.0.0/16 (inside it)',
    });
  });

  const stored = pool('rack-0', { cidr: '10.1.0.0/24', blockSize: 26, nodeSelector: 'rack == "0"' });

  it.each([
    [
      'a new CIDR',
      pool('rack-0', { cidr: '10.3.0.0/24', blockSize: 26, nodeSelector: 'rack == "0"' }),
      ['spec.cidr: cidr cannot be changed (was 10.1.0.0/24); create a new pool instead'],
    ],
    [
      'a new block size',
      pool('rack-0', { cidr: '10.1.0.0/24', blockSize: 28, nodeSelector: 'rack == "0"' }),
      ['spec.blockSize: blockSize cannot be changed (was 26); create a new pool instead'],
    ],
    [
      'a new CIDR that also overlaps',
      pool('rack-0', { cidr: '192.168.7.0/24', blockSize: 26, nodeSelector: 'rack == "0"' }),
      [
        'spec.cidr: cidr cannot be changed (was 10.1.0.0/24); create a new pool instead',
        'IPPool "rack-0" 192.168.7.0/24 overlaps IPPool "default" 192.168.0.0/16 (contains it)',
      ],
    ],
    [
      'a selector that does not parse',
      pool('rack-0', { cidr: '10.1.0.0/24', blockSize: 26, nodeSelector: 'rack ==' }),
      ['spec.nodeSelector: cannot parse selector "rack ==": expected string at position 7'],
    ],
  ])('refuses UPDATE to %s', (_, object, reasons) => {
    const response = reviewPool(request('UPDATE', object, stored), existing);
    expect(response.allowed).toBe(false);
    expect(response.status?.code).toBe(422);
    expect(message(response).split('\n')).toEqual(reasons);
  });

  it('marks changes to immutable fields as forbidden causes', () => {
    const object = pool('rack-0', { cidr: '10.3.0.0/24', blockSize: 26, nodeSelector: 'rack == "0"' });
    const response = reviewPool(request('UPDATE', object, stored), existing);
    expect(response.status?.details?.causes[0]).toMatchObject({
      reason: 'FieldValueForbidden',
      field: 'spec.cidr',
    });
  });

  it.each([
    ['a new selector', pool('rack-0', { cidr: '10.1.0.0/24', blockSize: 26, nodeSelector: 'rack == "1"' })],
    [
      'blockSize unset, which is 26 for IPv4',
      pool('rack-0', { cidr: '10.1.0.0/24', nodeSelector: 'rack == "0"' }),
    ],
    ['a new label only', pool('rack-0', stored.spec, { labels: { team: 'net' } })],
  ])('allows UPDATE to %s', (_, object) => {
    expect(reviewPool(request('UPDATE', object, stored), existing)).toEqual({ uid: 'uid-1', allowed: true });
  });

  it('allows an UPDATE that leaves the spec alone even if the stored spec is invalid (finalizer removal)', () => {
    const invalid = pool('old', { cidr: '192.168.5.0/24', nodeSelector: 'rack ==' }, { finalizers: ['x'] });
    const cleaned = pool('old', invalid.spec, { deletionTimestamp: '2024-03-01T00:00:00Z' });
    expect(reviewPool(request('UPDATE', cleaned, invalid), existing)).toEqual({
      uid: 'uid-1',
      allowed: true,
    });
  });

  it('allows a spec change to a pool that already overlaps, with a warning, so it can be disabled or fixed', () => {
    const old = pool('rack-1', { cidr: '192.168.1.0/24' });
    const disabled = pool('rack-1', { cidr: '192.168.1.0/24', disabled: true });
    expect(reviewPool(request('UPDATE', disabled, old), existing)).toEqual({
      uid: 'uid-1',
      allowed: true,
      warnings: [
        'IPPool "rack-1" 192.168.1.0/24 overlaps IPPool "default" 192.168.0.0/16 (contains it); ' +
          'of two overlapping pools only the older one is allocated from',
      ],
    });
  });

  describe('a pool split out of another (kubectl ipam split)', () => {
    const splitFrom = (from: string) => ({ annotations: { 'ipam.topology-ipam.dev/split-from': from } });
    const disabledDefault = pool('default', { cidr: '192.168.0.0/16', disabled: true });
    const others = existing.filter((other) => other.metadata.name !== 'default');

    it('is allowed inside the disabled pool it names', () => {
      const half = pool('default-0', { cidr: '192.168.0.0/17' }, splitFrom('default'));
      expect(reviewPool(request('CREATE', half), [disabledDefault, ...others])).toEqual({
        uid: 'uid-1',
        allowed: true,
      });
    });

    it.each([
      ['the pool it names is enabled', existing, splitFrom('default')],
      ['it names another pool', [disabledDefault, ...others], splitFrom('v6')],
      ['it names none', [disabledDefault, ...others], {}],
    ])('is refused when %s', (_, pools, metadata) => {
      const half = pool('default-0', { cidr: '192.168.0.0/17' }, metadata);
      expect(message(reviewPool(request('CREATE', half), pools))).toBe(
        'IPPool "default-0" 192.168.0.0/17 overlaps IPPool "default" 192.168.0.0/16 (contains it)',
      );
    });

    it('is refused where it overlaps any other pool', () => {
      const half = pool('leaving-0', { cidr: '10.20.0.0/17' }, splitFrom('default'));
      expect(message(reviewPool(request('CREATE', half), [disabledDefault, ...others]))).toBe(
        'IPPool "leaving-0" 10.20.0.0/17 overlaps IPPool "leaving" 10.20.0.0/16 (contains it)',
      );
    });
  });
  it.each(['CREATE', 'UPDATE'] as const)(
    'admits on %s a pool asking for encapsulation, with a warning that it has no effect',
    (operation) => {
      const asking = pool('tunnelled', { cidr: '10.30.0.0/16', vxlanMode: 'CrossSubnet' });
      const old = operation === 'UPDATE' ? pool('tunnelled', { cidr: '10.30.0.0/16' }) : undefined;
      const response = reviewPool(request(operation, asking, old), existing);
      expect(response.allowed).toBe(true);
      expect(response.warnings).toEqual([
        expect.stringMatching(/^spec\.vxlanMode: CrossSubnet has no effect/),
      ]);
    },
  );

  it('allows DELETE, even of a pool that overlaps', () => {
    const doomed = pool('rack-1', { cidr: '192.168.1.0/24' });
    expect(reviewPool(request('DELETE', undefined, doomed), existing)).toEqual({
      uid: 'uid-1',
      allowed: true,
    });
  });

  it('allows writes to the status subresource', () => {
    const object = pool('rack-1', { cidr: '192.168.1.0/24' });
    const response = reviewPool({ ...request('UPDATE', object, object), subResource: 'status' }, existing);
    expect(response.allowed).toBe(true);
  });

  it.each([
    [
      'another kind',
      {
        ...request('CREATE', pool('x', { cidr: '10.0.0.0/8' })),
        kind: { group: '', version: 'v1', kind: 'Node' },
      },
    ],
    ['no object', { ...request('CREATE', undefined), name: 'x' }],
    ['an object without a name', { ...request('CREATE', pool('', { cidr: '10.0.0.0/8' })), name: '' }],
    ['an UPDATE without oldObject', request('UPDATE', pool('x', { cidr: '10.0.0.0/8' }))],
  ])('answers a request with %s with 400', (_, admission) => {
    const response = reviewPool(admission, existing);
    expect(response.allowed).toBe(false);
    expect(response.status).toMatchObject({ code: 400, reason: 'BadRequest' });
    expect(message(response)).not.toBe('');
  });
});
