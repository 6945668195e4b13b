/**
 * The chart's values, as one zod schema: `values.schema.json` is generated from it (`npm run
 * generate`), so `helm install` refuses bad values with the field's path before anything is
 * created, and the README's values table is generated from its descriptions. The defaults live in
 * values.yaml; a unit test checks that values.yaml satisfies this schema and that the files are fresh.
 *
 * Our own sections are strict (a misspelt key is an error); Kubernetes objects passed through verbatim
 * (resources, affinity, tolerations, security contexts) are left open.
 */
import { z } from 'zod';
import { ipPoolSpecSchema, ipamConfigSpecSchema } from '../api/index.js';

const dnsLabel = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a lowercase DNS label: a-z, 0-9 and "-"');
const labelKey = z
  .string()
  .regex(
    /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/,
    'a Kubernetes label key, e.g. rack or topology.kubernetes.io/zone',
  );
const labelValue = z
  .string()
  .max(63)
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'a Kubernetes label value');
// The API server checks CIDRs exactly (CEL isCIDR); this catches the obvious mistakes before install.
const cidr = z
  .string()
  .regex(
    /^((\d{1,3}\.){3}\d{1,3}\/\d{1,2}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\/\d{1,3})$/,
    'a CIDR such as 10.244.0.0/16 or fd00:10:244::/64',
  )
  .describe('The range of addresses in this pool, in CIDR notation. Cannot be changed after creation.');
const absolutePath = z.string().regex(/^\/.*[^/]$|^\/$/, 'an absolute path');

const freeform = z.record(z.string(), z.unknown());
const stringMap = z.record(z.string(), z.string());
const quantities = z.record(z.string(), z.union([z.string(), z.number()]));
const resources = z
  .strictObject({
    requests: quantities.optional().describe('Resource requests, e.g. {cpu: 50m, memory: 128Mi}.'),
    limits: quantities.optional().describe('Resource limits, e.g. {memory: 512Mi}.'),
  })
  .describe('Container resources (requests, limits).');
const image = (what: string) =>
  z.strictObject({
    repository: z.string().min(1).describe(`Image repository of the ${what}.`),
    tag: z.string().describe("Image tag; empty means the chart's appVersion."),
    pullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).describe('Image pull policy.'),
  });
const serviceAccount = z.strictObject({
  annotations: stringMap.describe('Annotations on the ServiceAccount (e.g. for workload identity).'),
});
const seconds = (description: string) => z.int().positive().describe(description);

const poolSpec = z.strictObject({ ...ipPoolSpecSchema.shape, cidr });
const poolSpecWithoutTarget = poolSpec.omit({ cidr: true, nodeSelector: true });

