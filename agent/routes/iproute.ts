/** Reads and changes the routes of a network namespace with iproute2 (`ip`), in one process per step. */
import { spawn } from 'node:child_process';
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
    run('ip', [...(netns === undefined ? [] : ['-n', netns]), ...args], stdin);
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

function run(command: string, args: readonly string[], stdin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited ${String(code)}: ${stderr.trim()}`));
    });
    // An ip that exits before reading (a namespace gone) breaks the pipe: its exit status says why.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}
