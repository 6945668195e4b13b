/**
 * The network configuration on stdin and its `ipam` section, parsed with zod into plain values. Bad input
 * becomes a CniError naming the field and what to write instead: malformed JSON → 6, an unsupported
 * version → 1, an unknown `ipam` field → 2, anything else invalid → 7.
 */
import { z } from 'zod';
import { errorMessage, routesPluginName } from '../common/index.js';
import { type Cidr, type IpFamily, cidrToString, safeParseAddress, safeParseCidr } from '../ipam/index.js';
import { CniError } from './errors.js';
import { type DnsConfig, type RouteConfig, linkLocalGateways } from './result.js';
import { type CniVersion, isSupportedVersion, supportedVersions } from './versions.js';

/** A pool named in the configuration: by IPPool name, or by the pool's CIDR. */
export type PoolRef =
  | { readonly kind: 'name'; readonly name: string; readonly family?: IpFamily }
  | { readonly kind: 'cidr'; readonly cidr: Cidr };

/**
 * The `ipam` section of a network configuration: what one CNI network asks of this plugin. Not to be
 * confused with the cluster-wide IPAMConfig resource (api/config.ts), whose cooldown it may override.
 */
export interface NetworkIpamSection {
  readonly type: string;
  /** Empty: every pool that selects the node. */
  readonly pools: readonly PoolRef[];
  readonly families: readonly IpFamily[];
  readonly routes: readonly RouteConfig[];
  readonly dns?: DnsConfig;
  /** The node this configuration is for: the agent refuses a request meant for another node. */
  readonly nodename?: string;
  /** Overrides IPAMConfig's releaseCooldownSeconds. */
  readonly cooldownSeconds?: number;
  /** The most one request may take in the agent, retries included. */
  readonly timeoutSeconds: number;
  /**
   * Each address is reported with a link-local gateway and its pool's prefix length, for a routed main
   * plugin (`ptp`) that puts the gateway on the host side of each pod's veth (see result.ts).
   */
  readonly linkLocalGateway: boolean;
}

export interface Attachment {
  readonly containerID: string;
  readonly ifname: string;
}

export interface NetworkConfig {
  readonly cniVersion: CniVersion;
  readonly name: string;
  readonly ipam: NetworkIpamSection;
  readonly prevResult?: unknown;
  /** GC: the attachments still in use. */
  readonly validAttachments?: readonly Attachment[];
}

/** Network names go into every handle, like container IDs: bounded for the same reason (see env.ts). */
export const maxNetworkNameLength = 253;

// Calico writes booleans as strings ("true"); accept both.
const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((text) => text === 'true')]);
const poolList = z.array(z.string().min(1, 'a pool is named by its IPPool name or its CIDR'));
const u32 = z.int().min(0).max(0xffffffff);

const routeSchema = z.strictObject({
  dst: z.string(),
  gw: z.string().optional(),
  mtu: u32.optional(),
  advmss: u32.optional(),
  priority: u32.optional(),
  table: u32.optional(),
  scope: z.int().min(0).max(255).optional(),
});

const dnsSchema = z.strictObject({
  nameservers: z.array(z.string()).optional(),
  domain: z.string().optional(),
  search: z.array(z.string()).optional(),
  options: z.array(z.string()).optional(),
});

const ipamSchema = z.strictObject({
  type: z.string().min(1, 'ipam.type names the IPAM plugin binary'),
  pools: poolList.optional(),
  ipv4_pools: poolList.optional(),
  ipv6_pools: poolList.optional(),
  assign_ipv4: flag.default(true),
  assign_ipv6: flag.default(false),
  routes: z.array(routeSchema).default([]),
  dns: dnsSchema.optional(),
  nodename: z.string().min(1).optional(),
  cooldown_seconds: z.int().min(0).optional(),
  timeout_seconds: z.number().positive().max(600).default(30),
  link_local_gateway: flag.default(false),
  // Read by the forwarder, which dials it: the node agent's unix socket.
  agent_socket: z.string().min(1).optional(),
  // Read before the node agent (the plugin talked to the API server itself); still accepted so that
  // conflists written by an earlier release keep working, and ignored: the agent's settings decide.
  kubeconfig: z.string().min(1).optional(),
  nodename_file: z.string().min(1).optional(),
  state_dir: z.string().min(1).optional(),
  lock_dir: z.string().min(1).optional(),
});

const attachmentSchema = z.object({ containerID: z.string(), ifname: z.string() });

