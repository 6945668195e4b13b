import { describe, expect, it } from 'vitest';
import { cidrToString, parseCidr } from '../ipam/index.js';
import {
  type SplitParty,
  overlapFromSplit,
  blockSizeConflicts,
  poolValidationCodes,
  type PoolValidationCode,
  formatPoolValidationError,
  parsePoolSpec,
  poolSpecWarnings,
  validatePoolSpec,
} from './pool-validation.js';

interface Case {
  readonly name: string;
  readonly spec: unknown;
  readonly oldSpec?: unknown;
  /** `code@field` of every expected error, in any order. */
  readonly expected: readonly `${PoolValidationCode}@${string}`[];
}

const v4 = { cidr: '10.244.0.0/16' };
const v6 = { cidr: 'fd00:10:244::/64' };
const lb = { cidr: '10.96.100.0/24', allowedUses: ['LoadBalancer'] };

const cases: Case[] = [
  // Valid specs.
  { name: 'minimal IPv4', spec: v4, expected: [] },
  { name: 'minimal IPv6', spec: v6, expected: [] },
  {
    name: 'every field set',
    spec: {
      cidr: '10.244.0.0/16',
      blockSize: 24,
      nodeSelector: 'topology.kubernetes.io/zone == "rack-1"',
      disabled: false,
      natOutgoing: true,
      ipipMode: 'CrossSubnet',
      vxlanMode: 'Never',
      allowedUses: ['Tunnel', 'Workload'],
      assignmentMode: 'Manual',
      disableBGPExport: true,
    },
    expected: [],
  },
  { name: 'IPv6 with VXLAN', spec: { ...v6, vxlanMode: 'Always' }, expected: [] },
  { name: 'blockSize 0 means the default', spec: { ...v4, blockSize: 0 }, expected: [] },
  {
    name: 'a disabled pool may be smaller than a block',
    spec: { cidr: '10.0.0.0/28', disabled: true },
    expected: [],
  },
  { name: 'a LoadBalancer pool', spec: lb, expected: [] },
  {
    name: 'a LoadBalancer pool with all() spelled oddly',
    spec: { ...lb, nodeSelector: ' all( ) ' },
    expected: [],
  },
  { name: 'an empty nodeSelector', spec: { ...v4, nodeSelector: '' }, expected: [] },

  // Shape.
  { name: 'not an object', spec: null, expected: ['schema-invalid@spec'] },
  { name: 'cidr missing', spec: {}, expected: ['schema-invalid@spec.cidr'] },
  { name: 'cidr not a string', spec: { cidr: 10 }, expected: ['schema-invalid@spec.cidr'] },
  {
    name: 'blockSize a string',
    spec: { ...v4, blockSize: '26' },
    expected: ['schema-invalid@spec.blockSize'],
  },
  {
    name: 'unknown ipipMode',
    spec: { ...v4, ipipMode: 'Sometimes' },
    expected: ['schema-invalid@spec.ipipMode'],
  },
  {
    name: 'allowedUses not an array',
    spec: { ...v4, allowedUses: 'Workload' },
    expected: ['schema-invalid@spec.allowedUses'],
  },

  // CIDR.
  { name: 'CIDR does not parse', spec: { cidr: '10.0.0/16' }, expected: ['cidr-unparseable@spec.cidr'] },
  { name: 'CIDR has no prefix', spec: { cidr: '10.0.0.0' }, expected: ['cidr-unparseable@spec.cidr'] },
  {
    name: 'CIDR has host bits set',
    spec: { cidr: '10.0.0.1/24' },
    expected: ['cidr-host-bits-set@spec.cidr'],
  },
  {
    name: 'host bits set, and later rules still run on the network meant',
    spec: { cidr: '10.0.0.1/30' },
    expected: ['cidr-host-bits-set@spec.cidr', 'pool-smaller-than-block@spec.cidr'],
  },

  // Block size.
  {
    name: 'IPv4 block size 19',
    spec: { ...v4, blockSize: 19 },
    expected: ['block-size-out-of-range@spec.blockSize'],
  },
  {
    name: 'IPv4 block size 33',
    spec: { ...v4, blockSize: 33 },
    expected: ['block-size-out-of-range@spec.blockSize'],
  },
  { name: 'IPv4 block size 20', spec: { ...v4, blockSize: 20 }, expected: [] },
  { name: 'IPv4 block size 32', spec: { ...v4, blockSize: 32 }, expected: [] },
  {
    name: 'IPv6 block size 115',
    spec: { ...v6, blockSize: 115 },
    expected: ['block-size-out-of-range@spec.blockSize'],
  },
  { name: 'IPv6 block size 116', spec: { ...v6, blockSize: 116 }, expected: [] },
  { name: 'IPv6 block size 128', spec: { ...v6, blockSize: 128 }, expected: [] },
  {
    name: 'an IPv4 block size on an IPv6 pool',
    spec: { ...v6, blockSize: 26 },
    expected: ['block-size-out-of-range@spec.blockSize'],
  },
  {
    name: 'a fractional block size',
    spec: { ...v4, blockSize: 26.5 },
    expected: ['block-size-out-of-range@spec.blockSize'],
  },

  // Pool size.
  {
    name: 'a /27 with /26 blocks',
    spec: { cidr: '10.0.0.0/27' },
    expected: ['pool-smaller-than-block@spec.cidr'],
  },
  { name: 'a /27 with /28 blocks', spec: { cidr: '10.0.0.0/27', blockSize: 28 }, expected: [] },
  { name: 'a /26 with /26 blocks', spec: { cidr: '10.0.0.0/26' }, expected: [] },
  {
    name: 'an IPv6 /123 with /122 blocks',
    spec: { cidr: 'fd00::/123' },
    expected: ['pool-smaller-than-block@spec.cidr'],
  },

  // Reserved ranges (link-local, loopback, multicast, ...), in either direction.
  {
    name: 'exactly 169.254.0.0/16',
    spec: { cidr: '169.254.0.0/16' },
    expected: ['cidr-overlaps-reserved@spec.cidr'],
  },
  {
    name: 'inside 169.254.0.0/16',
    spec: { cidr: '169.254.1.0/24' },
    expected: ['cidr-overlaps-reserved@spec.cidr'],
  },
  {
    name: 'around 169.254.0.0/16',
    spec: { cidr: '169.0.0.0/8' },
    expected: ['cidr-overlaps-reserved@spec.cidr'],
  },
  {
    name: 'all of IPv4: every IPv4 reserved range',
    spec: { cidr: '0.0.0.0/0' },
    expected: Array<'cidr-overlaps-reserved@spec.cidr'>(5).fill('cidr-overlaps-reserved@spec.cidr'),
  },
  { name: 'next to 169.254.0.0/16', spec: { cidr: '169.255.0.0/16' }, expected: [] },
  { name: 'inside fe80::/10', spec: { cidr: 'fe80::/64' }, expected: ['cidr-overlaps-reserved@spec.cidr'] },
  { name: 'around fe80::/10', spec: { cidr: 'fe80::/9' }, expected: ['cidr-overlaps-reserved@spec.cidr'] },
  {
    name: 'all of IPv6: every IPv6 reserved range',
    spec: { cidr: '::/0' },
    expected: Array<'cidr-overlaps-reserved@spec.cidr'>(5).fill('cidr-overlaps-reserved@spec.cidr'),
  },
  { name: 'next to fe80::/10', spec: { cidr: 'fec0::/64' }, expected: [] },
  {
    name: '::/1 holds unspecified, loopback and IPv4-mapped',
    spec: { cidr: '::/1' },
    expected: Array<'cidr-overlaps-reserved@spec.cidr'>(3).fill('cidr-overlaps-reserved@spec.cidr'),
  },
  ...(
    [
      ['this network', '0.0.0.0/16'],
      ['loopback', '127.0.0.0/24'],
      ['multicast', '224.0.0.0/24'],
      ['multicast, inside', '239.255.0.0/16'],
      ['reserved class E', '240.0.0.0/24'],
      ['the limited broadcast address', '255.255.255.0/24'],
      ['a pool holding loopback', '96.0.0.0/3'],
      ['IPv6 loopback alone', '::1/128'],
      ['IPv4-mapped IPv6', '::ffff:10.0.0.0/120'],
      ['IPv6 multicast', 'ff02::/120'],
    ] as const
  ).map(([name, cidr]) => ({
    name: `${name}: ${cidr}`,
    spec: { cidr, blockSize: cidr.includes(':') ? 128 : 32 },
    expected: ['cidr-overlaps-reserved@spec.cidr'] as const,
  })),
  ...(
    [
      ['private', '10.0.0.0/8'],
      ['shared address space', '100.64.0.0/10'],
      ['documentation', '192.0.2.0/24'],
      ['benchmarking', '198.18.0.0/15'],
      ['just below loopback', '126.0.0.0/8'],
      ['just below multicast', '223.255.255.0/24'],
      ['unique local IPv6', 'fd00::/8'],
      ['IPv6 documentation', '2001:db8::/32'],
      ['global unicast IPv6', '2000::/3'],
      ['NAT64', '64:ff9b::/96'],
    ] as const
  ).map(([name, cidr]) => ({ name: `${name} stays allowed: ${cidr}`, spec: { cidr }, expected: [] })),

  // Node selector.
  {
    name: 'a selector that does not parse',
    spec: { ...v4, nodeSelector: 'rack ==' },
    expected: ['node-selector-invalid@spec.nodeSelector'],
  },
  {
    name: 'global()',
    spec: { ...v4, nodeSelector: 'global()' },
    expected: ['node-selector-uses-global@spec.nodeSelector'],
  },
  {
    name: 'global() inside an expression',
    spec: { ...v4, nodeSelector: 'rack == "a" && global()' },
    expected: ['node-selector-uses-global@spec.nodeSelector'],
  },
  { name: 'a namespaceSelector', spec: { ...v4, namespaceSelector: 'tenant in {"a", "b"}' }, expected: [] },
  {
    name: 'a namespaceSelector that does not parse',
    spec: { ...v4, namespaceSelector: 'tenant ==' },
    expected: ['namespace-selector-invalid@spec.namespaceSelector'],
  },
  {
    name: 'global() in a namespaceSelector',
    spec: { ...v4, namespaceSelector: 'global()' },
    expected: ['namespace-selector-uses-global@spec.namespaceSelector'],
  },
  {
    name: 'both selectors broken: each reported at its field',
    spec: { ...v4, nodeSelector: 'rack ==', namespaceSelector: 'has(' },
    expected: [
      'node-selector-invalid@spec.nodeSelector',
      'namespace-selector-invalid@spec.namespaceSelector',
    ],
  },

  // Encapsulation.
  {
    name: 'IP-in-IP and VXLAN together',
    spec: { ...v4, ipipMode: 'Always', vxlanMode: 'CrossSubnet' },
    expected: ['encapsulation-conflict@spec.vxlanMode'],
  },
  { name: 'IP-in-IP on IPv6', spec: { ...v6, ipipMode: 'Always' }, expected: ['ipip-on-ipv6@spec.ipipMode'] },
  {
    name: 'IP-in-IP and VXLAN on IPv6',
    spec: { ...v6, ipipMode: 'CrossSubnet', vxlanMode: 'Always' },
    expected: ['encapsulation-conflict@spec.vxlanMode', 'ipip-on-ipv6@spec.ipipMode'],
  },

  // Allowed uses.
  {
    name: 'an unknown use',
    spec: { ...v4, allowedUses: ['Workload', 'Pods'] },
    expected: ['allowed-use-unknown@spec.allowedUses[1]'],
  },
  {
    name: 'a duplicate use',
    spec: { ...v4, allowedUses: ['Workload', 'Tunnel', 'Workload'] },
    expected: ['allowed-use-duplicate@spec.allowedUses[2]'],
  },
  {
    name: 'LoadBalancer with another use',
    spec: { ...lb, allowedUses: ['LoadBalancer', 'Workload'] },
    expected: ['load-balancer-not-alone@spec.allowedUses'],
  },
  {
    name: 'LoadBalancer twice is a duplicate, not a combination',
    spec: { ...lb, allowedUses: ['LoadBalancer', 'LoadBalancer'] },
    expected: ['allowed-use-duplicate@spec.allowedUses[1]'],
  },
  {
    name: 'LoadBalancer with VXLAN',
    spec: { ...lb, vxlanMode: 'Always' },
    expected: ['load-balancer-encapsulation@spec.vxlanMode'],
  },
  {
    name: 'LoadBalancer with IP-in-IP',
    spec: { ...lb, ipipMode: 'CrossSubnet' },
    expected: ['load-balancer-encapsulation@spec.ipipMode'],
  },
  {
    name: 'LoadBalancer with a node selector',
    spec: { ...lb, nodeSelector: 'rack == "a"' },
    expected: ['load-balancer-node-selector@spec.nodeSelector'],
  },

  // Updates.
  { name: 'an unchanged update', spec: v4, oldSpec: v4, expected: [] },
  {
    name: 'an update that only changes other fields',
    spec: { ...v4, disabled: true, natOutgoing: true },
    oldSpec: v4,
    expected: [],
  },
  {
    name: 'cidr changed',
    spec: { cidr: '10.245.0.0/16' },
    oldSpec: v4,
    expected: ['cidr-immutable@spec.cidr'],
  },
  { name: 'cidr respelled, not changed', spec: { cidr: 'FD00:10:244:0::/64' }, oldSpec: v6, expected: [] },
  {
    name: 'cidr rewritten into its canonical text (Calico accepts it)',
    spec: v6,
    oldSpec: { cidr: 'FD00:10:244:0::/64' },
    expected: [],
  },
  {
    name: 'LoadBalancer taken out of the uses',
    spec: { ...lb, allowedUses: ['Workload'] },
    oldSpec: lb,
    expected: ['load-balancer-use-immutable@spec.allowedUses'],
  },
  { name: 'LoadBalancer kept in the uses', spec: { ...lb, disabled: true }, oldSpec: lb, expected: [] },
  {
    name: 'LoadBalancer added to the uses',
    spec: lb,
    oldSpec: { ...lb, allowedUses: ['Workload'] },
    expected: [],
  },
  {
    name: 'LoadBalancer with BGP export off',
    spec: { ...lb, disableBGPExport: true },
    expected: ['load-balancer-disable-bgp-export@spec.disableBGPExport'],
  },
  { name: 'blockSize from unset to the default', spec: { ...v4, blockSize: 26 }, oldSpec: v4, expected: [] },
  { name: 'blockSize from 0 to unset', spec: v6, oldSpec: { ...v6, blockSize: 0 }, expected: [] },
  {
    name: 'blockSize changed',
    spec: { ...v4, blockSize: 24 },
    oldSpec: { ...v4, blockSize: 26 },
    expected: ['block-size-immutable@spec.blockSize'],
  },
  {
    name: 'blockSize changed by unsetting it',
    spec: v4,
    oldSpec: { ...v4, blockSize: 24 },
    expected: ['block-size-immutable@spec.blockSize'],
  },
  {
    name: 'both changed',
    spec: { cidr: '10.0.0.0/8', blockSize: 24 },
    oldSpec: v4,
    expected: ['cidr-immutable@spec.cidr', 'block-size-immutable@spec.blockSize'],
  },
  {
    name: 'family changed: only the cidr is reported',
    spec: v6,
    oldSpec: v4,
    expected: ['cidr-immutable@spec.cidr'],
  },
  {
    name: 'an old spec that no longer parses is not compared',
    spec: v4,
    oldSpec: { cidr: 'x' },
    expected: [],
  },
];

