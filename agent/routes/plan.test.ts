import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressToString, cidrContainsAddress, parseAddress, parseCidr } from '../../ipam/index.js';
import {
  type InstalledRoute,
  type Route,
  type RouteChanges,
  desiredRoutes,
  routeChanges,
  routeKey,
  routeMetric,
  routeProtocol,
} from './plan.js';

const nodes = [
  { name: 'a', internalIps: ['192.168.5.1', 'fd00::1'] },
  { name: 'b', internalIps: ['192.168.5.2', 'FD00:0:0::2'] },
  { name: 'v4only', internalIps: ['192.168.5.3'] },
];
const via = (dst: string, gateway: string): Route => ({ kind: 'via', dst, gateway, metric: routeMetric });
const blackhole = (dst: string): Route => ({ kind: 'blackhole', dst, metric: routeMetric });

describe('desiredRoutes', () => {
  it.each([
    ['no blocks', [], [], []],
    ['its own block: a blackhole', [{ cidr: '10.0.0.0/26', node: 'a' }], [blackhole('10.0.0.0/26')], []],
    [
      "another node's block: via its InternalIP of the block's family",
      [
        { cidr: '10.0.0.64/26', node: 'b' },
        { cidr: 'fd10::40/122', node: 'b' },
      ],
      [via('10.0.0.64/26', '192.168.5.2'), via('fd10::40/122', 'fd00::2')],
      [],
    ],
    [
      'a node without an address of that family: not routed, said why',
      [{ cidr: 'fd10::/122', node: 'v4only' }],
      [],
      [{ dst: 'fd10::/122', reason: 'node v4only has no IPv6 InternalIP' }],
    ],
    [
      'a node that is not known: not routed',
      [{ cidr: '10.0.1.0/26', node: 'gone' }],
      [],
      [{ dst: '10.0.1.0/26', reason: 'node gone has no IPv4 InternalIP' }],
    ],
    [
      'a CIDR that does not parse: not routed',
      [{ cidr: '10.0.1.0/33', node: 'b' }],
      [],
      [{ dst: '10.0.1.0/33', reason: expect.any(String) as unknown }],
    ],
  ])('%s', (_name, blocks, routes, problems) => {
    expect(desiredRoutes('a', blocks, nodes)).toEqual({ routes, problems });
  });

  it.each([
    [
      "another node's pod in this node's block: a host route via the borrower, beside the blackhole",
      [{ address: '10.0.0.5', node: 'b' }],
      [via('10.0.0.5/32', '192.168.5.2')],
      [],
    ],
    [
      "this node's pod in another node's block: no route here (the main plugin routes its pods)",
      [{ address: '10.0.0.70', node: 'a' }],
      [],
      [],
    ],
    [
      "a third node's pod in another node's block: a host route via the borrower",
      [{ address: '10.0.0.70', node: 'v4only' }],
      [via('10.0.0.70/32', '192.168.5.3')],
      [],
    ],
    [
      'IPv6: a /128 via the borrower of the family',
      [{ address: 'fd10:0::45', node: 'b' }],
      [via('fd10::45/128', 'fd00::2')],
      [],
    ],
    [
      'a borrower without an address of the family: not routed, said why',
      [{ address: 'fd10::45', node: 'v4only' }],
      [],
      [{ dst: 'fd10::45/128', reason: 'node v4only has no IPv6 InternalIP' }],
    ],
    [
      'an address that does not parse: not routed',
      [{ address: '10.0.0', node: 'b' }],
      [],
      [{ dst: '10.0.0', reason: expect.any(String) as unknown }],
    ],
  ])('borrowed addresses: %s', (_name, borrowed, routes, problems) => {
    const blocks = [
      { cidr: '10.0.0.0/26', node: 'a' },
      { cidr: '10.0.0.64/26', node: 'b' },
    ];
    const both = [blackhole('10.0.0.0/26'), via('10.0.0.64/26', '192.168.5.2')];
    expect(desiredRoutes('a', blocks, nodes, borrowed)).toEqual({ routes: [...both, ...routes], problems });
  });

  it('takes the first InternalIP of the family (the preferred one) and skips other kinds', () => {
    const many = [{ name: 'b', internalIps: ['not an address', 'fd00::9', '192.168.5.9', '192.168.5.2'] }];
    expect(desiredRoutes('a', [{ cidr: '10.0.0.64/26', node: 'b' }], many).routes).toEqual([
      via('10.0.0.64/26', '192.168.5.9'),
    ]);
  });
});

