/** Reads and changes the routes of a network namespace with iproute2 (`ip`), in one process per step. */
import { runCommand } from '../../runtime/index.js';
import { deleteCommand, parseIpRoutes, replaceCommand } from './ip-json.js';
import type { InstalledRoute, RouteChanges } from './plan.js';

export interface RouteTable {
  read(): Promise<InstalledRoute[]>;
  /** Applies every change it can; rejects naming the ones the kernel refused. */
  apply(changes: RouteChanges): Promise<void>;
}

/** The main table of the named network namespace (`ip -n`), or of the agent's own when undefined. */
export function ipRouteTable(netns?: string): RouteTable {
  const ip = (args: readonly string[], stdin = '') =>
    runCommand('ip', [...(netns === undefined ? [] : ['-n', netns]), ...args], stdin);
  return {
    read: async () => {
      const tables = await Promise.all(
        ([4, 6] as const).map(async (family) =>
          parseIpRoutes(await ip(['-N', '-json', `-${family}`, 'route', 'show', 'table', 'main']), family),
        ),
      );
      return tables.flat();
    },
    apply: async ({ replace, remove }) => {
      const lines = [...remove.map(deleteCommand), ...replace.map(replaceCommand)];
      // -force: one refused route (a gateway not on a local network) does not stop the others.
      if (lines.length > 0) await ip(['-batch', '-', '-force'], `${lines.join('\n')}\n`);
    },
  };
}