/** Blocks that exist when a pool is created, against its block size. */
const conflictCases: (Case & { readonly blocks: readonly string[] })[] = [
  { name: 'no block in the range', spec: v4, blocks: ['10.245.0.0/24'], expected: [] },
  { name: 'blocks of the same size', spec: v4, blocks: ['10.244.0.0/26', '10.244.9.64/26'], expected: [] },
  {
    name: 'a block of another size inside',
    spec: v4,
    blocks: ['10.244.1.0/28', 'garbage'],
    expected: ['block-size-conflict@spec.blockSize'],
  },
  {
    name: 'a block containing the pool',
    spec: { cidr: '10.244.0.0/28', blockSize: 30 },
    blocks: ['10.244.0.0/26'],
    expected: ['block-size-conflict@spec.blockSize'],
  },
  { name: 'another family', spec: v6, blocks: ['10.244.0.0/28'], expected: [] },
  {
    name: 'at most three named',
    spec: v4,
    blocks: ['10.244.1.0/28', '10.244.2.0/28', '10.244.3.0/28', '10.244.4.0/28'],
    expected: Array<'block-size-conflict@spec.blockSize'>(3).fill('block-size-conflict@spec.blockSize'),
  },
  { name: 'an invalid spec is not compared', spec: { cidr: 'x' }, blocks: ['10.244.1.0/28'], expected: [] },
];

