import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface ToolResult {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

const run = promisify(execFile);

/**
 * Runs a command-line tool (kubectl, helm) without blocking the event loop — needed whenever something
 * in the same process must answer the API server meanwhile, like an in-process webhook — and returns
 * the outcome instead of throwing.
 */
export async function runTool(
  binary: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; input?: string },
): Promise<ToolResult> {
  const child = run(binary, args, { env: options.env, encoding: 'utf8', maxBuffer: 64 << 20 });
  child.child.stdin?.end(options.input ?? '');
  try {
    const { stdout, stderr } = await child;
    return { ok: true, stdout, stderr };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    return { ok: false, stdout: failure.stdout ?? '', stderr: failure.stderr ?? String(error) };
  }
}
