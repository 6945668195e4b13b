/**
 * The node's natOutgoing table (pure, no I/O), as Calico's Felix masquerades (its `cali-nat-outgoing`
 * chain with `NATOutgoingExclusions: IPPoolsAndHostIPs`): a packet from a pool with `natOutgoing: true`
 * to an address outside every pool and outside every node's addresses leaves with the node's own
 * address as its source. Nothing else is touched: pod to pod (any pool), pod to node, and every pool
 * whose `natOutgoing` is false. All pools count as destinations, disabled ones included (their pods keep
 * their addresses), as in Felix.
 */
import {
  type Cidr,
  type IpFamily,
  cidrContains,
  cidrOf,
  cidrToString,
  compareCidrs,
  familyBits,
  safeParseAddress,
  safeParseCidr,
} from '../../ipam/index.js';
import type { NftRule, NftSet, NftTable } from './table.js';

/** Ours alone: the agent replaces this table and never names another. */
export const natTableName = 'topology-ipam';
export const natChainName = 'nat-outgoing';
/** srcnat, the priority of iptables' nat POSTROUTING. */
const srcnatPriority = 100;

/** What the table needs of an IPPool. */
export interface NatPool {
  readonly name: string;
  readonly cidr: string;
  readonly natOutgoing: boolean;
}

/** A node's addresses that traffic to is never masqueraded (its InternalIPs and ExternalIPs). */
export interface NodeAddresses {
  readonly name: string;
  readonly addresses: readonly string[];
}

export interface NatProblem {
  readonly pool?: string;
  readonly node?: string;
  readonly reason: string;
}

export interface DesiredNatTable {
  readonly table: NftTable;
  /** Pools and addresses left out, and why (a CIDR or an address that does not parse). */
  readonly problems: readonly NatProblem[];
}

const families = [4, 6] as const;
const setType = (family: IpFamily) => (family === 4 ? 'ipv4_addr' : 'ipv6_addr');
const protocol = (family: IpFamily) => (family === 4 ? 'ip' : 'ip6');
export const natSetNames = (family: IpFamily) =>
  ({
    sources: `nat-outgoing-pools-v${family}`,
    pools: `pools-v${family}`,
    nodes: `nodes-v${family}`,
  }) as const;

/**
 * The CIDRs of one family, without those inside another (an interval set refuses overlapping elements),
 * sorted, as canonical text.
 */
export function outermostCidrs(cidrs: readonly Cidr[], family: IpFamily): string[] {
  const sorted = cidrs.filter((cidr) => cidr.family === family).sort(compareCidrs);
  const kept: Cidr[] = [];
  // Sorted by network then larger first: a CIDR inside another comes after it, before the next disjoint one.
  for (const cidr of sorted) {
    const last = kept.at(-1);
    if (last === undefined || !cidrContains(last, cidr)) kept.push(cidr);
  }
  return kept.map(cidrToString);
}

/** The table that masquerades traffic from `natOutgoing` pools to everything outside the cluster. */
export function desiredNatTable(pools: readonly NatPool[], nodes: readonly NodeAddresses[]): DesiredNatTable {
  const problems: NatProblem[] = [];
  const poolCidrs: Cidr[] = [];
  const sourceCidrs: Cidr[] = [];
  for (const pool of pools) {
    const parsed = safeParseCidr(pool.cidr);
    if (!parsed.ok) {
      problems.push({ pool: pool.name, reason: parsed.error.message });
      continue;
    }
    poolCidrs.push(parsed.value);
    if (pool.natOutgoing) sourceCidrs.push(parsed.value);
  }
  const nodeCidrs: Cidr[] = [];
  for (const node of nodes)
    for (const text of node.addresses) {
      const parsed = safeParseAddress(text);
      if (!parsed.ok) problems.push({ node: node.name, reason: parsed.error.message });
      else nodeCidrs.push(cidrOf(parsed.value, familyBits(parsed.value.family)));
    }
  const sets: NftSet[] = families.flatMap((family) => {
    const names = natSetNames(family);
    const set = (name: string, cidrs: readonly Cidr[]): NftSet => ({
      name,
      type: setType(family),
      flags: ['interval'],
      elements: outermostCidrs(cidrs, family),
    });
    return [set(names.sources, sourceCidrs), set(names.pools, poolCidrs), set(names.nodes, nodeCidrs)];
  });
  // One rule per family, present even when its source set is empty: an empty set matches nothing.
  const rules: NftRule[] = families.map((family) => {
    const names = natSetNames(family);
    const match = (field: string, op: '==' | '!=', set: string) =>
      ({ kind: 'match', protocol: protocol(family), field, op, set }) as const;
    return {
      chain: natChainName,
      statements: [
        match('saddr', '==', names.sources),
        match('daddr', '!=', names.pools),
        match('daddr', '!=', names.nodes),
        // Felix's MASQUERADE --random-fully: source ports chosen at random, not kept when free.
        { kind: 'masquerade', flags: ['fully-random'] },
      ],
    };
  });
  return {
    table: {
      family: 'inet',
      name: natTableName,
      sets,
      chains: [
        { name: natChainName, type: 'nat', hook: 'postrouting', priority: srcnatPriority, policy: 'accept' },
      ],
      rules,
    },
    problems,
  };
}
