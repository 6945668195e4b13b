/**
 * What `nft -j` prints, parsed (pure): the tables of `nft -j list tables`, and one table of
 * `nft -j list table` in the shape of table.ts. Whatever the agent never writes (a range element, a
 * regular chain, a statement of another kind, a map) is kept as its JSON text, which matches nothing
 * desired, so that the table is rewritten.
 */
import { z } from 'zod';
import { cidrOf, cidrToString, familyBits, safeParseAddress, safeParseCidr } from '../../ipam/index.js';
import type { InstalledTable, NftSet, NftStatement } from './table.js';

const tableSchema = z.object({ family: z.string(), name: z.string(), flags: z.unknown().optional() });
const listSchema = z.object({ nftables: z.array(z.record(z.string(), z.unknown())) });

/** The tables of `nft -j list tables`, as `family name`. */
export function parseTableNames(json: string): string[] {
  return listSchema.parse(JSON.parse(json)).nftables.flatMap((entry) => {
    const table = tableSchema.safeParse(entry.table);
    return table.success ? [`${table.data.family} ${table.data.name}`] : [];
  });
}

const setSchema = z.object({
  name: z.string(),
  type: z.string(),
  flags: z.array(z.string()).default([]),
  elem: z.array(z.unknown()).default([]),
});
const chainSchema = z.object({
  name: z.string(),
  type: z.string(),
  hook: z.string(),
  prio: z.number(),
  policy: z.string(),
});
const ruleSchema = z.object({ chain: z.string(), expr: z.array(z.unknown()).default([]) });
const matchSchema = z.object({
  match: z.object({
    op: z.enum(['==', '!=']),
    left: z.object({ payload: z.object({ protocol: z.string(), field: z.string() }) }),
    right: z.string().startsWith('@'),
  }),
});
const masqueradeSchema = z.object({
  masquerade: z.union([z.null(), z.object({ flags: z.union([z.string(), z.array(z.string())]).optional() })]),
});
const prefixSchema = z.object({ prefix: z.object({ addr: z.string(), len: z.number().int() }) });

/** An element as a canonical CIDR (an address is a /32 or /128); anything else as its JSON text. */
function element(value: unknown): string {
  if (typeof value === 'string') {
    const address = safeParseAddress(value);
    if (address.ok) return cidrToString(cidrOf(address.value, familyBits(address.value.family)));
  }
  const prefix = prefixSchema.safeParse(value);
  if (prefix.success) {
    const cidr = safeParseCidr(`${prefix.data.prefix.addr}/${String(prefix.data.prefix.len)}`);
    if (cidr.ok) return cidrToString(cidr.value);
  }
  return JSON.stringify(value);
}

function statement(value: unknown): NftStatement | string {
  const match = matchSchema.safeParse(value);
  if (match.success) {
    const { op, left, right } = match.data.match;
    return { kind: 'match', ...left.payload, op, set: right.slice(1) };
  }
  const masquerade = masqueradeSchema.safeParse(value);
  if (masquerade.success) {
    const flags = masquerade.data.masquerade?.flags ?? [];
    return { kind: 'masquerade', flags: typeof flags === 'string' ? [flags] : flags };
  }
  return JSON.stringify(value);
}

/** One table from `nft -j list table <family> <name>`. */
export function parseTable(json: string): InstalledTable {
  const entries = listSchema.parse(JSON.parse(json)).nftables;
  const flags: string[] = [];
  const sets: NftSet[] = [];
  const chains: InstalledTable['chains'][number][] = [];
  const rules: InstalledTable['rules'][number][] = [];
  const others: string[] = [];
  for (const entry of entries) {
    const [kind, value] = Object.entries(entry)[0] ?? ['', undefined];
    switch (kind) {
      case 'metainfo':
        break;
      case 'table': {
        const tableFlags = tableSchema.parse(value).flags;
        if (tableFlags !== undefined) flags.push(JSON.stringify(tableFlags));
        break;
      }
      case 'set': {
        const set = setSchema.parse(value);
        sets.push({ name: set.name, type: set.type, flags: set.flags, elements: set.elem.map(element) });
        break;
      }
      case 'chain': {
        const chain = chainSchema.safeParse(value);
        if (chain.success) {
          const { name, type, hook, prio, policy } = chain.data;
          chains.push({ name, type, hook, priority: prio, policy });
        } else {
          chains.push({
            name: z.object({ name: z.string() }).parse(value).name,
            unknown: JSON.stringify(value),
          });
        }
        break;
      }
      case 'rule': {
        const rule = ruleSchema.parse(value);
        rules.push({ chain: rule.chain, statements: rule.expr.map(statement) });
        break;
      }
      default:
        others.push(`${kind} ${JSON.stringify(value)}`);
    }
  }
  return { flags, sets, chains, rules, others };
}

const turnOffNat =
  "or turn natOutgoing off (the chart's natOutgoing.enabled=false) if something else masquerades the pods' traffic";

/** What a user can do about a failed sync, from the error `nft` (or starting it) gave. */
export function natSyncAdvice(error: string): string {
  if (error.includes('ENOENT') || error.includes('exec of "nft" failed'))
    return `nftables' nft is not on the agent's PATH: run the chart's cni image, which carries it, ${turnOffNat}`;
  if (/Operation not permitted|EPERM/i.test(error))
    return `the agent may not change nftables: it needs CAP_NET_ADMIN in the node's network namespace (the chart adds it with natOutgoing.enabled=true), ${turnOffNat}`;
  if (/Operation not supported|Protocol not supported/i.test(error))
    return `the node's kernel lacks nftables NAT in an inet table (Linux 5.2 or later, modules nf_tables, nft_chain_nat and nft_masq), ${turnOffNat}`;
  return 'the table already in place stays; the agent tries again at the next change or resync';
}