const networkSchema = z.looseObject({
  cniVersion: z.string({ error: 'cniVersion is required (e.g. "1.0.0")' }),
  name: z
    .string({ error: 'name (the network name) is required' })
    .max(maxNetworkNameLength, `a network name has at most ${maxNetworkNameLength} characters`)
    .regex(
      /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/,
      'a network name starts with a letter or digit and holds only letters, digits, "_", "." and "-"',
    ),
  ipam: z.unknown().optional(),
  prevResult: z.unknown().optional(),
  'cni.dev/valid-attachments': z.array(attachmentSchema).optional(),
});

const invalid = (path: string, reason: string) => new CniError({ kind: 'invalid-config', path, reason });

function pathText(prefix: string, path: readonly PropertyKey[]): string {
  let text = prefix;
  for (const key of path)
    text += typeof key === 'number' ? `[${key}]` : `${text === '' ? '' : '.'}${String(key)}`;
  return text;
}

function fromZod(prefix: string, error: z.ZodError): CniError {
  const issue = error.issues[0];
  if (!issue) return invalid(prefix, 'invalid');
  if (issue.code === 'unrecognized_keys') {
    const path = pathText(prefix, [...issue.path, issue.keys[0] ?? '']);
    const known =
      prefix === 'ipam' && issue.path.length === 0
        ? ` Known fields: ${Object.keys(ipamSchema.shape).join(', ')}.`
        : '';
    return new CniError({
      kind: 'unsupported-field',
      path,
      reason: `${path} is not a field this plugin knows.${known}`,
    });
  }
  const path = pathText(prefix, issue.path);
  return invalid(path, `${path}: ${issue.message}`);
}

/** A pool reference as written (an IPPool name or a CIDR; `family`: only that family's), or why it is none. */
export function readPoolRef(
  text: string,
  family: IpFamily | undefined,
): { readonly ok: true; readonly ref: PoolRef } | { readonly ok: false; readonly reason: string } {
  if (!text.includes('/')) {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(text) || text.length > 253) {
      return { ok: false, reason: `"${text}" is neither an IPPool name nor a CIDR` };
    }
    return {
      ok: true,
      ref: family === undefined ? { kind: 'name', name: text } : { kind: 'name', name: text, family },
    };
  }
  const parsed = safeParseCidr(text);
  if (!parsed.ok) {
    const hint =
      parsed.error.code === 'cidr-host-bits-set'
        ? ` (did you mean ${cidrToString(parsed.error.network)}?)`
        : '';
    return { ok: false, reason: `"${text}" is not a valid CIDR: ${parsed.error.message}${hint}` };
  }
  if (family !== undefined && parsed.value.family !== family) {
    return {
      ok: false,
      reason: `${text} is an IPv${parsed.value.family} CIDR in the IPv${family} pool list`,
    };
  }
  return { ok: true, ref: { kind: 'cidr', cidr: parsed.value } };
}

function parsePoolRef(text: string, path: string, family: IpFamily | undefined): PoolRef {
  const read = readPoolRef(text, family);
  if (!read.ok) throw invalid(path, `${path}: ${read.reason}`);
  return read.ref;
}

function checkRoute(route: RouteConfig, path: string, linkLocalGateway: boolean): void {
  const dst = safeParseCidr(route.dst);
  if (!dst.ok)
    throw invalid(`${path}.dst`, `${path}.dst: "${route.dst}" is not a valid CIDR: ${dst.error.message}`);
  if (route.gw !== undefined) {
    const gw = safeParseAddress(route.gw);
    if (!gw.ok)
      throw invalid(`${path}.gw`, `${path}.gw: "${route.gw}" is not an IP address: ${gw.error.message}`);
  }
  // Main plugins add the IPAM's routes (ipam.ConfigureIface) before a routed one (ptp) makes the gateway
  // reachable: the kernel refuses a route via 169.254.1.1 then ("network is unreachable") and the pod
  // fails to start. The chained topology-ipam-routes adds such routes after ptp instead. IPv6's gateway
  // is on-link from the start (fe80::/64), so its routes work here.
  if (linkLocalGateway && route.gw === undefined && dst.value.family === 4)
    throw invalid(
      `${path}.gw`,
      `${path}: with link_local_gateway an IPv4 route without gw would go via ${linkLocalGateways[4]}, ` +
        'which the main plugin cannot reach when it adds the routes: list the route in the routes of ' +
        `${routesPluginName}, chained after the main plugin, which adds it once the gateway is on-link ` +
        "(the chart's conflist chains it with the default route), or give it a gw on the pod's network",
    );
}

