import { describe, expect, it } from 'vitest';
import type { IPPool } from '../../api/index.js';
import type { InformerEvent } from '../../kube/index.js';
import { poolChangeMatters } from './sources.js';

const pool = (spec: IPPool['spec'], extra: Partial<IPPool> = {}): IPPool => ({
  metadata: { name: 'p', resourceVersion: '2' },
  spec,
  ...extra,
});
describe('what makes the natOutgoing table sync', () => {
  it.each<[string, InformerEvent, IPPool, IPPool | undefined, boolean]>([
    ['a pool added', 'added', pool({ cidr: '10.0.0.0/16' }), undefined, true],
    ['a pool deleted', 'deleted', pool({ cidr: '10.0.0.0/16' }), pool({ cidr: '10.0.0.0/16' }), true],
    [
      'natOutgoing turned on',
      'modified',
      pool({ cidr: '10.0.0.0/16', natOutgoing: true }),
      pool({ cidr: '10.0.0.0/16' }),
      true,
    ],
    [
      'natOutgoing written out as its default',
      'modified',
      pool({ cidr: '10.0.0.0/16', natOutgoing: false }),
      pool({ cidr: '10.0.0.0/16' }),
      false,
    ],
    [
      'another field, or the status',
      'modified',
      pool({ cidr: '10.0.0.0/16', disabled: true }, { status: { conditions: [] } }),
      pool({ cidr: '10.0.0.0/16' }),
      false,
    ],
  ])('pool: %s -> %s', (_name, event, now, before, matters) => {
    expect(poolChangeMatters(event, now, before)).toBe(matters);
  });
});