const operator = z.strictObject({
  replicas: z
    .int()
    .min(1)
    .describe('Operator replicas; one leads (Lease), every one serves the webhook from its own cache.'),
  image: image('operator'),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).describe('Log level (JSON logs on stdout).'),
  leaderElection: z.strictObject({
    leaseDurationSeconds: seconds('How long a lease is valid without renewal; a successor waits this long.'),
    renewDeadlineSeconds: seconds('A leader that could not renew for this long stops leading.'),
    retryPeriodSeconds: seconds('How often replicas try to acquire or renew the lease.'),
  }),
  resyncSeconds: seconds('Full re-reconcile period, besides the watch events.'),
  apiTimeoutSeconds: seconds(
    'Longest one API request may take, so a hung API server fails requests (lease renewals included) instead of blocking them.',
  ),
  health: z.strictObject({
    apiUnreachableNotReadySeconds: seconds(
      '/readyz fails once the API server has not answered for this long (more than retryPeriodSeconds: every replica reads the Lease that often).',
    ),
    apiUnreachableUnhealthySeconds: seconds(
      '/healthz fails, so the kubelet restarts the replica, once the API server has not answered for this long.',
    ),
    controllerStuckSeconds: seconds(
      '/healthz fails once a reconcile has run, or a queued key has waited for a worker, this long (more than apiTimeoutSeconds).',
    ),
  }),
  healthPort: z
    .int()
    .min(1)
    .max(65535)
    .describe('Port of /healthz, /readyz and /metrics (probes use it; Prometheus can scrape it).'),
  hostNetwork: z
    .boolean()
    .describe(
      'Run the operator in the host network namespace. It must when this chart is the pod network: pods get addresses only from pools the operator has marked Allocatable, so an operator on the pod network would wait for itself on a fresh install. Its ports (healthPort, webhook.port) are then taken on each node it runs on, so it rolls one replica at a time without a surge.',
    ),
  resources,
  podDisruptionBudget: z.strictObject({
    enabled: z.boolean().describe('Create a PodDisruptionBudget for the operator (with replicas > 1).'),
    minAvailable: z.union([z.int().min(0), z.string()]).describe('minAvailable of the PodDisruptionBudget.'),
  }),
  priorityClassName: z.string().describe('PriorityClass of the operator pods; empty for none.'),
  podSecurityContext: freeform.describe('Pod securityContext of the operator.'),
  securityContext: freeform.describe('Container securityContext of the operator.'),
  nodeSelector: stringMap.describe('Node selector of the operator pods.'),
  tolerations: z.array(freeform).describe('Tolerations of the operator pods.'),
  affinity: freeform.describe(
    'Affinity of the operator pods; empty means a preferred anti-affinity that spreads replicas over nodes.',
  ),
  topologySpreadConstraints: z.array(freeform).describe('Topology spread constraints of the operator pods.'),
  podAnnotations: stringMap.describe('Extra annotations on the operator pods.'),
  podLabels: stringMap.describe('Extra labels on the operator pods.'),
  extraEnv: z.array(freeform).describe('Extra environment variables of the operator container.'),
  serviceAccount,
});

const webhook = z.strictObject({
  enabled: z
    .boolean()
    .describe(
      'Serve the IPPool admission webhook (refuses overlapping CIDRs, bad selectors, immutable-field changes at apply time).',
    ),
  port: z.int().min(1).max(65535).describe('Container port of the webhook; the Service listens on 443.'),
  failurePolicy: z
    .enum(['Ignore', 'Fail'])
    .describe(
      'What the API server does when the webhook cannot be reached. Ignore lets pools through (the operator still refuses overlaps: the older pool wins; no block is ever claimed over another, so no address is given twice); Fail refuses every IPPool write while no operator replica is ready, including the pools of this chart on first install.',
    ),
  timeoutSeconds: z.int().min(1).max(30).describe('How long the API server waits for the webhook.'),
});

const ipamSection = z.strictObject({
  pools: z
    .array(z.string())
    .optional()
    .describe(
      'IPPools (by name or CIDR) to assign from; empty or unset means every pool that selects the node.',
    ),
  ipv4_pools: z.array(z.string()).optional().describe('IPv4 pools to assign from, by name or CIDR.'),
  ipv6_pools: z.array(z.string()).optional().describe('IPv6 pools to assign from, by name or CIDR.'),
  assign_ipv4: z.boolean().describe('Assign an IPv4 address to each pod.'),
  assign_ipv6: z.boolean().describe('Assign an IPv6 address to each pod.'),
  routes: z
    .array(z.strictObject({ dst: z.string(), gw: z.string().optional() }))
    .optional()
    .describe('Routes returned to the main plugin, e.g. [{dst: 0.0.0.0/0}].'),
  link_local_gateway: z
    .boolean()
    .optional()
    .describe(
      "Report 169.254.1.1 (fe80::ecee:eeff:feee:eeee) as each address's gateway, with its pool's prefix length, for a routed main plugin; unset: true when cni.conflist.plugin is ptp, false otherwise. With it the conflist chains topology-ipam-routes after the main plugin, which adds the pods' default routes via the gateway; an IPv4 route without gw here is refused.",
    ),
  cooldown_seconds: z.int().min(0).optional().describe("Overrides IPAMConfig's releaseCooldownSeconds."),
  timeout_seconds: z
    .number()
    .positive()
    .max(600)
    .optional()
    .describe('Most one CNI command may take in the agent; the forwarder waits 5 s longer for its answer.'),
});

