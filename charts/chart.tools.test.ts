/**
 * The chart through helm, without a cluster: values refused with their path, `helm lint` clean, and the
 * rendered output checked object by object (RBAC rule by rule: that table is the chart's least-privilege
 * claim). The generated files and values.yaml are checked without helm in generated.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { defaultAgentSocket } from '../agent/protocol.js';
import { agentNodeFlags } from '../agent/settings.js';
import { ipamBlockSpecSchema, validatePoolSpec } from '../api/index.js';
import { parseNetworkConfig } from '../cni/config.js';
import { findOverlaps, parseCidr } from '../ipam/index.js';
import { installerSettingsSchema, renderConflist } from '../installer/index.js';
import { operatorSettingsSchema } from '../operator/index.js';
import { ensureBinaries } from '../local-cluster/binaries.js';
import {
  type Manifest,
  chartDir,
  clusterScopedKinds,
  findManifest,
  helmSync,
  renderChart,
} from './testing.js';

// Every test runs helm, which takes seconds on a loaded machine.
vi.setConfig({ testTimeout: 30_000 });

let helm: string;
beforeAll(() => {
  helm = ensureBinaries().helm;
}, 900_000);

const examples = fs
  .readdirSync(path.join(chartDir, 'examples'))
  .filter((name) => name.endsWith('.yaml'))
  .map((name) => path.join(chartDir, 'examples', name));

interface Probe {
  httpGet?: { path: string; port: string };
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  securityContext?: Record<string, unknown>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  ports?: { name: string; containerPort: number }[];
  resources?: unknown;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  containers: Container[];
  hostNetwork?: boolean;
  tolerations?: unknown[];
  securityContext?: Record<string, unknown>;
  volumes?: Record<string, unknown>[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  priorityClassName?: string;
  affinity?: unknown;
  terminationGracePeriodSeconds?: number;
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

const podSpec = (workload: Manifest): PodSpec =>
  (workload.spec as { template: { spec: PodSpec } }).template.spec;
const containerOf = (workload: Manifest): Container => {
  const [container] = podSpec(workload).containers;
  if (!container) throw new Error(`${workload.metadata.name} has no container`);
  return container;
};
const namedContainer = (workload: Manifest, name: string): Container => {
  const container = podSpec(workload).containers.find((candidate) => candidate.name === name);
  if (!container) throw new Error(`${workload.metadata.name} has no container ${name}`);
  return container;
};
const agentOf = (objects: readonly Manifest[]) => namedContainer(findManifest(objects, 'DaemonSet'), 'agent');
const installerOf = (objects: readonly Manifest[]) =>
  namedContainer(findManifest(objects, 'DaemonSet'), 'install-cni');
const envOf = (container: Container): Record<string, string | undefined> =>
  Object.fromEntries((container.env ?? []).map((variable) => [variable.name, variable.value]));
const rulesOf = (role: Manifest): Rule[] => role.rules as Rule[];

/** Each (group, resource, verb, name) the rules grant, as one sortable string. */
function grants(rules: readonly Rule[]): string[] {
  return rules
    .flatMap((rule) =>
      rule.apiGroups.flatMap((group) =>
        rule.resources.flatMap((resource) =>
          rule.verbs.flatMap((verb) =>
            (rule.resourceNames ?? ['*']).map(
              (name) => `${group === '' ? 'core' : group} ${resource} ${verb} ${name}`,
            ),
          ),
        ),
      ),
    )
    .sort();
}
const ipam = 'ipam.topology-ipam.dev';

/** Both CNI containers write root's host folders: root, but with nothing else. */
const rootWithNoCapabilities = {
  runAsUser: 0,
  runAsGroup: 0,
  runAsNonRoot: false,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};
/** The agent changes the node's routes or natOutgoing table (both on by default): NET_ADMIN, and only that. */
const rootWithNetAdmin = { ...rootWithNoCapabilities, capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] } };
/** What the agent may do with BlockAffinities: its claims, and with routes the informer of all. */
const affinityVerbs = (routes: boolean) => [
  'get',
  'create',
  'update',
  'delete',
  ...(routes ? ['list', 'watch'] : []),
];
const agentGrants = (routes: boolean) =>
  [
    ...['get', 'list', 'watch', 'create', 'update', 'delete'].map((verb) => `${ipam} ipamblocks ${verb} *`),
    ...affinityVerbs(routes).map((verb) => `${ipam} blockaffinities ${verb} *`),
    `${ipam} ippools list *`,
    `${ipam} ippools watch *`,
    ...['get', 'list', 'watch'].map((verb) => `${ipam} ipamconfigs ${verb} default`),
    `${ipam} ipreservations list *`,
    `${ipam} ipreservations watch *`,
    'core nodes get *',
    'core nodes list *',
    'core nodes watch *',
    ...['pods', 'namespaces'].flatMap((resource) =>
      ['get', 'list', 'watch'].map((verb) => `core ${resource} ${verb} *`),
    ),
  ].sort();