const ours = (route: Route): InstalledRoute => ({ ...route, protocol: routeProtocol });
const foreign = (dst: string, metric = routeMetric, protocol = 4): InstalledRoute => ({
  kind: 'other',
  dst,
  metric,
  protocol,
});
const none: RouteChanges = { replace: [], remove: [], blocked: [] };

describe('routeChanges', () => {
  it.each<[string, Route[], InstalledRoute[], RouteChanges]>([
    ['nothing to do', [], [foreign('0.0.0.0/0', 0, 3)], none],
    [
      'a missing route is added',
      [blackhole('10.0.0.0/26')],
      [],
      { ...none, replace: [blackhole('10.0.0.0/26')] },
    ],
    [
      'a right route is left alone (a restart flaps nothing)',
      [via('10.0.0.64/26', '192.168.5.2')],
      [ours(via('10.0.0.64/26', '192.168.5.2'))],
      none,
    ],
    [
      'a wrong gateway is replaced',
      [via('10.0.0.64/26', '192.168.5.2')],
      [ours(via('10.0.0.64/26', '192.168.5.9'))],
      { ...none, replace: [via('10.0.0.64/26', '192.168.5.2')] },
    ],
    [
      'a blackhole that should route is replaced',
      [via('10.0.0.64/26', '192.168.5.2')],
      [ours(blackhole('10.0.0.64/26'))],
      { ...none, replace: [via('10.0.0.64/26', '192.168.5.2')] },
    ],
    [
      'ours no longer desired is removed',
      [],
      [ours(via('10.0.0.64/26', '192.168.5.2')), ours({ ...blackhole('10.0.0.0/26'), metric: 7 })],
      { ...none, remove: [via('10.0.0.64/26', '192.168.5.2'), { ...blackhole('10.0.0.0/26'), metric: 7 }] },
    ],
    [
      "someone else's route at the same destination and metric blocks ours, untouched",
      [blackhole('10.0.0.0/26')],
      [foreign('10.0.0.0/26')],
      { ...none, blocked: [blackhole('10.0.0.0/26')] },
    ],
    [
      "someone else's route at the same destination, another metric (a bridge's), does not",
      [blackhole('10.0.0.0/26')],
      [foreign('10.0.0.0/26', 0, 2)],
      { ...none, replace: [blackhole('10.0.0.0/26')] },
    ],
  ])('%s', (_name, desired, installed, changes) => {
    expect(routeChanges(desired, installed)).toEqual(changes);
  });
});

/** The kernel's main table as a map from (destination, metric) to the one route there. */
function applyToTable(
  table: ReadonlyMap<string, InstalledRoute>,
  changes: RouteChanges,
): Map<string, InstalledRoute> {
  const next = new Map(table);
  for (const route of changes.remove) {
    const there = next.get(routeKey(route));
    // The kernel deletes only a route of the protocol (and type) named.
    if (there?.protocol === routeProtocol && there.kind === route.kind) next.delete(routeKey(route));
  }
  for (const route of changes.replace) next.set(routeKey(route), ours(route));
  return next;
}

const arbitraryDst = fc.constantFrom(
  '10.0.0.0/26',
  '10.0.0.64/26',
  'fd10::/122',
  'fd10::40/122',
  '0.0.0.0/0',
);
const arbitraryMetric = fc.constantFrom(0, 256, routeMetric);
const arbitraryRoute: fc.Arbitrary<Route> = fc.oneof(
  fc.record({
    kind: fc.constant('via' as const),
    dst: arbitraryDst,
    gateway: fc.constantFrom('192.168.5.1', 'fd00::2'),
    metric: arbitraryMetric,
  }),
  fc.record({ kind: fc.constant('blackhole' as const), dst: arbitraryDst, metric: arbitraryMetric }),
);
const arbitraryInstalled: fc.Arbitrary<InstalledRoute> = fc.oneof(
  arbitraryRoute.map(ours),
  fc.record({
    kind: fc.constant('other' as const),
    dst: arbitraryDst,
    metric: arbitraryMetric,
    protocol: fc.constantFrom(2, 3, 4, 12, 80),
  }),
);
const unique = <T extends { dst: string; metric: number }>(item: fc.Arbitrary<T>) =>
  fc.uniqueArray(item, { selector: routeKey });

