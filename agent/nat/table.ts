/**
 * One nftables table as plain data (pure, no I/O): what the agent wants, rendered as the `nft -f` script
 * that replaces the table in one transaction, and what `nft -j list table` shows, parsed (nft-json.ts)
 * into the same shape so that the two compare field by field.
 */

export interface NftSet {
  readonly name: string;
  /** `ipv4_addr` or `ipv6_addr`. */
  readonly type: string;
  readonly flags: readonly string[];
  /** Canonical CIDRs (`10.0.0.0/16`, `192.168.5.1/32`), none inside another (an interval set refuses that). */
  readonly elements: readonly string[];
}

/** A base chain: one attached to a netfilter hook. */
export interface NftChain {
  readonly name: string;
  readonly type: string;
  readonly hook: string;
  readonly priority: number;
  readonly policy: string;
}

/** The statements our rules are made of. */
export type NftStatement =
  | {
      readonly kind: 'match';
      /** `ip` or `ip6`. */
      readonly protocol: string;
      /** `saddr` or `daddr`. */
      readonly field: string;
      readonly op: '==' | '!=';
      /** A named set of the same table. */
      readonly set: string;
    }
  | { readonly kind: 'masquerade'; readonly flags: readonly string[] };

export interface NftRule {
  readonly chain: string;
  readonly statements: readonly NftStatement[];
}

export interface NftTable {
  /** `inet` holds IPv4 and IPv6 rules in one table, replaced in one transaction. */
  readonly family: 'inet';
  readonly name: string;
  readonly sets: readonly NftSet[];
  readonly chains: readonly NftChain[];
  readonly rules: readonly NftRule[];
}

/** A table as `nft -j list table` shows it: anything we never write is kept as text, so it never matches. */
export interface InstalledTable {
  readonly flags: readonly string[];
  readonly sets: readonly NftSet[];
  readonly chains: readonly (NftChain | { readonly name: string; readonly unknown: string })[];
  readonly rules: readonly {
    readonly chain: string;
    readonly statements: readonly (NftStatement | string)[];
  }[];
  /** Objects of other kinds (maps, counters, flowtables...), as text. */
  readonly others: readonly string[];
}

function statementText(statement: NftStatement): string {
  switch (statement.kind) {
    case 'match':
      return `${statement.protocol} ${statement.field} ${statement.op === '==' ? '' : '!= '}@${statement.set}`;
    case 'masquerade':
      return ['masquerade', ...statement.flags].join(' ');
  }
}

/**
 * The `nft -f` script that replaces `table` whatever is there, in one transaction: the first line
 * creates it if it is missing, so that the delete cannot fail, and the rest adds it anew. Packets see
 * the old table or the new one, never none; no other table is named.
 */
export function replaceScript(table: NftTable): string {
  const id = `table ${table.family} ${table.name}`;
  const sets = table.sets.map((set) =>
    [
      `\tset ${set.name} {`,
      `\t\ttype ${set.type}`,
      ...(set.flags.length === 0 ? [] : [`\t\tflags ${set.flags.join(', ')}`]),
      ...(set.elements.length === 0 ? [] : [`\t\telements = { ${set.elements.join(', ')} }`]),
      '\t}',
    ].join('\n'),
  );
  const chains = table.chains.map((chain) =>
    [
      `\tchain ${chain.name} {`,
      `\t\ttype ${chain.type} hook ${chain.hook} priority ${String(chain.priority)}; policy ${chain.policy};`,
      ...table.rules
        .filter((rule) => rule.chain === chain.name)
        .map((rule) => `\t\t${rule.statements.map(statementText).join(' ')}`),
      '\t}',
    ].join('\n'),
  );
  return [id, `delete ${id}`, `${id} {`, ...sets, ...chains, '}', ''].join('\n');
}

/** JSON with every object's keys in order, so that two values compare whatever order they were built in. */
const text = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => a.localeCompare(b)))
      : inner,
  );
const sortedElements = (set: NftSet): NftSet => ({ ...set, elements: [...set.elements].sort() });

/**
 * How the installed table differs from the desired one, one line each; empty when they are the same
 * (then nothing is written, so a restarted agent changes nothing). Handles and the order nft lists
 * sets and elements in do not count; the order of rules does.
 */
export function tableDifferences(desired: NftTable, installed: InstalledTable | undefined): string[] {
  if (installed === undefined) return [`table ${desired.family} ${desired.name} is missing`];
  const differences: string[] = [];
  if (installed.flags.length > 0) differences.push(`the table has flags ${installed.flags.join(', ')}`);
  const installedSets = new Map(installed.sets.map((set) => [set.name, set]));
  for (const set of desired.sets) {
    const there = installedSets.get(set.name);
    if (there === undefined) differences.push(`set ${set.name} is missing`);
    else if (text(sortedElements(there)) !== text(sortedElements(set)))
      differences.push(`set ${set.name} differs`);
    installedSets.delete(set.name);
  }
  for (const name of installedSets.keys()) differences.push(`set ${name} is not ours`);
  const installedChains = new Map(installed.chains.map((chain) => [chain.name, chain]));
  for (const chain of desired.chains) {
    const there = installedChains.get(chain.name);
    if (there === undefined) differences.push(`chain ${chain.name} is missing`);
    else if (text(there) !== text(chain)) differences.push(`chain ${chain.name} differs`);
    installedChains.delete(chain.name);
  }
  for (const name of installedChains.keys()) differences.push(`chain ${name} is not ours`);
  if (text(installed.rules) !== text(desired.rules)) differences.push('the rules differ');
  for (const other of installed.others) differences.push(`${other} is not ours`);
  return differences;
}