describe('blockSizeConflicts', () => {
  it.each(conflictCases)('$name', ({ spec, blocks, expected }) => {
    const errors = blockSizeConflicts(
      spec,
      blocks.map((cidr) => ({ cidr })),
    );
    expect(errors.map((e) => `${e.code}@${e.field}`)).toEqual(expected);
  });
});

describe('validatePoolSpec', () => {
  it.each(cases)('$name', ({ spec, oldSpec, expected }) => {
    const errors = validatePoolSpec(spec, oldSpec === undefined ? {} : { oldSpec });
    expect(errors.map((e) => `${e.code}@${e.field}`).sort()).toEqual([...expected].sort());
    for (const error of errors) expect(error.message).not.toBe('');
  });

  it('has a table row for every code', () => {
    const covered = new Set(
      [...cases, ...conflictCases].flatMap((c) => c.expected.map((e) => e.slice(0, e.indexOf('@')))),
    );
    expect([...poolValidationCodes].filter((code) => !covered.has(code))).toEqual([]);
  });

  it('reports every broken rule at once', () => {
    const errors = validatePoolSpec({
      cidr: 'fd00::1/120',
      blockSize: 26,
      nodeSelector: 'global()',
      ipipMode: 'Always',
      vxlanMode: 'Always',
      allowedUses: ['LoadBalancer', 'Bogus'],
    });
    expect(errors.map((e) => e.code).sort()).toEqual(
      [
        'cidr-host-bits-set',
        'block-size-out-of-range',
        'node-selector-uses-global',
        'encapsulation-conflict',
        'ipip-on-ipv6',
        'allowed-use-unknown',
        'load-balancer-encapsulation',
        'load-balancer-encapsulation',
        'load-balancer-node-selector',
      ].sort(),
    );
  });
});