const agent = z.strictObject({
  socket: absolutePath.describe(
    'Unix socket of the node agent on the host (mode 0600, in a folder of its own, 0700); the forwarder dials it. The chart writes `ipam.agent_socket` into the conflist only when this differs from the default.',
  ),
  logLevel: z
    .enum(['debug', 'info', 'warn', 'error'])
    .describe('Log level of the agent (JSON logs on stdout).'),
  apiTimeoutSeconds: seconds('Longest one API request of the agent may take.'),
  healthPort: z
    .int()
    .min(1)
    .max(65535)
    .describe(
      'Port of the agent’s /healthz, /readyz and /metrics on every node’s addresses (host network): the probes use it, Prometheus can scrape it.',
    ),
  resources,
  securityContext: freeform.describe(
    'Container securityContext of the agent: root (its socket folder is root’s, like the runtime calling the forwarder) with every capability dropped; routes.enabled or natOutgoing.enabled adds NET_ADMIN to it.',
  ),
});

const cni = z.strictObject({
  enabled: z.boolean().describe('Run the CNI DaemonSet: the node agent and the installer of the forwarder.'),
  image: image('CNI DaemonSet (node, the agent and installer bundles, the forwarder binary)'),
  binDir: absolutePath.describe('Host directory of CNI plugin binaries.'),
  confDir: absolutePath.describe('Host directory of CNI network configurations.'),
  tokenExpirationSeconds: z
    .int()
    .min(600)
    .describe(
      "Lifetime of the agent's projected service account token (bound to the agent's pod and its node, which limits it to this node's blocks); the kubelet rotates it at 80%.",
    ),
  syncSeconds: seconds('How often the installer re-checks the forwarder and the conflist on the host.'),
  conflist: z.strictObject({
    enabled: z
      .boolean()
      .describe('Write a conflist; false installs only the forwarder, for a network config of your own.'),
    fileName: z
      .string()
      .regex(/^[^/]+\.conflist$/, 'a file name ending in .conflist')
      .describe('Conflist file name; runtimes use the first file in name order.'),
    name: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'a CNI network name')
      .describe('The CNI network name (part of each address handle).'),
    cniVersion: z.enum(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']).describe('cniVersion of the conflist.'),
    plugin: z
      .looseObject({ type: z.string().min(1) })
      .describe(
        'The main plugin; the chart adds `ipam` (type topology-ipam, the values of cni.ipam, and `agent_socket` if cni.agent.socket is not the default).',
      ),
    chained: z
      .array(z.looseObject({ type: z.string().min(1) }))
      .describe(
        'Plugins chained after the main one (after topology-ipam-routes, which the chart adds with link_local_gateway).',
      ),
  }),
  ipam: ipamSection,
  agent,
  resources: resources.describe('Resources of the installer container.'),
  priorityClassName: z.string().describe('PriorityClass of the CNI pods; empty for none.'),
  podSecurityContext: freeform.describe('Pod securityContext of the CNI pods.'),
  securityContext: freeform.describe(
    'Container securityContext of the installer: root (to write root-owned host directories) with every capability dropped.',
  ),
  nodeSelector: stringMap.describe('Nodes to run the agent and install the forwarder on.'),
  tolerations: z.array(freeform).describe('Tolerations of the CNI pods; the default tolerates every taint.'),
  terminationGracePeriodSeconds: z
    .int()
    .min(1)
    .describe('How long a stopping agent may take to finish the block writes in flight.'),
  updateStrategy: freeform.describe(
    'DaemonSet update strategy; a RollingUpdate must keep maxSurge 0 (two agents on one node would share its socket).',
  ),
  podAnnotations: stringMap.describe('Extra annotations on the CNI pods.'),
  serviceAccount,
});

const routes = z.strictObject({
  enabled: z
    .boolean()
    .describe(
      "The node agent routes the pod network directly (Calico's `Never` encapsulation): every other node's blocks via that node's InternalIP (the nodes share an L2 segment), a blackhole for its own, a /32 or /128 toward a pod's node for a borrowed address. Adds NET_ADMIN to the agent container, ROUTES=true to its environment, and to its RBAC list/watch on BlockAffinities and create/patch on Events in `default` (a Warning Event `RouteSyncFailed` on the Node when a sync fails). Turn it off when something else routes the blocks (BGP, the cloud's route tables, another CNI).",
    ),
});

