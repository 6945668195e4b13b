import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { ipPoolSpecSchema, type IPPoolSpecInput, normalizePoolSpec } from './pool-spec.js';

describe('normalizePoolSpec', () => {
  it('fills every Calico default, with the block size for the family', () => {
    expect(normalizePoolSpec({ cidr: '10.0.0.0/16' })).toEqual({
      cidr: '10.0.0.0/16',
      blockSize: 26,
      nodeSelector: 'all()',
      namespaceSelector: 'all()',
      disabled: false,
      natOutgoing: false,
      ipipMode: 'Never',
      vxlanMode: 'Never',
      allowedUses: ['Workload', 'Tunnel'],
      assignmentMode: 'Automatic',
      disableBGPExport: false,
    });
    expect(normalizePoolSpec({ cidr: 'fd00::/64' }).blockSize).toBe(122);
  });

  it.each<[string, IPPoolSpecInput, Partial<ReturnType<typeof normalizePoolSpec>>]>([
    ['blockSize 0 means the default, as in Calico', { cidr: '10.0.0.0/16', blockSize: 0 }, { blockSize: 26 }],
    ['an explicit blockSize is kept', { cidr: 'fd00::/64', blockSize: 120 }, { blockSize: 120 }],
    [
      'an empty nodeSelector means all()',
      { cidr: '10.0.0.0/16', nodeSelector: '  ' },
      { nodeSelector: 'all()' },
    ],
    [
      'an empty namespaceSelector means all()',
      { cidr: '10.0.0.0/16', namespaceSelector: '' },
      { namespaceSelector: 'all()' },
    ],
    [
      'empty allowedUses means the default',
      { cidr: '10.0.0.0/16', allowedUses: [] },
      { allowedUses: ['Workload', 'Tunnel'] },
    ],
    [
      'set fields are kept',
      { cidr: '10.0.0.0/16', ipipMode: 'CrossSubnet', natOutgoing: true, allowedUses: ['Tunnel'] },
      { ipipMode: 'CrossSubnet', natOutgoing: true, allowedUses: ['Tunnel'] },
    ],
  ])('%s', (_, input, expected) => {
    expect(normalizePoolSpec(input)).toMatchObject(expected);
  });

  it('does not share the default allowedUses array between results', () => {
    const first = normalizePoolSpec({ cidr: '10.0.0.0/16' });
    first.allowedUses.push('LoadBalancer');
    expect(normalizePoolSpec({ cidr: '10.0.0.0/16' }).allowedUses).toEqual(['Workload', 'Tunnel']);
  });

  it('drops unknown fields', () => {
    const input = { cidr: '10.0.0.0/16', ipip: { enabled: true } } as IPPoolSpecInput;
    expect(normalizePoolSpec(input)).not.toHaveProperty('ipip');
  });
});

describe('ipPoolSpecSchema as JSON Schema (for the CRD)', () => {
  const schema = z.toJSONSchema(ipPoolSpecSchema, { io: 'input' }) as {
    type: string;
    required?: string[];
    properties: Record<string, { description?: string; default?: unknown; type?: string; enum?: string[] }>;
  };

  it('converts, with cidr the only required field', () => {
    expect(schema.type).toBe('object');
    expect(schema.required).toEqual(['cidr']);
    expect(Object.keys(schema.properties).sort()).toEqual(
      [
        'allowedUses',
        'assignmentMode',
        'blockSize',
        'cidr',
        'disableBGPExport',
        'disabled',
        'ipipMode',
        'namespaceSelector',
        'natOutgoing',
        'nodeSelector',
        'vxlanMode',
      ].sort(),
    );
  });

  it('describes every field', () => {
    for (const [name, property] of Object.entries(schema.properties)) {
      expect(property.description, name).toMatch(/\S{3}/);
    }
  });

  it('carries Calico defaults and enums', () => {
    expect(schema.properties).toMatchObject({
      blockSize: { type: 'integer', minimum: 0, maximum: 128 },
      nodeSelector: { default: 'all()' },
      namespaceSelector: { default: 'all()' },
      disabled: { default: false },
      natOutgoing: { default: false },
      ipipMode: { default: 'Never', enum: ['Never', 'Always', 'CrossSubnet'] },
      vxlanMode: { default: 'Never', enum: ['Never', 'Always', 'CrossSubnet'] },
      allowedUses: {
        default: ['Workload', 'Tunnel'],
        items: { enum: ['Workload', 'Tunnel', 'LoadBalancer'] },
      },
      assignmentMode: { default: 'Automatic', enum: ['Automatic', 'Manual'] },
      disableBGPExport: { default: false },
    });
    expect(schema.properties.blockSize).not.toHaveProperty('default');
  });
});