describe('validation messages and data', () => {
  const only = (spec: unknown, oldSpec?: unknown) => {
    const errors = validatePoolSpec(spec, oldSpec === undefined ? {} : { oldSpec });
    expect(errors).toHaveLength(1);
    const [error] = errors;
    if (error === undefined) throw new Error('no error');
    return error;
  };

  it('host bits: suggests the network', () => {
    const error = only({ cidr: '10.0.0.1/24' });
    expect(error).toMatchObject({ code: 'cidr-host-bits-set', suggestedCidr: '10.0.0.0/24' });
    expect(formatPoolValidationError(error)).toBe(
      'spec.cidr: "10.0.0.1/24" has host bits set; did you mean 10.0.0.0/24?',
    );
  });

  it('unparseable CIDR: says what is wrong and where', () => {
    expect(only({ cidr: '10.0.0.300/24' })).toMatchObject({
      code: 'cidr-unparseable',
      offset: 7,
      length: 3,
      message: '"10.0.0.300/24" is not a valid CIDR: IPv4 octet "300" is greater than 255',
    });
  });

  it('block size: gives the range for the family', () => {
    expect(only({ ...v6, blockSize: 64 })).toMatchObject({
      min: 116,
      max: 128,
      message: '64 is not a valid block size for an IPv6 pool; use an integer from 116 to 128',
    });
  });

  it('pool smaller than a block: names the fixes', () => {
    expect(only({ cidr: '10.0.0.0/28' }).message).toBe(
      '10.0.0.0/28 is smaller than one /26 block; use a prefix length of at most 26, a larger blockSize, or disable the pool',
    );
  });

  it('bad selector: gives the position and what was expected', () => {
    const error = only({ ...v4, nodeSelector: 'rack ==' });
    expect(error).toMatchObject({ code: 'node-selector-invalid', position: 7, expected: 'string' });
    expect(error.message).toBe('cannot parse selector "rack ==": expected string at position 7');
  });

  it('bad namespaceSelector: gives the position and what was expected, as for nodeSelector', () => {
    const error = only({ ...v4, namespaceSelector: 'tenant ==' });
    expect(error).toMatchObject({
      code: 'namespace-selector-invalid',
      field: 'spec.namespaceSelector',
      position: 9,
      offset: 9,
      length: 0,
      expected: 'string',
    });
    expect(error.message).toBe('cannot parse selector "tenant ==": expected string at position 9');
  });

  it('bad selector: locates the problem as a span, as a CIDR that does not parse does', () => {
    expect(only({ ...v4, nodeSelector: 'rack ==' })).toMatchObject({ offset: 7, length: 0 });
  });

  it('reserved ranges: say which range and which way round', () => {
    expect(only({ cidr: '169.254.1.0/24' }).message).toBe(
      '169.254.1.0/24 lies within the link-local range 169.254.0.0/16, which cannot be used for a pool',
    );
    expect(only({ cidr: '169.0.0.0/8' }).message).toBe(
      '169.0.0.0/8 contains the link-local range 169.254.0.0/16, which cannot be used for a pool',
    );
    expect(only({ cidr: '::1/128', blockSize: 128 })).toMatchObject({
      reserved: '::1/128',
      message: '::1/128 is the loopback range ::1/128, which cannot be used for a pool',
    });
    expect(validatePoolSpec({ cidr: '::/1' }).map((e) => e.message)).toEqual([
      '::/1 contains the unspecified range ::/128, which cannot be used for a pool',
      '::/1 contains the loopback range ::1/128, which cannot be used for a pool',
      '::/1 contains the IPv4-mapped range ::ffff:0.0.0.0/96, which cannot be used for a pool',
    ]);
  });

  it('immutable cidr: gives the old value', () => {
    expect(only({ cidr: '10.245.0.0/16' }, v4)).toMatchObject({
      code: 'cidr-immutable',
      oldCidr: '10.244.0.0/16',
    });
  });

  it('unknown use: lists the allowed ones', () => {
    expect(only({ ...v4, allowedUses: ['Pods'] })).toMatchObject({
      value: 'Pods',
      message: 'unknown use "Pods"; allowed uses are Workload, Tunnel, LoadBalancer',
    });
  });
});

