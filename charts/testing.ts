/** Helpers shared by the chart's unit and cluster tests: running helm, and reading what it renders. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { runTool } from '../local-cluster/exec.js';
import { chartDir } from './generate.js';

export { chartDir };

/** A rendered object, loosely typed: tests index into it. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** Parses as Kubernetes does (YAML 1.1: `0400` is octal, as in a volume's defaultMode). */
export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text, { version: '1.1' })
    .map((document) => document.toJS() as Manifest | null)
    .filter((object): object is Manifest => object !== null);
}

export interface HelmResult {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs helm synchronously; `values` (an object) is passed as a values file on stdin. */
export function helmSync(
  helm: string,
  args: readonly string[],
  options: { values?: unknown; kubeconfig?: string } = {},
): HelmResult {
  const withValues = options.values === undefined ? args : [...args, '--values', '-'];
  try {
    const stdout = execFileSync(helm, withValues, {
      input: options.values === undefined ? '' : JSON.stringify(options.values),
      encoding: 'utf8',
      stdio: 'pipe',
      env: helmEnv(options.kubeconfig),
    });
    return { ok: true, stdout, stderr: '' };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    return { ok: false, stdout: failure.stdout ?? '', stderr: failure.stderr ?? String(error) };
  }
}

/** Runs a binary without blocking the event loop; returns the outcome instead of throwing. */
export function runAsync(
  binary: string,
  args: readonly string[],
  options: { input?: string; kubeconfig?: string } = {},
): Promise<HelmResult> {
  return runTool(binary, args, {
    env: helmEnv(options.kubeconfig),
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
}

/** kubectl run without blocking the event loop: stdout, or an error carrying kubectl's stderr. */
export function kubectlRunner(
  kubectlBin: string,
  kubeconfig: string,
): (args: readonly string[], input?: string) => Promise<string> {
  return async (args, input) => {
    const result = await runAsync(kubectlBin, args, {
      kubeconfig,
      ...(input === undefined ? {} : { input }),
    });
    if (!result.ok) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout;
  };
}

interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec: {
    volumes?: {
      name: string;
      projected?: { sources: { serviceAccountToken?: { expirationSeconds?: number } }[] };
    }[];
  } & Record<string, unknown>;
}

/**
 * The pod the chart's CNI DaemonSet runs on `node`, made from its own pod template, as JSON for `kubectl
 * create -f -`. No kubelet runs it here: only a token bound to it matters, which carries the node's name.
 */
export function cniPodManifest(
  daemonSet: Manifest,
  pod: { readonly name: string; readonly node: string },
): string {
  const template = (daemonSet.spec as { template: PodTemplate }).template;
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod.name, namespace: daemonSet.metadata.namespace, labels: template.metadata?.labels },
    spec: { ...template.spec, nodeName: pod.node },
  });
}

/**
 * `kubectl create token` arguments for the token the kubelet projects into that pod's agent: bound to the
 * pod (so to its node) and as long-lived as the DaemonSet's projected volume asks.
 */
export function agentTokenArguments(daemonSet: Manifest, podName: string): string[] {
  const template = (daemonSet.spec as { template: PodTemplate }).template;
  const expiration = (template.spec.volumes ?? [])
    .flatMap((volume) => volume.projected?.sources ?? [])
    .find((source) => source.serviceAccountToken !== undefined)?.serviceAccountToken?.expirationSeconds;
  if (expiration === undefined)
    throw new Error(`${daemonSet.metadata.name} projects no service account token`);
  return [
    'create',
    'token',
    (template.spec.serviceAccountName as string | undefined) ?? 'default',
    '-n',
    daemonSet.metadata.namespace ?? 'default',
    `--duration=${String(expiration)}s`,
    '--bound-object-kind=Pod',
    `--bound-object-name=${podName}`,
  ];
}

/** Helm keeps its caches out of $HOME and never reads a user's repositories or plugins. */
function helmEnv(kubeconfig?: string): NodeJS.ProcessEnv {
  const cache = path.join(chartDir, '..', '..', '.cache', 'helm');
  return {
    ...process.env,
    HELM_CACHE_HOME: path.join(cache, 'cache'),
    HELM_CONFIG_HOME: path.join(cache, 'config'),
    HELM_DATA_HOME: path.join(cache, 'data'),
    ...(kubeconfig === undefined ? {} : { KUBECONFIG: kubeconfig }),
  };
}

/** `helm template` of the chart; throws with helm's message when rendering fails. */
export function renderChart(
  helm: string,
  options: { release?: string; namespace?: string; values?: unknown; valuesFiles?: readonly string[] } = {},
): Manifest[] {
  const result = helmSync(
    helm,
    [
      'template',
      options.release ?? 'rel',
      chartDir,
      '--namespace',
      options.namespace ?? 'ipam-system',
      ...(options.valuesFiles ?? []).flatMap((file) => ['--values', file]),
    ],
    { values: options.values },
  );
  if (!result.ok) throw new Error(result.stderr);
  return parseManifests(result.stdout);
}

export const findManifest = (manifests: readonly Manifest[], kind: string, name?: string): Manifest => {
  const found = manifests.find(
    (object) => object.kind === kind && (name === undefined || object.metadata.name === name),
  );
  if (!found) throw new Error(`no ${kind}${name === undefined ? '' : ` ${name}`} in the rendered chart`);
  return found;
};

/** The kinds of API objects that are cluster-scoped, among those the chart renders. */
export const clusterScopedKinds = new Set([
  'ClusterRole',
  'ClusterRoleBinding',
  'ValidatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'IPPool',
  'IPAMConfig',
  'CustomResourceDefinition',
]);

/**
 * Writes a kubeconfig (mode 0600) for `token`: the server and CA of the admin kubeconfig, the token as the
 * user. Returns `file`.
 */
export function writeTokenKubeconfig(adminKubeconfig: string, token: string, file: string): string {
  const admin = parseYaml(fs.readFileSync(adminKubeconfig, 'utf8')) as {
    clusters: { name: string; cluster: Record<string, unknown> }[];
  };
  const [server] = admin.clusters;
  if (!server) throw new Error(`${adminKubeconfig} names no cluster`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [server],
      users: [{ name: 'token', user: { token } }],
      contexts: [{ name: 'token', context: { cluster: server.name, user: 'token' } }],
      'current-context': 'token',
    }),
    { mode: 0o600 },
  );
  return file;
}
