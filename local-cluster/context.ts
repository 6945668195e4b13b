import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { inject } from 'vitest';

export interface ClusterTestContext {
  readonly kubeconfig: string;
  readonly binDir: string;
  /** A DNS-1123 prefix unique to this test file and run, for every cluster-scoped object the file creates. */
  readonly prefix: string;
  /** Runs the built kubectl against the test cluster; returns stdout, throws with stderr on failure. */
  kubectl(args: readonly string[], input?: string): string;
  /** Like kubectl, but returns the outcome instead of throwing. */
  tryKubectl(args: readonly string[], input?: string): { ok: boolean; stdout: string; stderr: string };
  /**
   * The Events in `default` about the object named `name` (the operator records those of cluster-scoped
   * objects there), one `reason: message` line each.
   */
  eventsAbout(name: string): string;
  /** The Events in `default` matching `fieldSelector` (`reason=Malformed`, `involvedObject.name=n1`). */
  events(fieldSelector: string): ClusterEvent[];
}

export interface ClusterEvent {
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  readonly count: number;
  readonly involvedObject: { readonly kind?: string; readonly name: string };
}

export function clusterTestContext(testFileUrl: string): ClusterTestContext {
  const kubeconfig = inject('kubeconfig');
  const binDir = inject('binDir');
  const base = path
    .basename(testFileUrl)
    .replace(/\.cluster\.test\.ts$/, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 30);
  const prefix = `${base}-${randomBytes(3).toString('hex')}`;
  const kubectlPath = path.join(binDir, 'kubectl');
  const env = { ...process.env, KUBECONFIG: kubeconfig };
  const tryKubectl = (args: readonly string[], input?: string) => {
    try {
      const stdout = execFileSync(kubectlPath, args, { env, input, encoding: 'utf8', stdio: 'pipe' });
      return { ok: true, stdout, stderr: '' };
    } catch (error) {
      const failure = error as { stdout?: string; stderr?: string };
      return { ok: false, stdout: failure.stdout ?? '', stderr: failure.stderr ?? String(error) };
    }
  };
  const kubectl = (args: readonly string[], input?: string): string => {
    const result = tryKubectl(args, input);
    if (!result.ok) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout;
  };
  return {
    kubeconfig,
    binDir,
    prefix,
    tryKubectl,
    kubectl,
    eventsAbout: (name) =>
      kubectl([
        'get',
        'events',
        '-n',
        'default',
        '--field-selector',
        `involvedObject.name=${name}`,
        '-o',
        'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}',
      ]),
    events: (fieldSelector) =>
      (
        JSON.parse(
          kubectl(['get', 'events', '-n', 'default', '--field-selector', fieldSelector, '-o', 'json']),
        ) as { items: ClusterEvent[] }
      ).items,
  };
}
