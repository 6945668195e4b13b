/**
 * The webhook on a real API server: kubectl apply goes through kube-apiserver, which calls our HTTPS
 * server on 127.0.0.1 with the caBundle our code patched in. The webhook runs in this process, so every
 * kubectl call that reaches it must not block the event loop: `kubectlAsync`, never `cluster.kubectl`.
 */
import { X509Certificate } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitFromAnnotation } from '../../api/index.js';
import { callbackLogger } from '../../common/index.js';
import { Informer, ResourceClient } from '../../kube/index.js';
import { adminClients } from '../../local-cluster/clients.js';
import { clusterTestContext } from '../../local-cluster/context.js';
import { type ToolResult, runTool } from '../../local-cluster/exec.js';
import { type Secret, secretResourceType } from './ca-store.js';
import { ipPoolReview } from './testing.js';
import {
  type AdmissionWebhook,
  type ValidatingWebhookConfiguration,
  caBundleOf,
  startAdmissionWebhook,
  validatingWebhookConfigurationType,
} from './index.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const namespace = prefix;
const serviceName = 'topology-ipam-webhook';
const vwcName = `${prefix}-ippools`;
const testLabel = 'webhook-test.topology-ipam.dev/file';

const { client, resources } = adminClients(cluster.kubeconfig);
const configs = new ResourceClient<ValidatingWebhookConfiguration>(
  client,
  validatingWebhookConfigurationType,
);
const secrets = new ResourceClient<Secret>(client, secretResourceType);
const stop = new AbortController();
const informer = new Informer(resources.pools, { labelSelector: `${testLabel}=${prefix}` });
const blockInformer = new Informer(resources.blocks, { labelSelector: `${testLabel}=${prefix}` });
const registry = new Registry();
const logs: { level: string; message: string; fields: Record<string, unknown> }[] = [];
const started: AdmissionWebhook[] = [];
let webhook: AdmissionWebhook;

function kubectlAsync(args: readonly string[], input?: string): Promise<ToolResult> {
  return runTool(path.join(cluster.binDir, 'kubectl'), args, {
    env: { ...process.env, KUBECONFIG: cluster.kubeconfig },
    ...(input !== undefined ? { input } : {}),
  });
}

function poolManifest(
  name: string,
  spec: Record<string, unknown>,
  annotations: Record<string, string> = {},
): string {
  return JSON.stringify({
    apiVersion: 'ipam.topology-ipam.dev/v1alpha1',
    kind: 'IPPool',
    metadata: { name: `${prefix}-${name}`, labels: { [testLabel]: prefix }, annotations },
    spec,
  });
}

const apply = (name: string, spec: Record<string, unknown>, dryRun = false) =>
  kubectlAsync(['apply', ...(dryRun ? ['--dry-run=server'] : []), '-f', '-'], poolManifest(name, spec));

async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  explain: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const recent = logs.slice(-5).map((entry) => JSON.stringify(entry));
      throw new Error(`timed out waiting for ${what}: ${explain()}\n${recent.join('\n')}`);
    }
    await sleep(250);
  }
}

function start(
  options: { caSecretName?: string; webhookConfigurationName?: string; certificateLifetimeMs?: number } = {},
): Promise<AdmissionWebhook> {
  return startAdmissionWebhook({
    client,
    namespace,
    serviceName,
    webhookConfigurationName: options.webhookConfigurationName ?? vwcName,
    ...(options.caSecretName === undefined ? {} : { caSecretName: options.caSecretName }),
    host: '127.0.0.1',
    port: 0,
    ipSans: ['127.0.0.1'],
    ...(options.certificateLifetimeMs === undefined
      ? {}
      : { certificateLifetimeMs: options.certificateLifetimeMs }),
    pools: () => informer.list(),
    blocks: () => blockInformer.list(),
    registry,
    log: callbackLogger((level, message, fields) => {
      logs.push({ level, message, fields });
    }),
  }).then((instance) => {
    started.push(instance);
    return instance;
  });
}

/** The certificate a webhook serves now, verified against `caPem` and 127.0.0.1. */
function servedCertificate(port: number, caPem: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: caPem }, () => {
      const peer = socket.getPeerX509Certificate();
      socket.end();
      if (peer === undefined) reject(new Error('no peer certificate'));
      else resolve(peer);
    });
    socket.on('error', reject);
  });
}

/** POSTs a review straight to a webhook, trusting only `caPem`. */
function postReview(
  port: number,
  caPem: string,
  review: unknown,
): Promise<{ response?: { allowed: boolean; status?: { message: string } } }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/validate-ippool',
        method: 'POST',
        ca: caPem,
        agent: false,
        headers: { 'Content-Type': 'application/json' },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          resolve(JSON.parse(text) as { response?: { allowed: boolean; status?: { message: string } } });
        });
      },
    );
    request.on('error', reject);
    request.end(JSON.stringify(review));
  });
}

