import { describe, expect, it } from 'vitest';
import { natSyncAdvice, parseTable, parseTableNames } from './nft-json.js';
import { desiredNatTable } from './plan.js';
import { tableDifferences } from './table.js';

// Captured from nftables 1.0.6 (`nft -j list table inet topology-ipam`) in a network namespace, after
// the agent wrote the table for the pools below.
const meta =
  '{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}';
const set = (name: string, type: string, handle: number, elem?: string) =>
  `{"set": {"family": "inet", "name": "${name}", "table": "topology-ipam", "type": "${type}", "handle": ${String(handle)}, "flags": ["interval"]${elem === undefined ? '' : `, "elem": [${elem}]`}}}`;
const prefix = (addr: string, len: number) => `{"prefix": {"addr": "${addr}", "len": ${String(len)}}}`;
const match = (op: string, protocol: string, field: string, right: string) =>
  `{"match": {"op": "${op}", "left": {"payload": {"protocol": "${protocol}", "field": "${field}"}}, "right": ${right}}}`;
const rule = (handle: number, protocol: string, family: number) =>
  `{"rule": {"family": "inet", "table": "topology-ipam", "chain": "nat-outgoing", "handle": ${String(handle)}, "expr": [` +
  `${match('==', protocol, 'saddr', `"@nat-outgoing-pools-v${String(family)}"`)}, ` +
  `${match('!=', protocol, 'daddr', `"@pools-v${String(family)}"`)}, ` +
  `${match('!=', protocol, 'daddr', `"@nodes-v${String(family)}"`)}, {"masquerade": {"flags": "fully-random"}}]}}`;
const written = [
  meta,
  '{"table": {"family": "inet", "name": "topology-ipam", "handle": 7}}',
  set('nat-outgoing-pools-v4', 'ipv4_addr', 2, prefix('10.1.0.0', 16)),
  set('pools-v4', 'ipv4_addr', 3, `${prefix('10.1.0.0', 16)}, ${prefix('10.2.0.0', 16)}`),
  set('nodes-v4', 'ipv4_addr', 4, '"192.168.1.5"'),
  set('nat-outgoing-pools-v6', 'ipv6_addr', 5, prefix('fd10::', 64)),
  set('pools-v6', 'ipv6_addr', 6, prefix('fd10::', 64)),
  set('nodes-v6', 'ipv6_addr', 7),
  '{"chain": {"family": "inet", "table": "topology-ipam", "name": "nat-outgoing", "handle": 1, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}}',
  rule(8, 'ip', 4),
  rule(9, 'ip6', 6),
];
const listing = (entries: readonly string[]) => `{"nftables": [${entries.join(', ')}]}`;
const desired = desiredNatTable(
  [
    { name: 'a', cidr: '10.1.0.0/16', natOutgoing: true },
    { name: 'b', cidr: '10.2.0.0/16', natOutgoing: false },
    { name: 'c', cidr: 'fd10::/64', natOutgoing: true },
  ],
  [{ name: 'n', addresses: ['192.168.1.5'] }],
).table;

describe('parseTable', () => {
  it('reads back what the agent wrote as exactly what it wants: a restart writes nothing', () => {
    expect(tableDifferences(desired, parseTable(listing(written)))).toEqual([]);
  });

  it.each([
    [
      // Captured after `nft add table inet topology-ipam { flags dormant; }` (1.0.6 prints the flag wrongly).
      'a table with flags',
      '{"table": {"family": "inet", "name": "topology-ipam", "handle": 7, "flags": "10.1.0.0"}}',
      ['the table has flags "10.1.0.0"'],
    ],
    [
      'a range added to a set',
      set('nodes-v4', 'ipv4_addr', 4, '{"range": ["10.9.0.1", "10.9.0.5"]}, "192.168.1.5"'),
      ['set nodes-v4 differs'],
    ],
    [
      'a map',
      '{"map": {"family": "inet", "name": "m", "table": "topology-ipam", "type": "ipv4_addr", "handle": 12, "map": "verdict"}}',
      [
        'map {"family":"inet","name":"m","table":"topology-ipam","type":"ipv4_addr","handle":12,"map":"verdict"} is not ours',
      ],
    ],
    [
      'a regular chain',
      '{"chain": {"family": "inet", "table": "topology-ipam", "name": "extra", "handle": 11}}',
      ['chain extra is not ours'],
    ],
    [
      'a rule of someone else',
      `{"rule": {"family": "inet", "table": "topology-ipam", "chain": "nat-outgoing", "handle": 10, "expr": [${match('==', 'ip', 'saddr', prefix('10.0.0.0', 8))}, {"counter": {"packets": 0, "bytes": 0}}]}}`,
      ['the rules differ'],
    ],
  ])('sees %s as a difference', (_name, entry, differences) => {
    const kind = Object.keys(JSON.parse(entry) as object)[0];
    const name = (JSON.parse(entry) as Record<string, { name?: string }>)[kind ?? '']?.name;
    // Replaces the entry of the same kind and name, or adds it.
    const replaced = written.map((each) => {
      const parsed = JSON.parse(each) as Record<string, { name?: string }>;
      return kind !== undefined && parsed[kind] !== undefined && parsed[kind].name === name ? entry : each;
    });
    const entries = replaced.includes(entry) ? replaced : [...written, entry];
    expect(tableDifferences(desired, parseTable(listing(entries)))).toEqual(differences);
  });

  it('refuses output that is not a listing', () => {
    expect(() => parseTable('{"table": {}}')).toThrow();
  });
});

describe('parseTableNames', () => {
  it('lists family and name of each table', () => {
    const tables = listing([
      meta,
      '{"table": {"family": "inet", "name": "topology-ipam", "handle": 2}}',
      '{"table": {"family": "ip", "name": "nat", "handle": 3}}',
    ]);
    expect(parseTableNames(tables)).toEqual(['inet topology-ipam', 'ip nat']);
    expect(parseTableNames(listing([meta]))).toEqual([]);
  });
});

describe('natSyncAdvice', () => {
  it.each([
    ['spawn nft ENOENT', /nft is not on the agent's PATH.*natOutgoing.enabled=false/],
    [
      'ip netns exec n nft -f - exited 1: exec of "nft" failed: No such file or directory',
      /not on the agent's PATH/,
    ],
    [
      'nft -f - exited 1: Error: Could not process rule: Operation not permitted',
      /CAP_NET_ADMIN.*natOutgoing.enabled=true/,
    ],
    [
      'nft -f - exited 1: Error: Could not process rule: Operation not supported',
      /kernel lacks nftables NAT.*natOutgoing.enabled=false/,
    ],
    [
      'ip netns exec n nft -j list tables inet exited 1: Cannot open network namespace',
      /tries again at the next change or resync/,
    ],
  ])('%s', (error, advice) => {
    expect(natSyncAdvice(error)).toMatch(advice);
  });
});