describe('routeChanges, applied to any table', () => {
  it('yields the desired routes (but those a foreign route blocks), leaves foreign routes as they were, and has nothing left to do', () => {
    fc.assert(
      fc.property(unique(arbitraryRoute), unique(arbitraryInstalled), (desired, installed) => {
        const before = new Map(installed.map((route) => [routeKey(route), route]));
        const changes = routeChanges(desired, installed);
        const after = applyToTable(before, changes);
        const foreignOf = (table: ReadonlyMap<string, InstalledRoute>) =>
          [...table.values()].filter((route) => route.protocol !== routeProtocol || route.kind === 'other');
        expect(foreignOf(after)).toEqual(foreignOf(before));
        const blocked = new Set(changes.blocked.map(routeKey));
        const oursAfter = [...after.values()].filter((route) => !foreignOf(after).includes(route));
        expect(new Set(oursAfter.map((route) => JSON.stringify(route)))).toEqual(
          new Set(
            desired
              .filter((route) => !blocked.has(routeKey(route)))
              .map((route) => JSON.stringify(ours(route))),
          ),
        );
        expect(routeChanges(desired, [...after.values()])).toEqual({ ...none, blocked: changes.blocked });
      }),
    );
  });
});

const nodeIps = { a: '192.168.5.1', b: '192.168.5.2', c: '192.168.5.3' } as const;
type NodeName = keyof typeof nodeIps;
const arbitraryNode = fc.constantFrom<NodeName>('a', 'b', 'c');

/** The route a packet to `address` takes: the longest prefix among `routes` holding it. */
function lookup(routes: readonly Route[], address: string): Route | undefined {
  const target = parseAddress(address);
  let best: Route | undefined;
  for (const route of routes) {
    const cidr = parseCidr(route.dst);
    if (!cidrContainsAddress(cidr, target)) continue;
    if (best === undefined || cidr.prefixLength > parseCidr(best.dst).prefixLength) best = route;
  }
  return best;
}

describe('desiredRoutes, for any blocks and borrowed addresses', () => {
  it("sends a packet to any pod of another node toward that node, whoever holds the pod's block", () => {
    const heldBlocks = fc.uniqueArray(
      fc.record({ index: fc.integer({ min: 0, max: 3 }), holder: arbitraryNode }),
      { selector: (block) => block.index, minLength: 1 },
    );
    const scenario = heldBlocks.chain((blocks) =>
      fc.record({
        blocks: fc.constant(blocks),
        pods: fc.uniqueArray(
          fc.record({
            block: fc.constantFrom(...blocks),
            ordinal: fc.integer({ min: 1, max: 62 }),
            node: arbitraryNode,
          }),
          { selector: (pod) => `${pod.block.index}/${pod.ordinal}` },
        ),
      }),
    );
    fc.assert(
      fc.property(scenario, arbitraryNode, ({ blocks, pods }, viewer) => {
        const held = blocks.map((block) => ({ cidr: `10.0.0.${block.index * 64}/26`, node: block.holder }));
        const podAddress = (pod: (typeof pods)[number]) =>
          addressToString(parseAddress(`10.0.0.${pod.block.index * 64 + pod.ordinal}`));
        const borrowed = pods
          .filter((pod) => pod.node !== pod.block.holder)
          .map((pod) => ({ address: podAddress(pod), node: pod.node }));
        const nodeList = Object.entries(nodeIps).map(([name, ip]) => ({ name, internalIps: [ip] }));
        const { routes, problems } = desiredRoutes(viewer, held, nodeList, borrowed);
        expect(problems).toEqual([]);
        for (const pod of pods) {
          // The viewer's own pods are the main plugin's to route.
          if (pod.node === viewer) continue;
          expect(lookup(routes, podAddress(pod))).toEqual(
            via(lookup(routes, podAddress(pod))?.dst ?? '', nodeIps[pod.node]),
          );
        }
      }),
    );
  });
});
