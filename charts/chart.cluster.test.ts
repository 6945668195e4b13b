/**
 * The chart on a real API server: the rendered output accepted by `kubectl apply --dry-run=server`, then
 * one release through its life: install, RBAC checked both ways, the operator (from this repository) and
 * the node agent doing their jobs with the chart's service account tokens and nothing more (the agent
 * behind the forwarder the installer bundle installs), an upgrade with changed values, and an uninstall
 * that leaves nothing behind but what the README says it leaves (CRDs; kept pools; the operator's Lease
 * and CA Secret).
 *
 * There is no kubelet: the Deployment and DaemonSet create no pods, so the operator and the agent run as
 * child processes with their containers' environment, and the installer writes into a temporary "host".
 * Every helm and kubectl call is asynchronous, so this process never blocks while a child writes to it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorMessage } from '../common/index.js';
import { clusterTestContext } from '../local-cluster/context.js';
import { eventually } from '../local-cluster/eventually.js';
import { runTool } from '../local-cluster/exec.js';
import { agentNodeFlags } from '../agent/settings.js';
import {
  type HelmResult,
  type Manifest,
  agentTokenArguments,
  chartDir,
  cniPodManifest,
  kubectlRunner,
  parseManifests,
  renderChart,
  runAsync,
  writeTokenKubeconfig,
} from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix: p } = cluster;
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const helmBin = path.join(cluster.binDir, 'helm');
const kubectlBin = path.join(cluster.binDir, 'kubectl');
const namespace = p;
const release = p;
const fullname = `${p}-topology-ipam`;
const operatorAccount = `${fullname}-operator`;
const cniAccount = `${fullname}-cni`;
const rackLabel = `${p}.test/rack`;
const octet = randomInt(100, 250);
const cidr = (rack: number) => `10.${octet}.${rack}.0/24`;
const nodeName = (i: number) => `${p}-node-${i}`;
const instance = `app.kubernetes.io/instance=${release}`;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chart-cluster-'));
const host = path.join(tmp, 'host');

const valuesV1 = {
  // No kubelet, no pods: the webhook Service has no endpoints; fail open quickly.
  webhook: { timeoutSeconds: 2 },
  ippools: {
    perLabelValue: { label: rackLabel, cidrs: { '0': cidr(0), '1': cidr(1) }, spec: { blockSize: 26 } },
  },
  // Not the default socket: the conflist must then name it for the forwarder.
  cni: { agent: { socket: path.join(tmp, 'run', 'agent.sock') } },
};
const valuesV2 = {
  ...valuesV1,
  // Another CNI or BGP routes the blocks: the agent loses its routes' rights.
  routes: { enabled: false },
  operator: { replicas: 3, logLevel: 'debug' },
  webhook: { timeoutSeconds: 1 },
  ippools: {
    // rack 1 leaves the values (its pool is kept); rack 2 arrives.
    perLabelValue: { label: rackLabel, cidrs: { '0': cidr(0), '2': cidr(2) }, spec: { blockSize: 26 } },
  },
};
const poolName = (rack: number) => `${fullname}-rack-${rack}`;

const kubectl = kubectlRunner(kubectlBin, cluster.kubeconfig);
const tryKubectl = (args: readonly string[], input?: string): Promise<HelmResult> =>
  runAsync(kubectlBin, args, { kubeconfig: cluster.kubeconfig, ...(input === undefined ? {} : { input }) });
const helm = async (args: readonly string[], values?: unknown): Promise<string> => {
  const result = await runAsync(helmBin, values === undefined ? args : [...args, '--values', '-'], {
    kubeconfig: cluster.kubeconfig,
    ...(values === undefined ? {} : { input: JSON.stringify(values) }),
  });
  if (!result.ok) throw new Error(`helm ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
};
const getJson = async <T>(args: readonly string[]): Promise<T> =>
  JSON.parse(await kubectl(['get', ...args, '-o', 'json'])) as T;
const exists = async (args: readonly string[]) => (await tryKubectl(['get', ...args])).ok;

/** A kubeconfig for a ServiceAccount of the release: the test cluster's server and CA, a fresh token. */
async function serviceAccountKubeconfig(account: string): Promise<string> {
  const token = (await kubectl(['create', 'token', account, '-n', namespace, '--duration=1h'])).trim();
  return writeTokenKubeconfig(cluster.kubeconfig, token, path.join(tmp, `${account}.kubeconfig`));
}

