/** Runs a program of the host (iproute2, nftables) and hands back what it printed. */
import { spawn } from 'node:child_process';

/** Resolves with its standard output when it exits 0; rejects naming the command, its status and stderr. */
export function runCommand(command: string, args: readonly string[], stdin = ''): Promise<string> {
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
    // A program that exits before reading (a namespace gone) breaks the pipe: its exit status says why.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}
