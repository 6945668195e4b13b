import { describe, expect, it } from 'vitest';
import type { InformerEvent, Node } from '../kube/index.js';
import { nodeChangeMatters } from './all-nodes.js';

const node = (addresses: { type: string; address: string }[], rv = '2'): Node => ({
  metadata: { name: 'n', resourceVersion: rv, labels: { rack: '0' } },
  status: { addresses },
});
const internal = { type: 'InternalIP', address: '192.168.5.1' };

describe('what Node changes make the routes and the natOutgoing table sync', () => {
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
      'a Hostname address, which neither the routes nor natOutgoing read',
      'modified',
      node([internal, { type: 'Hostname', address: 'n' }]),
      node([internal]),
      false,
    ],
  ])('node: %s -> %s', (_name, event, now, before, matters) => {
    expect(nodeChangeMatters(event, now, before)).toBe(matters);
  });
});