/** Parses the `ipam` section (already JSON). */
export function parseNetworkIpamSection(value: unknown): NetworkIpamSection {
  if (value === undefined || value === null) {
    throw invalid(
      'ipam',
      'the network configuration has no "ipam" section; add e.g. "ipam": {"type": "topology-ipam"}',
    );
  }
  const parsed = ipamSchema.safeParse(value);
  if (!parsed.success) throw fromZod('ipam', parsed.error);
  const ipam = parsed.data;
  const pools = [
    ...(ipam.pools ?? []).map((text, i) => parsePoolRef(text, `ipam.pools[${i}]`, undefined)),
    ...(ipam.ipv4_pools ?? []).map((text, i) => parsePoolRef(text, `ipam.ipv4_pools[${i}]`, 4)),
    ...(ipam.ipv6_pools ?? []).map((text, i) => parsePoolRef(text, `ipam.ipv6_pools[${i}]`, 6)),
  ];
  const families: IpFamily[] = [
    ...(ipam.assign_ipv4 ? [4 as const] : []),
    ...(ipam.assign_ipv6 ? [6 as const] : []),
  ];
  if (families.length === 0) {
    throw invalid(
      'ipam.assign_ipv4',
      'assign_ipv4 and assign_ipv6 are both false: there is nothing to assign',
    );
  }
  ipam.routes.forEach((route, i) => {
    checkRoute(route, `ipam.routes[${i}]`, ipam.link_local_gateway);
  });
  return {
    type: ipam.type,
    pools,
    families,
    routes: ipam.routes,
    timeoutSeconds: ipam.timeout_seconds,
    linkLocalGateway: ipam.link_local_gateway,
    ...(ipam.dns === undefined ? {} : { dns: ipam.dns }),
    ...(ipam.nodename === undefined ? {} : { nodename: ipam.nodename }),
    ...(ipam.cooldown_seconds === undefined ? {} : { cooldownSeconds: ipam.cooldown_seconds }),
  };
}

/** The `cniVersion` of a configuration, as far as it can be read; for error objects. */
export function versionOf(stdin: string): CniVersion | undefined {
  try {
    const value = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof value === 'string' && isSupportedVersion(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Parses the whole network configuration from stdin. */
export function parseNetworkConfig(stdin: string): NetworkConfig {
  let json: unknown;
  try {
    json = JSON.parse(stdin);
  } catch (error) {
    const reason = stdin.trim() === '' ? 'stdin is empty' : errorMessage(error);
    throw new CniError({
      kind: 'decode',
      reason: `the network configuration on stdin is not JSON: ${reason}`,
    });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CniError({ kind: 'decode', reason: 'the network configuration on stdin is not a JSON object' });
  }
  const parsed = networkSchema.safeParse(json);
  if (!parsed.success) throw fromZod('', parsed.error);
  const network = parsed.data;
  if (!isSupportedVersion(network.cniVersion)) {
    throw new CniError({
      kind: 'incompatible-version',
      version: network.cniVersion,
      reason: `cniVersion ${network.cniVersion} is not supported; supported versions: ${supportedVersions.join(', ')}`,
    });
  }
  const validAttachments = network['cni.dev/valid-attachments'];
  return {
    cniVersion: network.cniVersion,
    name: network.name,
    ipam: parseNetworkIpamSection(network.ipam),
    ...(network.prevResult === undefined ? {} : { prevResult: network.prevResult }),
    ...(validAttachments === undefined ? {} : { validAttachments }),
  };
}

/** Escapes '%' and '.' in a handle's component, so that '.' separates the components unambiguously. */
const escapeHandleComponent = (text: string): string => text.replaceAll('%', '%25').replaceAll('.', '%2E');

/**
 * The handle of one attachment: `<network>.<containerID>.<ifname>`, each component with '.' and '%'
 * escaped (`%2E`, `%25`). Components without either (the usual case) read as they always did, so most
 * handles recorded by earlier versions are byte-identical; `legacyHandleOf` gives the others.
 */
export const handleOf = (network: string, containerId: string, ifname: string): string =>
  [network, containerId, ifname].map(escapeHandleComponent).join('.');

/**
 * The handle versions before escaping recorded: ambiguous when a component holds a '.' (`podA.eth0` +
 * `eth1` and `podA` + `eth0.eth1` shared one). Matched only to release or check what they recorded.
 */
export const legacyHandleOf = (network: string, containerId: string, ifname: string): string =>
  `${network}.${containerId}.${ifname}`;

/**
 * Whether a handle is an attachment of `network`: exactly three components, the first being the
 * network's. Escaped handles always have three; an unescaped one with more (a legacy handle with a '.'
 * in a component) cannot be attributed to one network and is never matched here.
 */
export function isHandleOfNetwork(handle: string, network: string): boolean {
  const components = handle.split('.');
  return components.length === 3 && components[0] === escapeHandleComponent(network);
}