describe('values', () => {
  it.each([
    ['operator.replicas=0', { operator: { replicas: 0 } }, "at '/operator/replicas': minimum: got 0, want 1"],
    ['a misspelt key', { operator: { replica: 2 } }, "additional properties 'replica' not allowed"],
    ['failurePolicy', { webhook: { failurePolicy: 'Never' } }, "at '/webhook/failurePolicy'"],
    [
      'a pool without a CIDR',
      { ippools: { pools: [{ name: 'a', blockSize: 26 }] } },
      "at '/ippools/pools/0': missing property 'cidr'",
    ],
    [
      'a CIDR without a prefix',
      { ippools: { perLabelValue: { label: 'rack', cidrs: { '0': '10.0.0.0' } } } },
      "at '/ippools/perLabelValue/cidrs/0'",
    ],
    [
      'a label value that is not one',
      { ippools: { perLabelValue: { label: 'rack', cidrs: { 'a b': '10.0.0.0/24' } } } },
      "invalid propertyName 'a b'",
    ],
    [
      'a pool name with capitals',
      { ippools: { pools: [{ name: 'Rack', cidr: '10.0.0.0/24' }] } },
      "at '/ippools/pools/0/name'",
    ],
    ['an unknown ipam field', { cni: { ipam: { kubeconfig: '/x' } } }, "additional properties 'kubeconfig'"],
    [
      'a state_dir in cni.ipam (the agent keeps no node-local state)',
      { cni: { ipam: { state_dir: '/x' } } },
      "additional properties 'state_dir'",
    ],
    ['a relative agent socket', { cni: { agent: { socket: 'agent.sock' } } }, "at '/cni/agent/socket'"],
    [
      'a DaemonSet surge, which would run two agents on one socket',
      {
        cni: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 1 } } },
      },
      'cni.updateStrategy.rollingUpdate.maxSurge must be 0',
    ],
    ['a relative binDir', { cni: { binDir: 'opt/cni/bin' } }, "at '/cni/binDir'"],
    ['a short token lifetime', { cni: { tokenExpirationSeconds: 60 } }, "at '/cni/tokenExpirationSeconds'"],
    [
      'a renew deadline not below the lease duration',
      { operator: { leaderElection: { renewDeadlineSeconds: 15 } } },
      'renewDeadlineSeconds must be less than leaseDurationSeconds',
    ],
    [
      'a retry period not below the renew deadline',
      { operator: { leaderElection: { retryPeriodSeconds: 10 } } },
      'retryPeriodSeconds must be less than renewDeadlineSeconds',
    ],
    [
      'a readiness bound not above the retry period',
      { operator: { health: { apiUnreachableNotReadySeconds: 2 } } },
      'apiUnreachableNotReadySeconds must be more than leaderElection.retryPeriodSeconds',
    ],
    [
      'a liveness bound below the readiness bound',
      { operator: { health: { apiUnreachableUnhealthySeconds: 5 } } },
      'apiUnreachableUnhealthySeconds must be at least apiUnreachableNotReadySeconds',
    ],
    [
      'a stuck bound not above the API time limit',
      { operator: { apiTimeoutSeconds: 300 } },
      'controllerStuckSeconds must be more than apiTimeoutSeconds',
    ],
    ['a zero API time limit', { operator: { apiTimeoutSeconds: 0 } }, "at '/operator/apiTimeoutSeconds'"],
    ['an apiServer with a path', { apiServer: 'https://x:6443/api' }, "at '/apiServer'"],
  ])('refuses %s with its path', (_what, values, message) => {
    const result = helmSync(helm, ['template', 'rel', chartDir], { values });
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain(message);
  });
});

