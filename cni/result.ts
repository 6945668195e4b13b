/**
 * The IPAM result in the shape of the CNI version the configuration asks for. An IPAM plugin reports no
 * interfaces; addresses carry the block's prefix length (e.g. `192.168.0.5/26`) so that a bridge plugin
 * puts the pods of one block on one L2 segment.
 */
import { safeParseAddress } from '../ipam/index.js';
import { CniError } from './errors.js';
import { type CniVersion, compareVersions } from './versions.js';

/**
 * The gateways of `link_local_gateway`, Calico's: 169.254.1.1, and for IPv6 the link-local address Calico's
 * host-side veths answer to. Never a pool address, and the same on every node, so a pod keeps it wherever
 * it runs; `ptp` puts it on the host side of each pod's veth.
 */
export const linkLocalGateways = { 4: '169.254.1.1', 6: 'fe80::ecee:eeff:feee:eeee' } as const;

export interface AssignedIp {
  readonly family: 4 | 6;
  /** Address with prefix length: `10.0.0.5/26`. */
  readonly address: string;
  readonly gateway?: string;
}

export interface RouteConfig {
  readonly dst: string;
  readonly gw?: string | undefined;
  /** 1.1.0 only. */
  readonly mtu?: number | undefined;
  readonly advmss?: number | undefined;
  readonly priority?: number | undefined;
  readonly table?: number | undefined;
  readonly scope?: number | undefined;
}

export interface DnsConfig {
  readonly nameservers?: readonly string[] | undefined;
  readonly domain?: string | undefined;
  readonly search?: readonly string[] | undefined;
  readonly options?: readonly string[] | undefined;
}

export interface IpamResult {
  readonly ips: readonly AssignedIp[];
  readonly routes: readonly RouteConfig[];
  readonly dns?: DnsConfig;
}

const routeFieldsBefore110 = ['dst', 'gw'] as const;

function formatRoute(version: CniVersion, route: RouteConfig): Record<string, unknown> {
  if (compareVersions(version, '1.1.0') >= 0) return { ...route };
  const formatted: Record<string, unknown> = {};
  for (const key of routeFieldsBefore110) if (route[key] !== undefined) formatted[key] = route[key];
  return formatted;
}

/** The result object for `version`: 1.x drops `ips[].version`, 0.3.x/0.4.0 require it. */
export function formatResult(version: CniVersion, result: IpamResult): Record<string, unknown> {
  const modern = compareVersions(version, '1.0.0') >= 0;
  const ips = result.ips.map((ip) => ({
    ...(modern ? {} : { version: String(ip.family) }),
    address: ip.address,
    ...(ip.gateway === undefined ? {} : { gateway: ip.gateway }),
  }));
  return {
    cniVersion: version,
    ips,
    ...(result.routes.length === 0
      ? {}
      : { routes: result.routes.map((route) => formatRoute(version, route)) }),
    ...(result.dns === undefined ? {} : { dns: result.dns }),
  };
}

const malformed = (path: string, reason: string): CniError =>
  new CniError({ kind: 'invalid-config', path, reason: `${path}: ${reason}` });

/**
 * The addresses (without prefix length) of a previous result, whatever its version; for CHECK.
 * `undefined` when there is nothing to compare (no prevResult, or one without `ips`); a malformed one is
 * refused (code 7, naming the field) rather than taken as matching.
 */
export function addressesOfResult(prevResult: unknown): string[] | undefined {
  if (prevResult === undefined) return undefined;
  if (typeof prevResult !== 'object' || prevResult === null || Array.isArray(prevResult))
    throw malformed('prevResult', 'is not a CNI result object');
  if (!('ips' in prevResult)) return undefined;
  const { ips } = prevResult;
  if (!Array.isArray(ips)) throw malformed('prevResult.ips', 'is not a list');
  return (ips as unknown[]).map((ip, index) => {
    const path = `prevResult.ips[${index}].address`;
    const address =
      typeof ip === 'object' && ip !== null && 'address' in ip && typeof ip.address === 'string'
        ? ip.address
        : undefined;
    if (address === undefined) throw malformed(path, 'is missing or not a string');
    const bare = address.replace(/\/\d{1,3}$/, '');
    if (bare === address || !safeParseAddress(bare).ok)
      throw malformed(path, `${JSON.stringify(address.slice(0, 64))} is not an address with a prefix length`);
    return bare;
  });
}
