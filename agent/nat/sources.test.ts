import { describe, expect, it } from 'vitest';
import type { IPPool } from '../../api/index.js';
import type { InformerEvent, Node } from '../../kube/index.js';
import { nodeChangeMatters, poolChangeMatters } from './sources.js';

const pool = (spec: IPPool['spec'], extra: Partial<IPPool> = {}): IPPool => ({
  metadata: { name: 'p', resourceVersion: '2' },
  spec,
  ...extra,
});
const node = (addresses: { type: string; address: string }[], rv = '2'): Node => ({
  metadata: { name: 'n', resourceVersion: rv, labels: { rack: '0' } },
  status: { addresses },
});
const internal = { type: 'InternalIP', address: '192.168.5.1' };

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

  it.each<[string, InformerEvent, Node, Node | undefined, boolean]>([
    ['a node added', 'added', node([internal]), undefined, true],
    ['a node deleted', 'deleted', node([internal]), node([internal]), true],
    [
      'an address added',
      'modified',
      node([internal, { type: 'ExternalIP', address: '203.0.113.1' }]),
      node([internal]),
      true,
    ],
    ['a heartbeat (a new resourceVersion only)', 'modified', node([internal], '3'), node([internal]), false],
    [
      'a Hostname address, which is never in the table',
      'modified',
      node([internal, { type: 'Hostname', address: 'n' }]),
      node([internal]),
      false,
    ],
  ])('node: %s -> %s', (_name, event, now, before, matters) => {
    expect(nodeChangeMatters(event, now, before)).toBe(matters);
  });
});