const natOutgoing = z.strictObject({
  enabled: z
    .boolean()
    .describe(
      "The node agent masquerades as Calico's Felix does: traffic from a pool with `natOutgoing: true` to an address outside every IPPool and every Node's InternalIP and ExternalIP leaves with the node's address (one nftables table, `inet topology-ipam`). Adds NET_ADMIN to the agent container, NAT_OUTGOING=true to its environment and create/patch on Events in `default` to its RBAC (a Warning Event `NatSyncFailed` on the Node when a sync fails); it reads only IPPools and Nodes, which the agent's RBAC already grants. Turn it off when something else masquerades the pods' traffic.",
    ),
});

const ipamConfig = z.strictObject({
  create: z
    .boolean()
    .describe('Create the cluster-wide IPAMConfig `default` from these values (only one per cluster).'),
  ...ipamConfigSpecSchema.shape,
});

const ippools = z.strictObject({
  keepOnUninstall: z
    .boolean()
    .describe(
      'Annotate pools helm.sh/resource-policy=keep, so helm uninstall (or removing a pool from values) leaves them and their blocks in place instead of deleting pools whose finalizer no operator would lift.',
    ),
  pools: z
    .array(
      z.strictObject({
        name: dnsLabel.describe('Pool name, prefixed with the release name.'),
        ...poolSpec.shape,
      }),
    )
    .describe(
      'IPPools to create: a name plus an IPPool spec (cidr, blockSize, nodeSelector, natOutgoing, ...).',
    ),
  perLabelValue: z.strictObject({
    label: z
      .union([z.literal(''), labelKey])
      .describe('A node label (e.g. rack, topology.kubernetes.io/zone); empty to create no per-value pools.'),
    cidrs: z
      .record(labelValue, cidr)
      .describe('Label value → CIDR: one pool per entry, selecting nodes with `<label> == "<value>"`.'),
    spec: poolSpecWithoutTarget.describe(
      'Further IPPool spec fields for every per-value pool (blockSize, natOutgoing, ...).',
    ),
  }),
});

export const valuesSchema = z.strictObject({
  global: freeform.optional().describe('Values shared with a parent chart (unused).'),
  nameOverride: z.string().describe('Overrides the chart name in object names.'),
  fullnameOverride: z.string().describe('Overrides the `<release>-<chart>` prefix of object names.'),
  imagePullSecrets: z.array(z.strictObject({ name: z.string() })).describe('Pull secrets for both images.'),
  commonLabels: stringMap.describe('Labels added to every object.'),
  apiServer: z
    .string()
    .regex(/^(https:\/\/[^/]+)?$/, 'empty, or an https:// URL with no path')
    .describe(
      "API server URL of the operator and the node agent, as Calico's kubernetes-services-endpoint ConfigMap gives its components: for clusters without kube-proxy (or a replacement). Empty means the kubernetes Service's address, which the kubelet sets (KUBERNETES_SERVICE_HOST).",
    ),
  operator,
  webhook,
  cni,
  routes,
  natOutgoing,
  ipamConfig,
  ippools,
});
export type Values = z.infer<typeof valuesSchema>;

/** Drops the ±2^53 bounds zod puts on every integer: noise in a schema people read. */
function tidy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(tidy);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(
        ([key, child]) =>
          !((key === 'minimum' || key === 'maximum') && Math.abs(child as number) >= Number.MAX_SAFE_INTEGER),
      )
      .map(([key, child]) => [key, tidy(child)]),
  );
}

/** The chart's values.schema.json (draft-07, which every Helm 3 release reads). */
export function valuesJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(valuesSchema, { target: 'draft-7', io: 'input', unrepresentable: 'throw' });
  return {
    ...(tidy(schema) as Record<string, unknown>),
    title: 'topology-ipam chart values',
  };
}

export const renderValuesJsonSchema = (): string => `${JSON.stringify(valuesJsonSchema(), null, 2)}\n`;