beforeAll(async () => {
  cluster.kubectl(['create', 'namespace', namespace]);
  void informer.run(stop.signal);
  void blockInformer.run(stop.signal);
  await Promise.all([informer.synced, blockInformer.synced]);
  // The webhook starts before its configuration exists, as the operator may before the chart's objects.
  webhook = await start();
  const configuration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: vwcName },
    webhooks: [
      {
        name: 'ippools.ipam.topology-ipam.dev',
        clientConfig: { url: `https://127.0.0.1:${webhook.port}/validate-ippool` },
        rules: [
          {
            apiGroups: ['ipam.topology-ipam.dev'],
            apiVersions: ['v1alpha1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['ippools'],
            scope: 'Cluster',
          },
        ],
        // Only this file's pools: other test files share the API server.
        objectSelector: { matchLabels: { [testLabel]: prefix } },
        failurePolicy: 'Fail',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 5,
      },
    ],
  };
  const created = await kubectlAsync(['create', '-f', '-'], JSON.stringify(configuration));
  if (!created.ok) throw new Error(created.stderr);
  // Until the caBundle is patched and the API server has reloaded the configuration, calls fail on TLS.
  let last = '';
  await eventually(
    'the API server to call the webhook',
    async () => {
      const probe = await apply('probe', { cidr: '10.250.0.0/24', nodeSelector: 'rack == ' }, true);
      last = probe.stderr || probe.stdout;
      // Only the webhook parses selectors; kubectl prints its causes as `The IPPool "…" is invalid: …`.
      return probe.stderr.includes('cannot parse selector') ? probe : undefined;
    },
    60_000,
    () => last,
  );
}, 120_000);

afterAll(async () => {
  stop.abort();
  await Promise.all(started.map((instance) => instance.close()));
  await kubectlAsync(['delete', 'validatingwebhookconfiguration', vwcName, '--ignore-not-found']);
  await kubectlAsync(['delete', 'ippools', '-l', `${testLabel}=${prefix}`, '--ignore-not-found']);
  await kubectlAsync(['delete', 'ipamblocks', '-l', `${testLabel}=${prefix}`, '--ignore-not-found']);
  await kubectlAsync(['delete', 'secrets', '--all', '-n', namespace, '--ignore-not-found']);
  // No namespace controller runs on the bare control plane: the namespace would stay Terminating.
  await kubectlAsync(['delete', 'namespace', namespace, '--wait=false', '--ignore-not-found']);
  client.close();
});