describe('parsePoolSpec', () => {
  it('returns the normalized spec and its CIDR', () => {
    const result = parsePoolSpec({ cidr: 'FD00::/64', vxlanMode: 'Always' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.spec).toMatchObject({ cidr: 'FD00::/64', blockSize: 122, vxlanMode: 'Always' });
    expect(cidrToString(result.value.cidr)).toBe('fd00::/64');
  });

  it('returns every error otherwise', () => {
    const result = parsePoolSpec({ cidr: '10.0.0.1/24', allowedUses: ['Pods'] });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.map((e) => e.code)).toEqual(['cidr-host-bits-set', 'allowed-use-unknown']);
  });

  it('checks immutability against the old spec', () => {
    const result = parsePoolSpec({ ...v4, blockSize: 24 }, { oldSpec: v4 });
    expect(result.ok).toBe(false);
  });
});

describe('overlapFromSplit', () => {
  const party = (name: string, cidr: string, disabled: boolean, splitFrom?: string): SplitParty => ({
    name,
    cidr: parseCidr(cidr),
    disabled,
    splitFrom,
  });
  const outer = party('old', '10.0.0.0/16', true);
  const inner = party('old-0', '10.0.0.0/17', false, 'old');
  it.each([
    {
      name: 'inside the disabled pool it names',
      a: outer,
      b: inner,
      relation: 'a-contains-b',
      expected: true,
    },
    { name: 'either way round', a: inner, b: outer, relation: 'b-contains-a', expected: true },
    {
      name: 'the pool it names is enabled',
      a: { ...outer, disabled: false },
      b: inner,
      relation: 'a-contains-b',
      expected: false,
    },
    {
      name: 'it names another pool',
      a: outer,
      b: { ...inner, splitFrom: 'other' },
      relation: 'a-contains-b',
      expected: false,
    },
    {
      name: 'it names none',
      a: outer,
      b: { ...inner, splitFrom: undefined },
      relation: 'a-contains-b',
      expected: false,
    },
    {
      name: 'the disabled pool is the inner one',
      a: party('big', '10.0.0.0/8', false, 'small'),
      b: party('small', '10.0.0.0/16', true),
      relation: 'a-contains-b',
      expected: false,
    },
    {
      name: 'the same CIDR',
      a: outer,
      b: party('copy', '10.0.0.0/16', false, 'old'),
      relation: 'equal',
      expected: false,
    },
  ] as const)('$name: $expected', ({ a, b, relation, expected }) => {
    expect(overlapFromSplit({ a, b, relation })).toBe(expected);
  });
});