async function canI(account: string, args: readonly string[]): Promise<boolean> {
  const result = await tryKubectl([
    'auth',
    'can-i',
    ...args,
    `--as=system:serviceaccount:${namespace}:${account}`,
    '--as-group=system:serviceaccounts',
    `--as-group=system:serviceaccounts:${namespace}`,
  ]);
  if (!result.ok && !/^no\b/.test(result.stdout.trim())) throw new Error(result.stderr);
  return result.ok && result.stdout.trim() === 'yes';
}

interface OperatorProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
}
let operator: OperatorProcess | undefined;
const logLines = (file: string): Record<string, unknown>[] =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
const refusals = (file: string) =>
  logLines(file).filter((line) => /forbidden|\b403\b|unauthori[sz]ed|\b401\b/i.test(JSON.stringify(line)));

/** The operator container's environment from the installed Deployment, as the kubelet would resolve it. */
async function operatorEnvironment(): Promise<Record<string, string>> {
  const deployment = await getJson<{
    spec: {
      template: { spec: { containers: { env: { name: string; value?: string; valueFrom?: unknown }[] }[] } };
    };
  }>(['deployment', operatorAccount, '-n', namespace]);
  const env: Record<string, string> = {};
  for (const variable of deployment.spec.template.spec.containers[0]?.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
  }
  return { ...env, POD_NAMESPACE: namespace, POD_NAME: `${operatorAccount}-test-0` };
}

async function startOperator(kubeconfig: string): Promise<OperatorProcess> {
  const logFile = path.join(tmp, 'operator.log');
  const fd = fs.openSync(logFile, 'w');
  const env = {
    PATH: process.env.PATH ?? '',
    ...(await operatorEnvironment()),
    KUBECONFIG: kubeconfig,
    // Any free ports on this machine; in a pod they are the container ports.
    HEALTH_PORT: '0',
    WEBHOOK_PORT: '0',
  };
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'operator', 'main.ts')], {
    cwd: repo,
    env,
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, logFile, exited };
}

async function cleanUp(): Promise<void> {
  if (operator?.child.exitCode === null) {
    operator.child.kill('SIGKILL');
    await operator.exited;
  }
  await tryKubectl([
    'delete',
    'node',
    nodeName(0),
    nodeName(1),
    nodeName(2),
    '--ignore-not-found',
    '--wait=false',
  ]);
  await runAsync(helmBin, ['uninstall', release, '-n', namespace, '--ignore-not-found'], {
    kubeconfig: cluster.kubeconfig,
  });
  // Pools that kept a finalizer because no operator is left to lift it.
  for (const rack of [0, 1, 2]) {
    await tryKubectl([
      'patch',
      'ippool',
      poolName(rack),
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    ]);
    await tryKubectl(['delete', 'ippool', poolName(rack), '--ignore-not-found', '--wait=false']);
  }
  await tryKubectl(['delete', 'namespace', namespace, '--wait=false', '--ignore-not-found']);
  fs.rmSync(tmp, { recursive: true, force: true });
}

beforeAll(async () => {
  await kubectl(['create', 'namespace', namespace]);
});

afterAll(async () => {
  await cleanUp();
});

describe('helm template, validated by the API server', () => {
  const examples = fs
    .readdirSync(path.join(chartDir, 'examples'))
    .map((name) => [name, { valuesFiles: [path.join(chartDir, 'examples', name)] }] as const);
  it.each([
    ['the defaults', {}],
    ['the test values', { values: valuesV1 }],
    [
      'the webhook and the CNI disabled',
      { values: { webhook: { enabled: false }, cni: { enabled: false } } },
    ],
    [
      'an IPAMConfig and no conflist',
      { values: { ipamConfig: { create: true }, cni: { conflist: { enabled: false } } } },
    ],
    ...examples,
  ] as const)('with %s: kubectl apply --dry-run=server accepts every object', async (_name, options) => {
    const objects = renderChart(helmBin, { release: `${p}-dry`, namespace, ...options });
    const manifest = objects.map((object) => JSON.stringify(object)).join('\n');
    const output = await kubectl(
      ['apply', '--dry-run=server', '--server-side', '--field-manager=helm-test', '-f', '-'],
      manifest,
    );
    const applied = output.trim().split('\n');
    expect(applied).toHaveLength(objects.length);
    for (const line of applied) expect(line).toMatch(/serverside-applied \(server dry run\)$/);
  });
});