describe('the admission webhook on a real API server', () => {
  it('patched the caBundle of the configuration to its CA', async () => {
    const configuration = await configs.get(vwcName);
    expect(configuration.webhooks?.[0]?.clientConfig.caBundle).toBe(caBundleOf(webhook.caPem));
    expect(new X509Certificate(webhook.caPem).ca).toBe(true);
  });

  it('refuses at kubectl apply a pool that overlaps an existing one, with the overlap', async () => {
    const first = await apply('default', { cidr: '192.168.0.0/16' });
    expect(first.stderr).toBe('');
    expect(first.ok).toBe(true);
    // The webhook sees pools through the informer, as in the operator.
    await eventually('the informer to see the first pool', () =>
      Promise.resolve(informer.get(`${prefix}-default`)),
    );
    const second = await apply('rack-1', { cidr: '192.168.1.0/24', nodeSelector: 'rack == "1"' });
    expect(second.ok).toBe(false);
    expect(second.stderr).toContain(
      `IPPool "${prefix}-rack-1" 192.168.1.0/24 overlaps IPPool "${prefix}-default" 192.168.0.0/16 (contains it)`,
    );
    const listed = await kubectlAsync([
      'get',
      'ippool',
      `${prefix}-rack-1`,
      '--ignore-not-found',
      '-o',
      'name',
    ]);
    expect(listed.stdout).toBe('');
  });

  it('admits a pool split out of a disabled pool it names (kubectl ipam split), not while that pool is enabled', async () => {
    expect((await apply('whole', { cidr: '10.252.0.0/16' })).ok).toBe(true);
    await eventually('the informer to see the pool', () => Promise.resolve(informer.get(`${prefix}-whole`)));
    const half = poolManifest(
      'whole-0',
      { cidr: '10.252.0.0/17' },
      { [splitFromAnnotation]: `${prefix}-whole` },
    );
    const refused = await kubectlAsync(['apply', '-f', '-'], half);
    expect(refused.ok).toBe(false);
    expect(refused.stderr).toContain(
      `IPPool "${prefix}-whole-0" 10.252.0.0/17 overlaps IPPool "${prefix}-whole" 10.252.0.0/16 (contains it)`,
    );
    expect((await apply('whole', { cidr: '10.252.0.0/16', disabled: true })).ok).toBe(true);
    await eventually('the informer to see the pool disabled', () =>
      Promise.resolve(informer.get(`${prefix}-whole`)?.spec.disabled === true ? true : undefined),
    );
    const admitted = await kubectlAsync(['apply', '-f', '-'], half);
    expect(admitted.stderr).toBe('');
    expect(admitted.ok).toBe(true);
  });

  it('refuses a selector that does not parse, with the position', async () => {
    const result = await apply('bad-selector', { cidr: '10.251.0.0/24', nodeSelector: 'rack == ' });
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain(
      'spec.nodeSelector: cannot parse selector "rack == ": expected string at position 8',
    );
  });

  it('refuses a namespaceSelector that does not parse, with the position, and admits a good one', async () => {
    const result = await apply('bad-namespaces', { cidr: '10.251.1.0/24', namespaceSelector: 'tenant == ' });
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain(
      'spec.namespaceSelector: cannot parse selector "tenant == ": expected string at position 10',
    );
    const good = await apply('tenant-a', { cidr: '10.251.2.0/24', namespaceSelector: 'tenant == "a"' });
    expect(good.ok, good.stderr).toBe(true);
  });

  it('refuses a change to an immutable field', async () => {
    // The CRD's CEL rules refuse it before admission webhooks run, so kubectl shows the API server's text;
    // the webhook's own refusal of the same change is checked below on a review sent to it directly.
    const result = await apply('default', { cidr: '192.169.0.0/16' });
    expect(result.ok).toBe(false);
    expect(result.stderr).toMatch(/spec\.cidr.*(cidr is immutable|cidr cannot be changed)/);

    const stored = informer.get(`${prefix}-default`);
    if (stored === undefined) throw new Error('the informer lost the pool');
    const answer = await postReview(
      webhook.port,
      webhook.caPem,
      ipPoolReview({
        uid: 'direct-1',
        name: stored.metadata.name,
        operation: 'UPDATE',
        object: { ...stored, spec: { ...stored.spec, blockSize: 28 } },
        oldObject: stored,
      }),
    );
    expect(answer.response?.allowed).toBe(false);
    expect(answer.response?.status?.message).toBe(
      'spec.blockSize: blockSize cannot be changed (was 26); create a new pool instead',
    );
  });

  it.each([
    ['0.0.0.0/16', '"this network" range 0.0.0.0/8'],
    ['127.0.0.0/24', 'loopback range 127.0.0.0/8'],
    ['224.0.0.0/24', 'multicast range 224.0.0.0/4'],
    ['255.255.255.0/24', 'reserved (with broadcast 255.255.255.255) range 240.0.0.0/4'],
    ['::/1', 'loopback range ::1/128'],
    ['::/80', 'IPv4-mapped range ::ffff:0.0.0.0/96'],
    ['ff02::/120', 'multicast range ff00::/8'],
  ])('refuses in its own review a pool over %s, naming the field and the range', async (cidr, range) => {
    // The CRD's CEL refuses these before the API server calls the webhook; the webhook must too, for a
    // cluster whose CRDs are older than the webhook.
    const answer = await postReview(
      webhook.port,
      webhook.caPem,
      ipPoolReview({
        uid: `reserved-${cidr}`,
        operation: 'CREATE',
        object: {
          metadata: { name: `${prefix}-reserved` },
          spec: { cidr, blockSize: cidr.includes(':') ? 128 : 32 },
        },
      }),
    );
    expect(answer.response?.allowed).toBe(false);
    const lines = answer.response?.status?.message.split('\n') ?? [];
    const naming = lines.filter(
      (line) =>
        line.startsWith('spec.cidr: ') && line.endsWith(`the ${range}, which cannot be used for a pool`),
    );
    expect(naming, lines.join('\n')).toHaveLength(1);
  });

  it('admits a pool asking for encapsulation or no BGP export, and kubectl shows why it has no effect', async () => {
    const result = await apply('tunnelled', {
      cidr: '10.236.0.0/24',
      ipipMode: 'Always',
      disableBGPExport: true,
    });
    expect(result.ok).toBe(true);
    expect(result.stderr).toContain(
      'Warning: spec.ipipMode: Always has no effect: topology-ipam does not encapsulate',
    );
    expect(result.stderr).toContain('Warning: spec.disableBGPExport: true has no effect');
    const plain = await apply('plain', { cidr: '10.237.0.0/24' });
    expect(plain.stderr).toBe('');
  });

  it('refuses a pool whose block size differs from a block already in its range, naming the block', async () => {
    await resources.blocks.create({
      metadata: { name: '10-254-0-16-28', labels: { [testLabel]: prefix } },
      spec: { cidr: '10.254.0.16/28', pool: `${prefix}-gone`, node: 'node-a', allocations: [], cooling: [] },
    });
    await eventually('the informer to see the block', () => Promise.resolve(blockInformer.list()[0]));
    const refused = await apply('over-old-blocks', { cidr: '10.254.0.0/24', blockSize: 26 });
    expect(refused.ok).toBe(false);
    expect(refused.stderr).toContain(
      'spec.blockSize: block 10.254.0.16/28 already exists in 10.254.0.0/24 with another size than /26',
    );
    const matching = await apply('over-old-blocks', { cidr: '10.254.0.0/24', blockSize: 28 });
    expect(matching.stderr).toBe('');
    expect(matching.ok).toBe(true);
  });

  it('lets the CIDR be rewritten into its canonical text, as Calico does', async () => {
    const created = await apply('respelled', { cidr: 'FD00:254:0:0::/120' });
    expect(created.stderr).toBe('');
    const canonical = await apply('respelled', { cidr: 'fd00:254::/120' });
    expect(canonical.stderr).toBe('');
    expect(canonical.ok).toBe(true);
    const moved = await apply('respelled', { cidr: 'fd00:255::/120' });
    expect(moved.ok).toBe(false);
    expect(moved.stderr).toContain('cidr is immutable');
  });

  it('lets a metadata-only update through', async () => {
    const labelled = await kubectlAsync(['label', 'ippool', `${prefix}-default`, 'team=network']);
    expect(labelled.stderr).toBe('');
    expect(labelled.ok).toBe(true);
  });

  it('counted its decisions', async () => {
    const metric = await registry.getSingleMetric('topology_ipam_webhook_decisions_total')?.get();
    const refusedCreates = metric?.values.find(
      (v) => v.labels.operation === 'CREATE' && v.labels.allowed === 'false',
    );
    expect(refusedCreates?.value).toBeGreaterThanOrEqual(3);
  });

  it('restores the caBundle when someone resets it (a helm upgrade)', async () => {
    const reset = await kubectlAsync([
      'patch',
      'validatingwebhookconfiguration',
      vwcName,
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/webhooks/0/clientConfig/caBundle"}]',
    ]);
    expect(reset.stderr).toBe('');
    await eventually(
      'the caBundle to be restored',
      async () => {
        const configuration = await configs.get(vwcName);
        return configuration.webhooks?.[0]?.clientConfig.caBundle === caBundleOf(webhook.caPem)
          ? true
          : undefined;
      },
      10_000,
    );
  });

  it('gives two replicas one CA from one Secret, each serving a certificate it issued', async () => {
    const second = await start();
    expect(second.caPem).toBe(webhook.caPem);
    const secret = await secrets.get(`${serviceName}-ca`, namespace);
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Buffer.from(secret.data?.['tls.crt'] ?? '', 'base64').toString('utf8')).toBe(webhook.caPem);
    const answer = await postReview(
      second.port,
      webhook.caPem,
      ipPoolReview({
        uid: 'direct-2',
        operation: 'CREATE',
        object: { metadata: { name: 'x' }, spec: { cidr: '192.168.3.0/24' } },
      }),
    );
    expect(answer.response?.allowed).toBe(false);
  });

  it('agrees on one CA when two replicas start at the same moment with no Secret yet', async () => {
    const caSecretName = `${serviceName}-race-ca`;
    // Their CA is not the one in the configuration above, so they keep another (absent) one.
    const other = { caSecretName, webhookConfigurationName: `${prefix}-absent` };
    const [a, b] = await Promise.all([start(other), start(other)]);
    expect(a.caPem).toBe(b.caPem);
    const secret = await secrets.get(caSecretName, namespace);
    expect(Buffer.from(secret.data?.['tls.crt'] ?? '', 'base64').toString('utf8')).toBe(a.caPem);
    const createdLogs = logs.filter(
      (entry) =>
        entry.message === 'created the webhook CA' && entry.fields.secret === `${namespace}/${caSecretName}`,
    );
    expect(createdLogs).toHaveLength(1);
  });

  it('swaps in a new serving certificate at 2/3 of its life, without a restart', async () => {
    const short = await start({ certificateLifetimeMs: 3000, webhookConfigurationName: `${prefix}-absent` });
    const first = await servedCertificate(short.port, short.caPem);
    const second = await eventually(
      'a new serving certificate',
      async () => {
        const served = await servedCertificate(short.port, short.caPem);
        return served.serialNumber === first.serialNumber ? undefined : served;
      },
      10_000,
    );
    expect(second.checkIssued(new X509Certificate(short.caPem))).toBe(true);
    expect(logs.some((entry) => entry.message === 'rotated the webhook serving certificate')).toBe(true);
  });
});
