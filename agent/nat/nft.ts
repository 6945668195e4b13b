/** Reads and replaces the agent's own nftables table with `nft`, in one process per step. */
import { runCommand } from '../../runtime/index.js';
import { parseTable, parseTableNames } from './nft-json.js';
import { type InstalledTable, type NftTable, replaceScript } from './table.js';

export interface NatRuleset {
  /** The table as installed, or undefined when there is none. */
  read(): Promise<InstalledTable | undefined>;
  /** Replaces the table, atomically. */
  replace(table: NftTable): Promise<void>;
}

/** Our table `inet <name>` in the named network namespace (`ip netns exec`), or the agent's own when undefined. */
export function nftRuleset(family: 'inet', name: string, netns?: string): NatRuleset {
  const nft = (args: readonly string[], stdin = '') =>
    netns === undefined
      ? runCommand('nft', args, stdin)
      : runCommand('ip', ['netns', 'exec', netns, 'nft', ...args], stdin);
  return {
    read: async () => {
      // Listed first: `list table` of a missing table fails like any other error would.
      if (!parseTableNames(await nft(['-j', 'list', 'tables', family])).includes(`${family} ${name}`))
        return undefined;
      return parseTable(await nft(['-j', 'list', 'table', family, name]));
    },
    replace: async (table) => {
      await nft(['-f', '-'], replaceScript(table));
    },
  };
}
