import { describe, expect, it } from 'vitest';
import { deleteCommand, parseIpRoutes, replaceCommand, routeSyncAdvice } from './ip-json.js';

// Captured from iproute2 6.1 (`ip -N -json -4|-6 route show table main`) in a network namespace.
const ipv4 =
  '[{"dst":"10.0.0.0","dev":"d0","scope":"253","flags":[]},' +
  '{"dst":"10.0.0.0/26","dev":"d0","protocol":"4","scope":"253","flags":[]},' +
  '{"type":"6","dst":"10.0.0.0/26","protocol":"201","metric":1024,"flags":[]},' +
  '{"dst":"10.0.1.0/26","gateway":"192.168.9.2","dev":"d0","protocol":"201","metric":1024,"flags":[]},' +
  '{"type":"7","dst":"10.0.2.0/26","protocol":"201","metric":1024,"flags":[]},' +
  '{"dst":"default","gateway":"192.168.9.254","dev":"d0","protocol":"3","flags":[]}]';
const ipv6 =
  '[{"dst":"fd00:9::/64","dev":"d0","protocol":"2","metric":256,"flags":[],"pref":"medium"},' +
  '{"type":"6","dst":"fd10::/122","dev":"lo","protocol":"201","metric":1024,"flags":[],"pref":"medium"},' +
  '{"dst":"fd10::40/122","gateway":"fd00:9::2","dev":"d0","protocol":"201","metric":1024,"flags":[],"pref":"medium"}]';

describe('parseIpRoutes', () => {
  it.each([
    [
      'IPv4: host routes and default as CIDRs; ours by protocol; an unreachable of ours is not one we make',
      ipv4,
      4 as const,
      [
        { kind: 'other', dst: '10.0.0.0/32', metric: 0, protocol: 0 },
        { kind: 'other', dst: '10.0.0.0/26', metric: 0, protocol: 4 },
        { kind: 'blackhole', dst: '10.0.0.0/26', metric: 1024, protocol: 201 },
        { kind: 'via', dst: '10.0.1.0/26', gateway: '192.168.9.2', metric: 1024, protocol: 201 },
        { kind: 'other', dst: '10.0.2.0/26', metric: 1024, protocol: 201 },
        { kind: 'other', dst: '0.0.0.0/0', metric: 0, protocol: 3 },
      ],
    ],
    [
      'IPv6',
      ipv6,
      6 as const,
      [
        { kind: 'other', dst: 'fd00:9::/64', metric: 256, protocol: 2 },
        { kind: 'blackhole', dst: 'fd10::/122', metric: 1024, protocol: 201 },
        { kind: 'via', dst: 'fd10::40/122', gateway: 'fd00:9::2', metric: 1024, protocol: 201 },
      ],
    ],
    ['an empty table', '[]', 4 as const, []],
  ])('%s', (_name, json, family, routes) => {
    expect(parseIpRoutes(json, family)).toEqual(routes);
  });

  it('refuses output that is not a list of routes', () => {
    expect(() => parseIpRoutes('{"dst":1}', 4)).toThrow();
  });
});

describe('commands', () => {
  it.each([
    [
      { kind: 'via' as const, dst: '10.0.1.0/26', gateway: '192.168.9.2', metric: 1024 },
      'route replace 10.0.1.0/26 via 192.168.9.2 proto 201 metric 1024',
      'route del unicast 10.0.1.0/26 proto 201 metric 1024',
    ],
    [
      { kind: 'blackhole' as const, dst: 'fd10::/122', metric: 1024 },
      'route replace blackhole fd10::/122 proto 201 metric 1024',
      'route del blackhole fd10::/122 proto 201 metric 1024',
    ],
  ])('%j', (route, replace, del) => {
    expect(replaceCommand(route)).toBe(replace);
    expect(deleteCommand(route)).toBe(del);
  });
});

describe('routeSyncAdvice', () => {
  it.each([
    ['spawn ip ENOENT', /ip is not on the agent's PATH.*routes.enabled=false/],
    [
      'ip -batch - -force exited 2: RTNETLINK answers: Operation not permitted',
      /CAP_NET_ADMIN.*routes.enabled=true/,
    ],
    [
      'ip -batch - -force exited 2: Error: Nexthop has invalid gateway.',
      /one L2 segment.*routes.enabled=false/,
    ],
    ['ip -batch - -force exited 2: RTNETLINK answers: Network is unreachable', /one L2 segment/],
    ['ip exited 1: Cannot open network namespace', /tries again at the next change or resync/],
  ])('%s', (error, advice) => {
    expect(routeSyncAdvice(error)).toMatch(advice);
  });
});
