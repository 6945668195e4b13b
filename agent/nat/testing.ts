/**
 * Test support for natOutgoing on the real kernel: `nft` in a network namespace, and a recorder of the
 * source address of every echo request a namespace receives (before routing can drop it), which shows
 * whether a packet was masqueraded whether or not a reply could come back. Needs root and nftables.
 */
import { execFileSync } from 'node:child_process';
import { parseTable } from './nft-json.js';

export const nft = (netns: string, args: readonly string[], input?: string): string =>
  execFileSync('ip', ['netns', 'exec', netns, 'nft', ...args], { encoding: 'utf8', stdio: 'pipe', input });

/** Records the source of every echo request `netns` receives, in a table `inet recorder` of its own. */
export function recordSources(netns: string): void {
  nft(
    netns,
    ['-f', '-'],
    [
      'table inet recorder {',
      '\tset seen-v4 { type ipv4_addr; flags dynamic; }',
      '\tset seen-v6 { type ipv6_addr; flags dynamic; }',
      '\tchain prerouting {',
      '\t\ttype filter hook prerouting priority raw; policy accept;',
      '\t\ticmp type echo-request add @seen-v4 { ip saddr }',
      '\t\ticmpv6 type echo-request add @seen-v6 { ip6 saddr }',
      '\t}',
      '}',
      '',
    ].join('\n'),
  );
}

/** The sources `netns` saw since the last call, sorted. */
export function seenSources(netns: string): string[] {
  const seen = ['seen-v4', 'seen-v6'].flatMap((set) =>
    parseTable(nft(netns, ['-j', 'list', 'set', 'inet', 'recorder', set])).sets.flatMap((each) =>
      each.elements.map((cidr) => cidr.split('/')[0] ?? ''),
    ),
  );
  for (const set of ['seen-v4', 'seen-v6']) nft(netns, ['flush', 'set', 'inet', 'recorder', set]);
  return seen.sort();
}