describe('one release through its life', () => {
  let installed: Manifest[] = [];

  it('installs: every object created, NOTES printed, the CRDs served', async () => {
    const output = await helm(['install', release, chartDir, '--namespace', namespace], valuesV1);
    expect(output).toContain('STATUS: deployed');
    expect(output).toContain('kubectl get ippools -o wide');
    expect(output).toContain('kubectl get blockaffinities');
    expect(output).toContain('This release created 2 pool(s)');
    installed = parseManifests(await helm(['get', 'manifest', release, '--namespace', namespace]));
    expect(installed.length).toBeGreaterThanOrEqual(17);
    for (const object of installed) {
      const where = object.metadata.namespace === undefined ? [] : ['-n', object.metadata.namespace];
      expect(
        await exists([`${object.kind}/${object.metadata.name}`, ...where]),
        `${object.kind}/${object.metadata.name}`,
      ).toBe(true);
    }
    const served = (
      await kubectl(['api-resources', '--api-group=ipam.topology-ipam.dev', '-o', 'name'])
    ).split('\n');
    expect(served.filter(Boolean).sort()).toEqual(
      ['blockaffinities', 'ipamblocks', 'ipamconfigs', 'ippools', 'ipreservations'].map(
        (plural) => `${plural}.ipam.topology-ipam.dev`,
      ),
    );
    const pools = await getJson<{ items: { metadata: { name: string }; spec: Record<string, unknown> }[] }>([
      'ippools',
      '-l',
      instance,
    ]);
    expect(pools.items.map((pool) => [pool.metadata.name, pool.spec.cidr, pool.spec.nodeSelector])).toEqual([
      [poolName(0), cidr(0), `${rackLabel} == "0"`],
      [poolName(1), cidr(1), `${rackLabel} == "1"`],
    ]);
  });

  describe('RBAC, both ways', () => {
    const operatorCan: readonly (readonly string[])[] = [
      ['list', 'nodes'],
      ['watch', 'nodes'],
      ['get', 'pods', '-n', 'default'],
      ['list', 'pods', '-A'],
      ['watch', 'pods', '-A'],
      ['list', 'ippools.ipam.topology-ipam.dev'],
      ['watch', 'ippools.ipam.topology-ipam.dev'],
      ['update', 'ippools.ipam.topology-ipam.dev'],
      ['update', 'ippools.ipam.topology-ipam.dev', '--subresource=status'],
      ...['get', 'list', 'watch', 'create', 'update', 'delete'].flatMap((verb) => [
        [verb, 'ipamblocks.ipam.topology-ipam.dev'],
        [verb, 'blockaffinities.ipam.topology-ipam.dev'],
      ]),
      ['list', 'ipamconfigs.ipam.topology-ipam.dev'],
      ['watch', 'ipamconfigs.ipam.topology-ipam.dev'],
      ['list', 'ipreservations.ipam.topology-ipam.dev'],
      ['watch', 'ipreservations.ipam.topology-ipam.dev'],
      ['update', 'ipreservations.ipam.topology-ipam.dev', '--subresource=status'],
      ['get', `validatingwebhookconfigurations/${fullname}`],
      ['update', `validatingwebhookconfigurations/${fullname}`],
      ['create', 'leases.coordination.k8s.io', '-n', namespace],
      ['get', `leases.coordination.k8s.io/${fullname}-operator`, '-n', namespace],
      ['update', `leases.coordination.k8s.io/${fullname}-operator`, '-n', namespace],
      ['create', 'secrets', '-n', namespace],
      ['get', `secrets/${fullname}-webhook-ca`, '-n', namespace],
      ['create', 'events', '-n', 'default'],
      ['patch', 'events', '-n', 'default'],
      ['list', 'namespaces'],
      ['watch', 'namespaces'],
    ];
    const operatorCannot: readonly (readonly string[])[] = [
      ['*', '*'],
      ['delete', 'nodes'],
      ['update', 'nodes'],
      ['create', 'pods', '-n', namespace],
      ['get', 'namespaces/default'],
      ['update', 'namespaces/default'],
      ['list', 'secrets', '-n', namespace],
      ['get', 'secrets/other', '-n', namespace],
      ['get', `secrets/${fullname}-webhook-ca`, '-n', 'kube-system'],
      ['get', 'secrets', '-n', 'kube-system'],
      ['create', 'ippools.ipam.topology-ipam.dev'],
      ['delete', 'ippools.ipam.topology-ipam.dev'],
      ['create', 'ipreservations.ipam.topology-ipam.dev'],
      ['update', 'ipreservations.ipam.topology-ipam.dev'],
      ['get', 'ipamconfigs.ipam.topology-ipam.dev/default'],
      ['create', 'ipamconfigs.ipam.topology-ipam.dev'],
      ['update', 'validatingwebhookconfigurations/someone-else'],
      ['delete', `validatingwebhookconfigurations/${fullname}`],
      ['create', 'validatingwebhookconfigurations'],
      ['get', 'leases.coordination.k8s.io/someone-else', '-n', namespace],
      ['update', `leases.coordination.k8s.io/${fullname}-operator`, '-n', 'kube-system'],
      ['create', 'events', '-n', 'kube-system'],
      ['get', 'configmaps', '-n', namespace],
    ];
    const cniCan: readonly (readonly string[])[] = [
      ...['get', 'list', 'watch', 'create', 'update', 'delete'].map((verb) => [
        verb,
        'ipamblocks.ipam.topology-ipam.dev',
      ]),
      // With routes (the default), every affinity: list and watch.
      ...['get', 'create', 'update', 'delete', 'list', 'watch'].map((verb) => [
        verb,
        'blockaffinities.ipam.topology-ipam.dev',
      ]),
      ['list', 'ippools.ipam.topology-ipam.dev'],
      ['watch', 'ippools.ipam.topology-ipam.dev'],
      ...['get', 'list', 'watch'].map((verb) => [verb, 'ipamconfigs.ipam.topology-ipam.dev/default']),
      ['list', 'ipreservations.ipam.topology-ipam.dev'],
      ['watch', 'ipreservations.ipam.topology-ipam.dev'],
      ['get', 'nodes/any-node'],
      ['list', 'nodes'],
      ['watch', 'nodes'],
      ...['get', 'list', 'watch'].flatMap((verb) => [
        [verb, 'pods', '-A'],
        [verb, 'namespaces'],
      ]),
      // Events on its Node when a route or natOutgoing sync fails or recovers.
      ['create', 'events', '-n', 'default'],
      ['patch', 'events', '-n', 'default'],
    ];
    const cniCannot: readonly (readonly string[])[] = [
      ['*', '*'],
      ['get', 'secrets', '-n', namespace],
      ['list', 'secrets', '-A'],
      ['get', `secrets/${fullname}-webhook-ca`, '-n', namespace],
      ['update', 'ippools.ipam.topology-ipam.dev'],
      ['update', 'ippools.ipam.topology-ipam.dev', '--subresource=status'],
      ['create', 'ippools.ipam.topology-ipam.dev'],
      ['delete', 'ippools.ipam.topology-ipam.dev'],
      ['update', 'ipamconfigs.ipam.topology-ipam.dev'],
      ['list', 'ipamconfigs.ipam.topology-ipam.dev'],
      ['get', 'ipamconfigs.ipam.topology-ipam.dev/other'],
      ...['create', 'update', 'patch', 'delete'].flatMap((verb) => [
        [verb, 'pods', '-n', 'default'],
        [verb, 'namespaces/default'],
      ]),
      ['create', 'pods', '--subresource=eviction', '-n', 'default'],
      ['create', 'pods', '--subresource=exec', '-n', 'default'],
      ['get', 'pods', '--subresource=log', '-n', 'default'],
      ['create', 'ipreservations.ipam.topology-ipam.dev'],
      ['update', 'ipreservations.ipam.topology-ipam.dev'],
      ['delete', 'ipreservations.ipam.topology-ipam.dev'],
      ['update', 'nodes'],
      ['patch', 'nodes'],
      ['create', 'serviceaccounts/token', '-n', namespace],
      ['create', 'leases.coordination.k8s.io', '-n', namespace],
      ['create', 'events', '-n', 'kube-system'],
      ['delete', 'events', '-n', 'default'],
      ['list', 'events', '-n', 'default'],
    ];

    // Asked all at once, four kubectl processes at a time; each test then reads its answer.
    const answers = new Map<string, boolean>();
    const key = (account: string, args: readonly string[]) => `${account} ${args.join(' ')}`;
    beforeAll(async () => {
      const questions = [
        ...[...operatorCan, ...operatorCannot].map((args) => [operatorAccount, args] as const),
        ...[...cniCan, ...cniCannot].map((args) => [cniAccount, args] as const),
      ];
      const ask = async (): Promise<void> => {
        for (let next = questions.shift(); next !== undefined; next = questions.shift()) {
          answers.set(key(next[0], next[1]), await canI(next[0], next[1]));
        }
      };
      await Promise.all([ask(), ask(), ask(), ask()]);
    });
    const table = (list: readonly (readonly string[])[]) =>
      list.map((args) => [args.join(' '), args] as const);

    it.each(table(operatorCan))('the operator can %s', (_name, args) => {
      expect(answers.get(key(operatorAccount, args))).toBe(true);
    });
    it.each(table(operatorCannot))('the operator cannot %s', (_name, args) => {
      expect(answers.get(key(operatorAccount, args))).toBe(false);
    });
    it.each(table(cniCan))('the CNI plugin can %s', (_name, args) => {
      expect(answers.get(key(cniAccount, args))).toBe(true);
    });
    it.each(table(cniCannot))('the CNI plugin cannot %s', (_name, args) => {
      expect(answers.get(key(cniAccount, args))).toBe(false);
    });
  });

  /** Runs `check`; if it fails, the error carries the operator's refusals and last log lines. */
  async function withOperatorLog(check: () => Promise<void>): Promise<void> {
    try {
      await check();
    } catch (error) {
      if (!operator) throw error;
      const lines = logLines(operator.logFile);
      throw new Error(
        `${errorMessage(error)}\noperator refusals: ${JSON.stringify(refusals(operator.logFile), null, 1)}\nlast log lines: ${JSON.stringify(lines.slice(-15), null, 1)}`,
        { cause: error },
      );
    }
  }

  it("the operator does its job with the chart's ServiceAccount and nothing more", () =>
    withOperatorLog(async () => {
      for (const [i, rack] of [
        [0, '0'],
        [1, '1'],
        [2, '2'],
      ] as const) {
        await kubectl(
          ['create', '-f', '-'],
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'Node',
            metadata: { name: nodeName(i), labels: { [rackLabel]: rack } },
          }),
        );
      }
      operator = await startOperator(await serviceAccountKubeconfig(operatorAccount));
      const blockOf = async (i: number) =>
        (
          await getJson<{ items: { spec: { cidr: string; pool: string; node: string } }[] }>([
            'ipamblocks',
            '-l',
            `ipam.topology-ipam.dev/node=${nodeName(i)}`,
          ])
        ).items;
      const [rack0, rack1] = await eventually(
        async () => {
          const blocks = await Promise.all([blockOf(0), blockOf(1)]);
          return blocks.every((list) => list.length === 1) ? blocks.map((list) => list[0]) : undefined;
        },
        { timeoutMs: 60_000 },
      );
      expect(rack0?.spec.pool).toBe(poolName(0));
      expect(rack0?.spec.cidr).toMatch(new RegExp(`^10\\.${octet}\\.0\\.`));
      expect(rack1?.spec.pool).toBe(poolName(1));
      expect(rack1?.spec.cidr).toMatch(new RegExp(`^10\\.${octet}\\.1\\.`));
      expect(await blockOf(2)).toEqual([]);
      // Pool status (ippools/status), the leader's Lease, the webhook CA Secret and caBundle, an Event.
      const pool = await eventually(async () => {
        const current = await getJson<{
          status?: { conditions?: { type: string; status: string }[]; allocatedBlocks?: number };
        }>(['ippool', poolName(0)]);
        return current.status?.allocatedBlocks === 1 ? current : undefined;
      });
      expect(pool.status?.conditions?.[0]).toMatchObject({ type: 'Allocatable', status: 'True' });
      const lease = await getJson<{ spec: { holderIdentity?: string } }>([
        'lease',
        `${fullname}-operator`,
        '-n',
        namespace,
      ]);
      expect(lease.spec.holderIdentity).toBe(`${operatorAccount}-test-0`);
      await eventually(() =>
        exists(['secret', `${fullname}-webhook-ca`, '-n', namespace]).then((found) => found || undefined),
      );
      const bundle = await eventually(async () => {
        const vwc = await getJson<{ webhooks: { clientConfig: { caBundle?: string } }[] }>([
          'validatingwebhookconfiguration',
          fullname,
        ]);
        return vwc.webhooks[0]?.clientConfig.caBundle;
      });
      expect(Buffer.from(bundle, 'base64').toString()).toContain('BEGIN CERTIFICATE');
      await eventually(async () => {
        const events = await getJson<{ items: { reason: string }[] }>([
          'events',
          '-n',
          'default',
          '--field-selector',
          `involvedObject.name=${nodeName(2)}`,
        ]);
        return events.items.some((event) => event.reason === 'NoPoolSelectsNode') || undefined;
      });
      expect(refusals(operator.logFile)).toEqual([]);
      expect(operator.child.exitCode).toBeNull();
    }));

  /** What the kubelet would set in `container` of the installed DaemonSet (literal values only). */
  async function daemonSetEnvironment(container: string): Promise<Record<string, string>> {
    const daemonSet = await getJson<{
      spec: {
        template: { spec: { containers: { name: string; env: { name: string; value?: string }[] }[] } };
      };
    }>(['daemonset', cniAccount, '-n', namespace]);
    const found = daemonSet.spec.template.spec.containers.find((candidate) => candidate.name === container);
    if (!found) throw new Error(`the DaemonSet has no container ${container}`);
    return Object.fromEntries(
      found.env.flatMap((variable) =>
        variable.value === undefined ? [] : [[variable.name, variable.value]],
      ),
    );
  }

  const image = path.join(tmp, 'image');
  const binDir = path.join(host, 'opt', 'cni', 'bin');
  const netDir = path.join(host, 'etc', 'cni', 'net.d');
  const runNode = (script: string, env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [script], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.once('exit', (code) => {
        resolve({ code, stdout });
      });
    });

  it("the installer, run as the DaemonSet runs it, puts only the forwarder and a conflist naming the agent's socket on the host", async () => {
    // The forwarder and the installer bundle the CNI image carries, side by side as in the image.
    const built = await runAsync(process.execPath, [
      '--import',
      'tsx',
      path.join(repo, 'scripts', 'build.ts'),
      '--out-dir',
      image,
      'forwarder',
      'installer',
    ]);
    expect(built.stderr).toBe('');
    const installRun = await runNode(path.join(image, 'installer.mjs'), {
      ...(await daemonSetEnvironment('install-cni')),
      WATCH: 'false',
      NODE_NAME: nodeName(0),
      CNI_BIN_DIR: binDir,
      CNI_NET_DIR: netDir,
      SOURCE_DIR: image,
    });
    expect(installRun.code, installRun.stdout).toBe(0);
    // The forwarder under its two names: the IPAM, and the chained plugin of the pods' default routes.
    expect(fs.readdirSync(binDir)).toEqual(['topology-ipam', 'topology-ipam-routes']);
    expect(fs.readdirSync(netDir)).toEqual(['10-topology-ipam.conflist']);
    const conflist = JSON.parse(fs.readFileSync(path.join(netDir, '10-topology-ipam.conflist'), 'utf8')) as {
      plugins: Record<string, unknown>[];
    };
    expect(conflist.plugins[0]?.ipam).toEqual({
      type: 'topology-ipam',
      assign_ipv4: true,
      assign_ipv6: false,
      agent_socket: valuesV1.cni.agent.socket,
      // The chart's main plugin is ptp, which routes each pod through a link-local gateway.
      link_local_gateway: true,
    });
  });

  it("the node agent, with the DaemonSet's environment and its pod's token, assigns and releases an address through the installed forwarder", async () => {
    // The agent bundle the CNI image carries: `npm run build` makes it.
    const built = await runAsync(process.execPath, [
      '--import',
      'tsx',
      path.join(repo, 'scripts', 'build.ts'),
      'agent',
    ]);
    expect(built.stderr).toBe('');
    // The DaemonSet's pod on node 0, and the token the kubelet would project into it (bound to the pod,
    // so carrying node 0, as the chart's node restriction requires).
    const daemonSet = await getJson<Manifest>(['daemonset', cniAccount, '-n', namespace]);
    const agentPod = 'agent-0';
    await kubectl(['create', '-f', '-'], cniPodManifest(daemonSet, { name: agentPod, node: nodeName(0) }));
    const token = (await kubectl(agentTokenArguments(daemonSet, agentPod))).trim();
    // In a pod the agent reads that token at the in-cluster path; here a kubeconfig names it.
    const kubeconfig = writeTokenKubeconfig(cluster.kubeconfig, token, path.join(tmp, 'agent.kubeconfig'));
    const healthPort = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => {
          resolve(port);
        });
      });
    });
    const env = await daemonSetEnvironment('agent');
    expect(env.AGENT_SOCKET).toBe(valuesV1.cni.agent.socket);
    expect(env.ROUTES).toBe('true');
    expect(env.NAT_OUTGOING).toBe('true');
    // The folders the kubelet makes for the DaemonSet's hostPath volumes (DirectoryOrCreate: 0755).
    fs.mkdirSync(path.dirname(valuesV1.cni.agent.socket), { recursive: true, mode: 0o755 });
    const agentLog = path.join(tmp, 'agent.log');
    const fd = fs.openSync(agentLog, 'w');
    const agent = spawn(
      process.execPath,
      [...agentNodeFlags, path.join(repo, 'dist', 'agent', 'agent.mjs')],
      {
        env: {
          ...env,
          // Not this machine's own routing table nor nftables: agent/routes/, agent/nat/ and cni/e2e/
          // check them in namespaces.
          ROUTES: 'false',
          NAT_OUTGOING: 'false',
          NODE_NAME: nodeName(0),
          KUBECONFIG: kubeconfig,
          HEALTH_PORT: String(healthPort),
          HEALTH_ADDRESS: '127.0.0.1',
        },
        stdio: ['ignore', fd, fd],
      },
    );
    fs.closeSync(fd);
    const agentExited = new Promise<number | null>((resolve) => agent.once('exit', resolve));
    try {
      const stoppedEarly = agentExited.then((code) => {
        const lines = fs.readFileSync(agentLog, 'utf8').split('\n').slice(-20).join('\n');
        throw new Error(`the agent exited (code ${String(code)}) before it was ready:\n${lines}`);
      });
      await Promise.race([
        stoppedEarly,
        eventually(
          async () => {
            const ready = await fetch(`http://127.0.0.1:${String(healthPort)}/readyz`).catch(() => undefined);
            return ready?.ok === true || undefined;
          },
          { timeoutMs: 60_000 },
        ),
      ]);
      const conflist = JSON.parse(
        fs.readFileSync(path.join(netDir, '10-topology-ipam.conflist'), 'utf8'),
      ) as {
        cniVersion: string;
        name: string;
        plugins: Record<string, unknown>[];
      };
      // As a runtime calls the main plugin, which passes its configuration on to its IPAM plugin.
      const config = JSON.stringify({
        cniVersion: conflist.cniVersion,
        name: conflist.name,
        ...conflist.plugins[0],
      });
      const invoke = (command: 'ADD' | 'DEL') =>
        runTool(path.join(binDir, 'topology-ipam'), [], {
          input: config,
          env: {
            PATH: '',
            CNI_COMMAND: command,
            CNI_CONTAINERID: `${p}-container`,
            CNI_NETNS: `/var/run/netns/${p}`,
            CNI_IFNAME: 'eth0',
            CNI_PATH: binDir,
            CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=pod-0`,
          },
        });
      const added = await invoke('ADD');
      expect(added.ok, added.stdout + added.stderr).toBe(true);
      const result = JSON.parse(added.stdout) as { ips: { address: string; gateway?: string }[] };
      // With the link-local gateway (ptp) the address carries its pool's prefix (rack 0's /24), not its block's.
      expect(result.ips[0]?.address).toMatch(new RegExp(`^10\\.${octet}\\.0\\.\\d+/24$`));
      expect(result.ips[0]?.gateway).toBe('169.254.1.1');
      const deleted = await invoke('DEL');
      expect(deleted.ok, deleted.stdout + deleted.stderr).toBe(true);
      agent.kill('SIGTERM');
      expect(await agentExited).toBe(0);
      const refused = fs
        .readFileSync(agentLog, 'utf8')
        .split('\n')
        .filter((line) => /forbidden|\b403\b|unauthori[sz]ed|\b401\b/i.test(line));
      expect(refused).toEqual([]);
    } finally {
      if (agent.exitCode === null) agent.kill('SIGKILL');
      // A kubelet would remove the pod with the DaemonSet; none runs here to confirm a graceful delete.
      await kubectl(['delete', 'pod', agentPod, '-n', namespace, '--force', '--grace-period=0']);
    }
  });

  it('upgrades with changed values: new pool, dropped pool kept, operator settings rolled', async () => {
    const bundleBefore = (
      await getJson<{ webhooks: { clientConfig: { caBundle?: string } }[] }>([
        'validatingwebhookconfiguration',
        fullname,
      ])
    ).webhooks[0]?.clientConfig.caBundle;
    await helm(['upgrade', release, chartDir, '--namespace', namespace], valuesV2);
    const deployment = await getJson<{
      spec: {
        replicas: number;
        template: { spec: { containers: { env: { name: string; value?: string }[] }[] } };
      };
    }>(['deployment', operatorAccount, '-n', namespace]);
    expect(deployment.spec.replicas).toBe(3);
    expect(
      deployment.spec.template.spec.containers[0]?.env.find((variable) => variable.name === 'LOG_LEVEL')
        ?.value,
    ).toBe('debug');
    const vwc = await getJson<{
      webhooks: { timeoutSeconds: number; clientConfig: { caBundle?: string } }[];
    }>(['validatingwebhookconfiguration', fullname]);
    expect(vwc.webhooks[0]?.timeoutSeconds).toBe(1);
    // The chart never sets caBundle, so the upgrade leaves the operator's alone.
    expect(vwc.webhooks[0]?.clientConfig.caBundle).toBe(bundleBefore);
    // Routes turned off: the agent may no longer list or watch every BlockAffinity, and runs none.
    for (const verb of ['list', 'watch'])
      expect(await canI(cniAccount, [verb, 'blockaffinities.ipam.topology-ipam.dev'])).toBe(false);
    expect(await canI(cniAccount, ['get', 'blockaffinities.ipam.topology-ipam.dev'])).toBe(true);
    expect(await daemonSetEnvironment('agent')).not.toHaveProperty('ROUTES');
    // rack-1 left the values but is kept (helm.sh/resource-policy: keep); rack-2 is new and its node gets a block.
    expect(await exists(['ippool', poolName(1)])).toBe(true);
    expect(await exists(['ippool', poolName(2)])).toBe(true);
    await eventually(
      async () => {
        const blocks = await getJson<{ items: { spec: { pool: string } }[] }>([
          'ipamblocks',
          '-l',
          `ipam.topology-ipam.dev/node=${nodeName(2)}`,
        ]);
        return blocks.items[0]?.spec.pool === poolName(2) || undefined;
      },
      { timeoutMs: 60_000 },
    );
    const history = await helm(['history', release, '--namespace', namespace, '-o', 'json']);
    expect((JSON.parse(history) as { status: string }[]).map((entry) => entry.status)).toEqual([
      'superseded',
      'deployed',
    ]);
  });

  it('releases blocks and pools while the operator runs, then stops it cleanly', async () => {
    if (!operator) throw new Error('the operator is not running');
    await kubectl(['delete', 'node', nodeName(0), nodeName(1), nodeName(2)]);
    await eventually(
      async () => {
        const blocks = await getJson<{ items: { spec: { node: string } }[] }>(['ipamblocks']);
        return blocks.items.some((block) => block.spec.node.startsWith(`${p}-`)) ? undefined : true;
      },
      { timeoutMs: 60_000 },
    );
    // The README's way to remove the chart's pools: while the operator runs, which lifts their finalizers.
    await kubectl(['delete', 'ippools', '-l', instance, '--wait=false']);
    await eventually(
      async () =>
        (await getJson<{ items: unknown[] }>(['ippools', '-l', instance])).items.length === 0
          ? true
          : undefined,
      { timeoutMs: 60_000 },
    );
    operator.child.kill('SIGTERM');
    expect(await operator.exited).toBe(0);
    expect(refusals(operator.logFile)).toEqual([]);
    const lease = await getJson<{ spec: { holderIdentity?: string | null } }>([
      'lease',
      `${fullname}-operator`,
      '-n',
      namespace,
    ]);
    expect(lease.spec.holderIdentity ?? null).toBeNull();
  });

  it('uninstalls, leaving only the CRDs and what the operator created in its namespace', async () => {
    await helm(['uninstall', release, '--namespace', namespace, '--wait']);
    for (const object of installed) {
      const where = object.metadata.namespace === undefined ? [] : ['-n', object.metadata.namespace];
      expect(
        await exists([`${object.kind}/${object.metadata.name}`, ...where]),
        `${object.kind}/${object.metadata.name}`,
      ).toBe(false);
    }
    const leftovers = await kubectl([
      'get',
      'clusterroles,clusterrolebindings,validatingwebhookconfigurations,ippools,ipamconfigs',
      '-l',
      instance,
      '-o',
      'name',
    ]);
    expect(leftovers.trim()).toBe('');
    const inDefault = await kubectl([
      'get',
      'roles,rolebindings',
      '-n',
      'default',
      '-l',
      instance,
      '-o',
      'name',
    ]);
    expect(inDefault.trim()).toBe('');
    const inNamespace = await kubectl([
      'get',
      'all,serviceaccounts,roles,rolebindings,secrets,leases',
      '-n',
      namespace,
      '-o',
      'name',
    ]);
    expect(
      inNamespace
        .trim()
        .split('\n')
        .filter((name) => name !== '' && !name.startsWith('serviceaccount/default'))
        .sort(),
    ).toEqual([`lease.coordination.k8s.io/${fullname}-operator`, `secret/${fullname}-webhook-ca`]);
    expect(await exists(['crd', 'ippools.ipam.topology-ipam.dev'])).toBe(true);
  });
});