describe('poolSpecWarnings: what this project accepts from Calico but does not do', () => {
  it.each([
    ['nothing asked', v4, []],
    [
      'Never everywhere, BGP export on',
      { ...v4, ipipMode: 'Never', vxlanMode: 'Never', disableBGPExport: false },
      [],
    ],
    ['IP-in-IP Always', { ...v4, ipipMode: 'Always' }, ['spec.ipipMode: Always has no effect']],
    [
      'IP-in-IP CrossSubnet',
      { ...v4, ipipMode: 'CrossSubnet' },
      ['spec.ipipMode: CrossSubnet has no effect'],
    ],
    ['VXLAN Always', { ...v6, vxlanMode: 'Always' }, ['spec.vxlanMode: Always has no effect']],
    ['VXLAN CrossSubnet', { ...v4, vxlanMode: 'CrossSubnet' }, ['spec.vxlanMode: CrossSubnet has no effect']],
    [
      'BGP export off',
      { ...v4, disableBGPExport: true },
      ['spec.disableBGPExport: true has no effect: topology-ipam runs no BGP'],
    ],
    [
      'all at once',
      { ...v4, ipipMode: 'Always', vxlanMode: 'Always', disableBGPExport: true },
      ['spec.ipipMode: Always', 'spec.vxlanMode: Always', 'spec.disableBGPExport: true'],
    ],
    ['a spec of the wrong shape', { cidr: 7 }, []],
  ])('%s', (_, spec, starts) => {
    const warnings = poolSpecWarnings(spec);
    expect(warnings).toHaveLength(starts.length);
    starts.forEach((start, i) => {
      expect(warnings[i]).toContain(start);
    });
  });
});