describe('helm lint', () => {
  it.each<[string, string | undefined]>([
    ['defaults', undefined],
    ...examples.map((file): [string, string] => [path.basename(file), file]),
  ])('is clean with %s', (_name, file) => {
    const result = helmSync(helm, [
      'lint',
      '--strict',
      chartDir,
      ...(file === undefined ? [] : ['-f', file]),
    ]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('0 chart(s) failed');
    expect(result.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });
});

describe('rendered with the defaults', () => {
  let objects: Manifest[];
  beforeAll(() => {
    objects = renderChart(helm, { release: 'rel', namespace: 'ipam-system' });
  });

  it('has exactly the expected objects', () => {
    expect(objects.map((object) => `${object.kind}/${object.metadata.name}`).sort()).toEqual(
      [
        'ClusterRole/rel-topology-ipam-cni',
        'ClusterRole/rel-topology-ipam-operator',
        'ClusterRoleBinding/rel-topology-ipam-cni',
        'ClusterRoleBinding/rel-topology-ipam-operator',
        'DaemonSet/rel-topology-ipam-cni',
        'Role/rel-topology-ipam-cni-events',
        'RoleBinding/rel-topology-ipam-cni-events',
        'Deployment/rel-topology-ipam-operator',
        'PodDisruptionBudget/rel-topology-ipam-operator',
        'Role/rel-topology-ipam-operator',
        'Role/rel-topology-ipam-operator-events',
        'RoleBinding/rel-topology-ipam-operator',
        'RoleBinding/rel-topology-ipam-operator-events',
        'Service/rel-topology-ipam-webhook',
        'ServiceAccount/rel-topology-ipam-cni',
        'ServiceAccount/rel-topology-ipam-operator',
        'ValidatingAdmissionPolicy/rel-topology-ipam-cni-blockaffinities',
        'ValidatingAdmissionPolicy/rel-topology-ipam-cni-ipamblocks',
        'ValidatingAdmissionPolicyBinding/rel-topology-ipam-cni-blockaffinities',
        'ValidatingAdmissionPolicyBinding/rel-topology-ipam-cni-ipamblocks',
        'ValidatingWebhookConfiguration/rel-topology-ipam',
      ].sort(),
    );
  });

  it('puts namespaced objects in the release namespace, except the events Role(Binding) in default', () => {
    for (const object of objects) {
      if (clusterScopedKinds.has(object.kind)) expect(object.metadata.namespace).toBeUndefined();
      else if (object.metadata.name.endsWith('-events')) expect(object.metadata.namespace).toBe('default');
      else expect(object.metadata.namespace).toBe('ipam-system');
    }
  });

  it('names every cluster-scoped object after the release, so releases never collide', () => {
    const other = renderChart(helm, { release: 'other', namespace: 'ipam-system' });
    const names = (list: Manifest[]) =>
      new Set(
        list
          .filter((object) => clusterScopedKinds.has(object.kind) || object.metadata.namespace === 'default')
          .map((object) => `${object.kind}/${object.metadata.name}`),
      );
    const mine = names(objects);
    for (const name of names(other)) expect(mine.has(name)).toBe(false);
  });

  it('runs two hardened operator replicas with probes, resources and leader election', () => {
    const deployment = findManifest(objects, 'Deployment');
    expect((deployment.spec as { replicas: number }).replicas).toBe(2);
    const spec = podSpec(deployment);
    expect(spec.serviceAccountName).toBe('rel-topology-ipam-operator');
    expect(spec.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(spec.affinity).toMatchObject({ podAntiAffinity: {} });
    const container = containerOf(deployment);
    expect(container.image).toBe('ghcr.io/topology-ipam/topology-ipam-operator:0.1.0');
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http-metrics' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http-metrics' });
    expect(container.ports).toEqual([
      { name: 'http-metrics', containerPort: 8080, protocol: 'TCP' },
      { name: 'webhook', containerPort: 9443, protocol: 'TCP' },
    ]);
    expect(container.resources).toEqual({
      requests: { cpu: '50m', memory: '128Mi' },
      limits: { memory: '512Mi' },
    });
    expect(envOf(container)).toEqual({
      POD_NAMESPACE: undefined,
      POD_NAME: undefined,
      LOG_LEVEL: 'info',
      HEALTH_PORT: '8080',
      LEASE_NAME: 'rel-topology-ipam-operator',
      LEASE_DURATION_SECONDS: '15',
      RENEW_DEADLINE_SECONDS: '10',
      RETRY_PERIOD_SECONDS: '2',
      RESYNC_SECONDS: '300',
      API_TIMEOUT_SECONDS: '30',
      API_UNREACHABLE_NOT_READY_SECONDS: '10',
      API_UNREACHABLE_UNHEALTHY_SECONDS: '60',
      CONTROLLER_STUCK_SECONDS: '300',
      WEBHOOK_ENABLED: 'true',
      WEBHOOK_PORT: '9443',
      WEBHOOK_SERVICE: 'rel-topology-ipam-webhook',
      WEBHOOK_CONFIGURATION: 'rel-topology-ipam',
    });
  });

  it('sets only settings the operator reads, each valid', () => {
    const env = envOf(containerOf(findManifest(objects, 'Deployment')));
    const known = Object.keys(operatorSettingsSchema.shape);
    for (const name of Object.keys(env)) expect(known).toContain(name);
    const parsed = operatorSettingsSchema.safeParse({ ...env, POD_NAMESPACE: 'ns', POD_NAME: 'pod' });
    expect(parsed.success).toBe(true);
  });

  it('keeps one operator replica through voluntary disruptions', () => {
    const pdb = findManifest(objects, 'PodDisruptionBudget');
    expect(pdb.spec).toEqual({
      minAvailable: 1,
      selector: {
        matchLabels: {
          'app.kubernetes.io/name': 'topology-ipam',
          'app.kubernetes.io/instance': 'rel',
          'app.kubernetes.io/component': 'operator',
        },
      },
    });
  });

  it('grants the operator exactly what its code uses, cluster-wide', () => {
    expect(grants(rulesOf(findManifest(objects, 'ClusterRole', 'rel-topology-ipam-operator')))).toEqual(
      [
        'core nodes list *',
        'core nodes watch *',
        'core pods get *',
        'core pods list *',
        'core pods watch *',
        'core namespaces list *',
        'core namespaces watch *',
        `${ipam} ippools list *`,
        `${ipam} ippools watch *`,
        `${ipam} ippools update *`,
        `${ipam} ippools/status update *`,
        ...['ipamblocks', 'blockaffinities'].flatMap((resource) =>
          ['get', 'list', 'watch', 'create', 'update', 'delete'].map(
            (verb) => `${ipam} ${resource} ${verb} *`,
          ),
        ),
        `${ipam} ipamconfigs list *`,
        `${ipam} ipamconfigs watch *`,
        `${ipam} ipreservations list *`,
        `${ipam} ipreservations watch *`,
        `${ipam} ipreservations/status update *`,
        ...['get', 'list', 'watch', 'update'].map(
          (verb) => `admissionregistration.k8s.io validatingwebhookconfigurations ${verb} rel-topology-ipam`,
        ),
      ].sort(),
    );
  });

  it('grants the operator its Lease and CA Secret by name in its namespace, and Events in default', () => {
    expect(grants(rulesOf(findManifest(objects, 'Role', 'rel-topology-ipam-operator')))).toEqual(
      [
        'coordination.k8s.io leases create *',
        'coordination.k8s.io leases get rel-topology-ipam-operator',
        'coordination.k8s.io leases update rel-topology-ipam-operator',
        'core secrets create *',
        'core secrets get rel-topology-ipam-webhook-ca',
      ].sort(),
    );
    expect(grants(rulesOf(findManifest(objects, 'Role', 'rel-topology-ipam-operator-events')))).toEqual([
      'core events create *',
      'core events patch *',
    ]);
  });

  it('grants the node agent the IPAM resources, and reads of Nodes, pods and namespaces only (IPAMConfig default by name): no Secrets, no writes but to blocks and affinities', () => {
    const granted = grants(rulesOf(findManifest(objects, 'ClusterRole', 'rel-topology-ipam-cni')));
    expect(granted).toEqual(agentGrants(true));
  });

  it('grants the node agent create and patch of Events in default only (sync failures on its Node)', () => {
    const role = findManifest(objects, 'Role', 'rel-topology-ipam-cni-events');
    expect(role.metadata.namespace).toBe('default');
    expect(grants(rulesOf(role))).toEqual(['core events create *', 'core events patch *']);
  });

  it('binds each role to its own ServiceAccount only', () => {
    for (const binding of objects.filter((object) => /^(Cluster)?RoleBinding$/.test(object.kind))) {
      const subjects = binding.subjects as { kind: string; name: string; namespace: string }[];
      const roleRef = binding.roleRef as { name: string };
      const account = roleRef.name.replace(/-events$/, '');
      expect(subjects).toEqual([{ kind: 'ServiceAccount', name: account, namespace: 'ipam-system' }]);
    }
  });

  it.each([
    ['ipamblocks', 'rel-topology-ipam-cni-ipamblocks'],
    ['blockaffinities', 'rel-topology-ipam-cni-blockaffinities'],
  ])(
    'restricts the CNI ServiceAccount, and only it, to its own node’s %s, failing closed',
    (resource, name) => {
      const policy = findManifest(objects, 'ValidatingAdmissionPolicy', name).spec as {
        failurePolicy: string;
        matchConstraints: { resourceRules: unknown[] };
        matchConditions: { expression: string }[];
      };
      expect(policy.failurePolicy).toBe('Fail');
      expect(policy.matchConstraints.resourceRules).toEqual([
        {
          apiGroups: ['ipam.topology-ipam.dev'],
          apiVersions: ['*'],
          operations: ['CREATE', 'UPDATE', 'DELETE'],
          resources: [resource],
        },
      ]);
      expect(policy.matchConditions.map((condition) => condition.expression)).toEqual([
        "request.userInfo.username == 'system:serviceaccount:ipam-system:rel-topology-ipam-cni'",
      ]);
      expect(findManifest(objects, 'ValidatingAdmissionPolicyBinding', name).spec).toEqual({
        policyName: name,
        validationActions: ['Deny'],
      });
    },
  );

  it('lets a borrowing node change nothing of another node’s block but allocations and cooling: every other spec field is compared', () => {
    const policy = findManifest(objects, 'ValidatingAdmissionPolicy', 'rel-topology-ipam-cni-ipamblocks')
      .spec as {
      variables: { name: string; expression: string }[];
      validations: { expression: string }[];
    };
    const sameSettings = policy.variables.find((variable) => variable.name === 'sameSettings');
    const unchanged = policy.validations.find((validation) =>
      validation.expression.includes('variables.sameSettings && object.spec.node == oldObject.spec.node'),
    );
    const compared = `${sameSettings?.expression ?? ''} ${unchanged?.expression ?? ''}`;
    const fields = Object.keys(ipamBlockSpecSchema.shape).filter(
      (field) => field !== 'allocations' && field !== 'cooling',
    );
    expect(fields.length).toBeGreaterThan(0);
    for (const field of fields)
      expect(compared, field).toMatch(new RegExp(`object\\.spec\\.\\??${field}\\b`));
  });

  it('sends CREATE and UPDATE of IPPools to the webhook Service on 443 → 9443, with no caBundle', () => {
    const service = findManifest(objects, 'Service');
    expect((service.spec as { ports: unknown[] }).ports).toEqual([
      { name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' },
    ]);
    const [webhook] = (findManifest(objects, 'ValidatingWebhookConfiguration').webhooks ?? []) as {
      failurePolicy: string;
      clientConfig: Record<string, unknown>;
      rules: unknown[];
      sideEffects: string;
    }[];
    expect(webhook?.failurePolicy).toBe('Ignore');
    expect(webhook?.sideEffects).toBe('None');
    expect(webhook?.clientConfig).toEqual({
      service: {
        name: 'rel-topology-ipam-webhook',
        namespace: 'ipam-system',
        path: '/validate-ippool',
        port: 443,
      },
    });
    expect(webhook?.rules).toEqual([
      {
        apiGroups: [ipam],
        apiVersions: ['v1alpha1'],
        operations: ['CREATE', 'UPDATE'],
        resources: ['ippools'],
        scope: 'Cluster',
      },
    ]);
  });

  it('runs the CNI pod on every node, in the host network, tolerating every taint, one node at a time and never two on a node', () => {
    const daemonSet = findManifest(objects, 'DaemonSet');
    const spec = podSpec(daemonSet);
    expect(spec.hostNetwork).toBe(true);
    expect(spec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(spec.priorityClassName).toBe('system-node-critical');
    expect(spec.serviceAccountName).toBe('rel-topology-ipam-cni');
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.terminationGracePeriodSeconds).toBe(30);
    expect(spec.containers.map((container) => container.name)).toEqual(['agent', 'install-cni']);
    expect((daemonSet.spec as { updateStrategy: unknown }).updateStrategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 1, maxSurge: 0 },
    });
    expect(spec.volumes).toEqual([
      { name: 'cni-bin', hostPath: { path: '/opt/cni/bin', type: 'DirectoryOrCreate' } },
      { name: 'cni-net', hostPath: { path: '/etc/cni/net.d', type: 'DirectoryOrCreate' } },
      { name: 'agent-socket', hostPath: { path: '/run/topology-ipam', type: 'DirectoryOrCreate' } },
      {
        name: 'kube-api-access',
        projected: {
          defaultMode: 0o400,
          sources: [
            { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            {
              downwardAPI: {
                items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }],
              },
            },
          ],
        },
      },
    ]);
  });

  it("runs the node agent with the image's node, least privilege, probes on its health port and its pod's token where a pod's token goes", () => {
    const agent = agentOf(objects);
    expect(agent.image).toBe('ghcr.io/topology-ipam/topology-ipam-cni:0.1.0');
    expect(agent.args).toEqual([...agentNodeFlags, '/opt/topology-ipam/agent.mjs']);
    expect(agent.env?.find((variable) => variable.name === 'NODE_NAME')?.valueFrom).toEqual({
      fieldRef: { fieldPath: 'spec.nodeName' },
    });
    expect(envOf(agent)).toEqual({
      NODE_NAME: undefined,
      AGENT_SOCKET: '/run/topology-ipam/agent.sock',
      HEALTH_PORT: '9099',
      LOG_LEVEL: 'info',
      API_TIMEOUT_SECONDS: '30',
      ROUTES: 'true',
      NAT_OUTGOING: 'true',
    });
    expect(agent.securityContext).toEqual(rootWithNetAdmin);
    expect(agent.ports).toEqual([{ name: 'http-metrics', containerPort: 9099, protocol: 'TCP' }]);
    expect(agent.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http-metrics' });
    expect(agent.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http-metrics' });
    expect(agent.resources).toEqual({
      requests: { cpu: '50m', memory: '64Mi' },
      limits: { memory: '128Mi' },
    });
    expect(agent.volumeMounts).toEqual([
      { name: 'agent-socket', mountPath: '/run/topology-ipam' },
      { name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
    ]);
  });

  it('listens where the forwarder dials by default, so the conflist needs no agent_socket', () => {
    expect(envOf(agentOf(objects)).AGENT_SOCKET).toBe(defaultAgentSocket);
    const conflist = JSON.parse(envOf(installerOf(objects)).CNI_NETWORK_CONFIG ?? '') as {
      plugins: { ipam?: Record<string, unknown> }[];
    };
    expect(conflist.plugins[0]?.ipam).toEqual({
      type: 'topology-ipam',
      assign_ipv4: true,
      assign_ipv6: false,
      link_local_gateway: true,
    });
  });

  it('gives the installer no token, only the host CNI directories, and only settings it reads', () => {
    const installer = installerOf(objects);
    expect(installer.args).toEqual(['/opt/topology-ipam/installer.mjs']);
    expect(installer.securityContext).toEqual(rootWithNoCapabilities);
    expect(installer.volumeMounts).toEqual([
      { name: 'cni-bin', mountPath: '/host/cni/bin' },
      { name: 'cni-net', mountPath: '/host/cni/net.d' },
    ]);
    const env = envOf(installer);
    const known = Object.keys(installerSettingsSchema.shape);
    for (const name of Object.keys(env)) expect(known).toContain(name);
    expect(installerSettingsSchema.safeParse({ ...env, NODE_NAME: 'node-a' }).success).toBe(true);
  });

  it('writes a conflist the plugin accepts, with no credentials or node name in it', () => {
    const conflist = renderConflist(envOf(installerOf(objects)).CNI_NETWORK_CONFIG ?? '');
    const { cniVersion, name, plugins } = JSON.parse(conflist) as {
      cniVersion: string;
      name: string;
      plugins: Record<string, unknown>[];
    };
    // ptp, then the chained plugin that adds the pods' default routes via the link-local gateway.
    expect(plugins.map((plugin) => plugin.type)).toEqual(['ptp', 'topology-ipam-routes', 'portmap']);
    expect(plugins[1]).toEqual({ type: 'topology-ipam-routes' });
    // What a runtime hands the main plugin, which hands it on to its IPAM plugin.
    const network = parseNetworkConfig(JSON.stringify({ cniVersion, name, ...plugins[0] }));
    expect(network.ipam).toMatchObject({ type: 'topology-ipam', families: [4], linkLocalGateway: true });
    expect(conflist).not.toMatch(/kubeconfig|nodename|token|state_dir|lock_dir/);
  });
});

describe('rendered with other values', () => {
  it.each([
    [true, { maxUnavailable: 1, maxSurge: 0 }],
    [false, { maxUnavailable: 0, maxSurge: 1 }],
  ])('with operator.hostNetwork %s, rolls the operator %o', (hostNetwork, rollingUpdate) => {
    const deployment = findManifest(
      renderChart(helm, { values: { operator: { hostNetwork } } }),
      'Deployment',
    );
    expect(podSpec(deployment).hostNetwork).toBe(hostNetwork ? true : undefined);
    expect((deployment.spec as { strategy: unknown }).strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate,
    });
  });

  it('leaves out the webhook, its Secret and its configuration rights when disabled', () => {
    const objects = renderChart(helm, { values: { webhook: { enabled: false } } });
    expect(objects.map((object) => object.kind)).not.toContain('ValidatingWebhookConfiguration');
    expect(objects.map((object) => object.kind)).not.toContain('Service');
    const all = objects
      .filter((object) => object.kind === 'ClusterRole' || object.kind === 'Role')
      .flatMap((role) => grants(rulesOf(role)));
    expect(all.filter((grant) => /secrets|validatingwebhook/.test(grant))).toEqual([]);
    const env = envOf(containerOf(findManifest(objects, 'Deployment')));
    expect(env.WEBHOOK_ENABLED).toBe('false');
    expect(env.WEBHOOK_SERVICE).toBeUndefined();
  });

  it.each([
    [
      'bridge as the main plugin: no gateway',
      { conflist: { plugin: { type: 'bridge', bridge: 'cni0' } } },
      'bridge',
      undefined,
      ['bridge', 'portmap'],
    ],
    [
      'ptp with link_local_gateway false in cni.ipam',
      { ipam: { link_local_gateway: false } },
      'ptp',
      false,
      ['ptp', 'portmap'],
    ],
    [
      'another plugin asking for the gateway',
      { conflist: { plugin: { type: 'calico-like' } }, ipam: { link_local_gateway: true } },
      'calico-like',
      true,
      ['calico-like', 'topology-ipam-routes', 'portmap'],
    ],
  ])('writes the conflist with %s', (_, cni, type, linkLocalGateway, types) => {
    const objects = renderChart(helm, { values: { cni } });
    const conflist = JSON.parse(envOf(installerOf(objects)).CNI_NETWORK_CONFIG ?? '') as {
      plugins: { type: string; ipam?: Record<string, unknown> }[];
    };
    expect(conflist.plugins[0]?.type).toBe(type);
    expect(conflist.plugins[0]?.ipam?.link_local_gateway).toBe(linkLocalGateway);
    // The default routes' plugin goes with the gateway it routes via, never with bridge's result.
    expect(conflist.plugins.map((plugin) => plugin.type)).toEqual(types);
  });

  it('leaves out the DaemonSet, its identity and its node restriction when cni.enabled is false', () => {
    const objects = renderChart(helm, { values: { cni: { enabled: false } } });
    expect(objects.filter((object) => object.metadata.name.includes('-cni'))).toEqual([]);
  });

  it('runs no routes when routes.enabled is false: no ROUTES, no capability, no list of BlockAffinities', () => {
    const objects = renderChart(helm, {
      values: { routes: { enabled: false }, natOutgoing: { enabled: false } },
    });
    const agent = agentOf(objects);
    expect(envOf(agent)).not.toHaveProperty('ROUTES');
    expect(agent.securityContext).toEqual(rootWithNoCapabilities);
    expect(grants(rulesOf(findManifest(objects, 'ClusterRole', 'rel-topology-ipam-cni')))).toEqual(
      agentGrants(false),
    );
  });

  it.each([
    [
      'routes and natOutgoing (the default)',
      {},
      { ROUTES: 'true', NAT_OUTGOING: 'true' },
      rootWithNetAdmin,
      true,
    ],
    ['routes only', { natOutgoing: { enabled: false } }, { ROUTES: 'true' }, rootWithNetAdmin, true],
    ['natOutgoing only', { routes: { enabled: false } }, { NAT_OUTGOING: 'true' }, rootWithNetAdmin, false],
    [
      'neither',
      { routes: { enabled: false }, natOutgoing: { enabled: false } },
      {},
      rootWithNoCapabilities,
      false,
    ],
  ])(
    'runs %s: their settings, NET_ADMIN only when one is on, BlockAffinities listed only with routes',
    (_name, values, settings, securityContext, routes) => {
      const objects = renderChart(helm, { values });
      const agent = agentOf(objects);
      const env = envOf(agent);
      expect({ ROUTES: env.ROUTES, NAT_OUTGOING: env.NAT_OUTGOING }).toEqual({
        ROUTES: undefined,
        NAT_OUTGOING: undefined,
        ...settings,
      });
      expect(agent.securityContext).toEqual(securityContext);
      // natOutgoing reads IPPools and Nodes, which the agent lists and watches anyway.
      expect(grants(rulesOf(findManifest(objects, 'ClusterRole', 'rel-topology-ipam-cni')))).toEqual(
        agentGrants(routes),
      );
    },
  );

  it('adds NET_ADMIN to capabilities an agent securityContext of the values already adds, once', () => {
    const objects = renderChart(helm, {
      values: { cni: { agent: { securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } } } } },
    });
    expect(agentOf(objects).securityContext).toEqual({
      ...rootWithNoCapabilities,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    });
  });

  it('writes no conflist when cni.conflist.enabled is false', () => {
    const objects = renderChart(helm, { values: { cni: { conflist: { enabled: false } } } });
    expect(envOf(installerOf(objects)).CNI_NETWORK_CONFIG).toBe('');
  });

  it('passes the ipam values to the conflist', () => {
    // With bridge: under ptp's link-local gateway an IPv4 route without gw is refused (cni/config.ts).
    const objects = renderChart(helm, {
      values: {
        cni: {
          conflist: { plugin: { type: 'bridge' } },
          ipam: { assign_ipv6: true, pools: ['rel-topology-ipam-v6'], routes: [{ dst: '0.0.0.0/0' }] },
        },
      },
    });
    const conflist = JSON.parse(envOf(installerOf(objects)).CNI_NETWORK_CONFIG ?? '') as {
      plugins: { ipam?: unknown }[];
    };
    expect(conflist.plugins[0]?.ipam).toEqual({
      type: 'topology-ipam',
      assign_ipv4: true,
      assign_ipv6: true,
      pools: ['rel-topology-ipam-v6'],
      routes: [{ dst: '0.0.0.0/0' }],
    });
  });

  it.each([
    ['https://10.0.0.1:6443', '10.0.0.1', '6443'],
    ['https://api.example', 'api.example', '443'],
    ['https://[fd00::1]:6443', 'fd00::1', '6443'],
    ['https://[fd00::1]', 'fd00::1', '443'],
  ])(
    'points the agent and the operator at apiServer %s instead of the kubernetes Service',
    (url, host, port) => {
      const objects = renderChart(helm, { values: { apiServer: url } });
      for (const container of [agentOf(objects), containerOf(findManifest(objects, 'Deployment'))])
        expect(envOf(container)).toMatchObject({
          KUBERNETES_SERVICE_HOST: host,
          KUBERNETES_SERVICE_PORT: port,
        });
      expect(envOf(installerOf(objects))).not.toHaveProperty('KUBERNETES_SERVICE_HOST');
    },
  );

  it('names another agent socket in the conflist, the agent environment and the host folder mounted', () => {
    const objects = renderChart(helm, { values: { cni: { agent: { socket: '/run/other/agent.sock' } } } });
    const agent = agentOf(objects);
    expect(envOf(agent).AGENT_SOCKET).toBe('/run/other/agent.sock');
    expect(agent.volumeMounts).toContainEqual({ name: 'agent-socket', mountPath: '/run/other' });
    expect(podSpec(findManifest(objects, 'DaemonSet')).volumes).toContainEqual({
      name: 'agent-socket',
      hostPath: { path: '/run/other', type: 'DirectoryOrCreate' },
    });
    const conflist = JSON.parse(envOf(installerOf(objects)).CNI_NETWORK_CONFIG ?? '') as {
      plugins: { ipam?: Record<string, unknown> }[];
    };
    expect(conflist.plugins[0]?.ipam?.agent_socket).toBe('/run/other/agent.sock');
  });

  it.each([
    ['OnDelete', { type: 'OnDelete' }],
    ['a surge of 0%', { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%', maxSurge: '0%' } }],
  ])('accepts an update strategy of %s', (_name, updateStrategy) => {
    const objects = renderChart(helm, {
      values: { cni: { updateStrategy: { rollingUpdate: null, ...updateStrategy } } },
    });
    expect((findManifest(objects, 'DaemonSet').spec as { updateStrategy: unknown }).updateStrategy).toEqual(
      updateStrategy,
    );
  });

  it('has no PodDisruptionBudget or anti-affinity with one replica', () => {
    const objects = renderChart(helm, { values: { operator: { replicas: 1 } } });
    expect(objects.map((object) => object.kind)).not.toContain('PodDisruptionBudget');
    expect(podSpec(findManifest(objects, 'Deployment')).affinity).toBeUndefined();
  });

  it('creates the IPAMConfig singleton only when asked', () => {
    const objects = renderChart(helm, { values: { ipamConfig: { create: true, strictAffinity: true } } });
    expect(findManifest(objects, 'IPAMConfig', 'default').spec).toEqual({
      strictAffinity: true,
      maxBlocksPerHost: 0,
      autoAllocateBlocks: true,
      minFreeAddressesPerNode: 16,
      releaseCooldownSeconds: 30,
      leakGracePeriodSeconds: 900,
    });
  });

  it('makes one pool per label value, named after the release, label and value', () => {
    const objects = renderChart(helm, { valuesFiles: [path.join(chartDir, 'examples', 'zones.yaml')] });
    const pools = objects.filter((object) => object.kind === 'IPPool');
    expect(pools.map((pool) => [pool.metadata.name, pool.spec])).toEqual([
      [
        'rel-topology-ipam-zone-eu-west-1a',
        {
          cidr: '10.244.0.0/18',
          nodeSelector: 'topology.kubernetes.io/zone == "eu-west-1a"',
          blockSize: 26,
          natOutgoing: true,
        },
      ],
      [
        'rel-topology-ipam-zone-eu-west-1b',
        {
          cidr: '10.244.64.0/18',
          nodeSelector: 'topology.kubernetes.io/zone == "eu-west-1b"',
          blockSize: 26,
          natOutgoing: true,
        },
      ],
      [
        'rel-topology-ipam-zone-eu-west-1c',
        {
          cidr: '10.244.128.0/18',
          nodeSelector: 'topology.kubernetes.io/zone == "eu-west-1c"',
          blockSize: 26,
          natOutgoing: true,
        },
      ],
    ]);
    for (const pool of pools) {
      expect(pool.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
      expect(pool.metadata.labels?.['app.kubernetes.io/instance']).toBe('rel');
    }
  });

  it('lets helm delete pools when keepOnUninstall is false', () => {
    const objects = renderChart(helm, {
      valuesFiles: [path.join(chartDir, 'examples', 'racks.yaml')],
      values: { ippools: { keepOnUninstall: false } },
    });
    const pools = objects.filter((object) => object.kind === 'IPPool');
    expect(pools.map((pool) => pool.metadata.name)).toEqual([
      'rel-topology-ipam-rack-0',
      'rel-topology-ipam-rack-1',
    ]);
    for (const pool of pools) expect(pool.metadata.annotations).toBeUndefined();
  });

  it.each(examples.map((file) => [path.basename(file), file]))(
    'renders pools from %s that pass the IPPool rules and do not overlap',
    (_name, file) => {
      const pools = renderChart(helm, { valuesFiles: [file] }).filter((object) => object.kind === 'IPPool');
      expect(pools.length).toBeGreaterThan(0);
      for (const pool of pools) expect(validatePoolSpec(pool.spec)).toEqual([]);
      const refs = pools.map((pool) => ({
        name: pool.metadata.name,
        cidr: parseCidr((pool.spec as { cidr: string }).cidr),
      }));
      expect(findOverlaps(refs)).toEqual([]);
    },
  );
});
