import { describe, expect, it } from 'vitest';
import { type InstalledTable, type NftTable, replaceScript, tableDifferences } from './table.js';

const table: NftTable = {
  family: 'inet',
  name: 'topology-ipam',
  sets: [
    { name: 'pools-v4', type: 'ipv4_addr', flags: ['interval'], elements: ['10.1.0.0/16', '10.9.0.1/32'] },
  ],
  chains: [{ name: 'nat-outgoing', type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept' }],
  rules: [
    {
      chain: 'nat-outgoing',
      statements: [
        { kind: 'match', protocol: 'ip', field: 'saddr', op: '==', set: 'pools-v4' },
        { kind: 'match', protocol: 'ip', field: 'daddr', op: '!=', set: 'pools-v4' },
        { kind: 'masquerade', flags: ['fully-random'] },
      ],
    },
  ],
};

describe('replaceScript', () => {
  it('creates the table if missing, deletes it and adds it anew, in one script naming no other table', () => {
    expect(replaceScript(table)).toBe(
      [
        'table inet topology-ipam',
        'delete table inet topology-ipam',
        'table inet topology-ipam {',
        '\tset pools-v4 {',
        '\t\ttype ipv4_addr',
        '\t\tflags interval',
        '\t\telements = { 10.1.0.0/16, 10.9.0.1/32 }',
        '\t}',
        '\tchain nat-outgoing {',
        '\t\ttype nat hook postrouting priority 100; policy accept;',
        '\t\tip saddr @pools-v4 ip daddr != @pools-v4 masquerade fully-random',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('writes an empty set without elements (nft refuses an empty list)', () => {
    const empty = { ...table, sets: [{ name: 'nodes-v6', type: 'ipv6_addr', flags: [], elements: [] }] };
    expect(replaceScript(empty)).toContain('\tset nodes-v6 {\n\t\ttype ipv6_addr\n\t}');
  });
});

const [poolSet] = table.sets as [NftTable['sets'][number]];
const [chain] = table.chains as [NftTable['chains'][number]];
const [rule] = table.rules as [NftTable['rules'][number]];
const installed: InstalledTable = {
  flags: [],
  sets: table.sets,
  chains: [{ policy: 'accept', priority: 100, hook: 'postrouting', type: 'nat', name: 'nat-outgoing' }],
  rules: table.rules,
  others: [],
};

describe('tableDifferences', () => {
  it.each<[string, InstalledTable | undefined, string[]]>([
    ['none: the same table (key and element order do not count)', installed, []],
    [
      'none: elements listed in another order',
      { ...installed, sets: [{ ...poolSet, elements: ['10.9.0.1/32', '10.1.0.0/16'] }] },
      [],
    ],
    ['no table', undefined, ['table inet topology-ipam is missing']],
    ['a dormant table', { ...installed, flags: ['"dormant"'] }, ['the table has flags "dormant"']],
    [
      'an element missing',
      { ...installed, sets: [{ ...poolSet, elements: ['10.1.0.0/16'] }] },
      ['set pools-v4 differs'],
    ],
    ['a set missing', { ...installed, sets: [] }, ['set pools-v4 is missing']],
    [
      'a set more',
      { ...installed, sets: [...table.sets, { ...poolSet, name: 'extra' }] },
      ['set extra is not ours'],
    ],
    [
      'a chain at another priority',
      { ...installed, chains: [{ ...chain, priority: 0 }] },
      ['chain nat-outgoing differs'],
    ],
    [
      'a chain more, of a kind we never write',
      { ...installed, chains: [...installed.chains, { name: 'extra', unknown: '{}' }] },
      ['chain extra is not ours'],
    ],
    [
      'a rule more',
      { ...installed, rules: [...table.rules, { chain: 'nat-outgoing', statements: ['{"counter":{}}'] }] },
      ['the rules differ'],
    ],
    [
      'a rule without its fully-random',
      {
        ...installed,
        rules: [
          {
            ...rule,
            statements: [...rule.statements.slice(0, 2), { kind: 'masquerade', flags: [] }],
          },
        ],
      },
      ['the rules differ'],
    ],
    ['a map', { ...installed, others: ['map {"name":"m"}'] }, ['map {"name":"m"} is not ours']],
  ])('%s', (_name, there, differences) => {
    expect(tableDifferences(table, there)).toEqual(differences);
  });
});
