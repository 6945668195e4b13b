/**
 * The text iproute2 reads and writes for our routes: `ip -N -json route show` parsed into routes (pure),
 * and the `ip -batch` lines that change them. `-N` prints protocols and types as numbers, whatever a
 * host's rt_protos names them.
 */
import { z } from 'zod';
import { cidrToString, safeParseCidr } from '../../ipam/index.js';
import { type InstalledRoute, type Route, routeProtocol } from './plan.js';

/** rtnetlink route types (RTN_*), as `ip -N` prints them; unicast is printed as no type at all. */
const rtnBlackhole = '6';

const ipRouteRowSchema = z.object({
  dst: z.string(),
  type: z.string().optional(),
  gateway: z.string().optional(),
  protocol: z.string().optional(),
  metric: z.number().int().nonnegative().optional(),
  table: z.string().optional(),
});

/** `10.0.0.5` (a host route) and `default` as CIDRs, canonical; undefined for what is not one. */
function destination(dst: string, family: 4 | 6): string | undefined {
  const text = dst === 'default' ? (family === 4 ? '0.0.0.0/0' : '::/0') : dst;
  const withPrefix = text.includes('/') ? text : `${text}/${family === 4 ? 32 : 128}`;
  const parsed = safeParseCidr(withPrefix);
  return parsed.ok ? cidrToString(parsed.value) : undefined;
}

/** The routes of one family's main table, from `ip -N -json -<family> route show table main`. */
export function parseIpRoutes(json: string, family: 4 | 6): InstalledRoute[] {
  const rows = z.array(ipRouteRowSchema).parse(JSON.parse(json === '' ? '[]' : json));
  return rows.flatMap((row): InstalledRoute[] => {
    const dst = destination(row.dst, family);
    if (dst === undefined) return [];
    const protocol = Number(row.protocol ?? 0);
    const metric = row.metric ?? 0;
    if (protocol === routeProtocol && row.type === rtnBlackhole)
      return [{ kind: 'blackhole', dst, metric, protocol }];
    if (protocol === routeProtocol && row.type === undefined && row.gateway !== undefined)
      return [{ kind: 'via', dst, gateway: row.gateway, metric, protocol }];
    return [{ kind: 'other', dst, metric, protocol }];
  });
}

/** The `ip -batch` line that puts `route` in place (ours: our protocol, table main; the family is the destination's). */
export function replaceCommand(route: Route): string {
  const target = route.kind === 'via' ? `${route.dst} via ${route.gateway}` : `blackhole ${route.dst}`;
  return `route replace ${target} proto ${routeProtocol} metric ${route.metric}`;
}

/** The `ip -batch` line that deletes `route`: the kernel deletes it only if its protocol is ours. */
export function deleteCommand(route: Route): string {
  const type = route.kind === 'blackhole' ? 'blackhole ' : 'unicast ';
  return `route del ${type}${route.dst} proto ${routeProtocol} metric ${route.metric}`;
}

const turnOff =
  "or turn routes off (the chart's routes.enabled=false) if something else routes the pod network";

/** What a user can do about a failed sync, from the error `ip` (or starting it) gave. */
export function routeSyncAdvice(error: string): string {
  if (error.includes('ENOENT'))
    return `iproute2's ip is not on the agent's PATH: run the chart's cni image, which carries it, ${turnOff}`;
  if (/Operation not permitted|EPERM/i.test(error))
    return `the agent may not change routes: it needs CAP_NET_ADMIN in the node's network namespace (the chart adds it with routes.enabled=true), ${turnOff}`;
  if (/Nexthop has invalid gateway|Network is unreachable/i.test(error))
    return `a node's InternalIP is not on a network this node reaches directly: direct routing needs the nodes on one L2 segment; otherwise route the blocks with BGP or the cloud's route tables and turn routes off (routes.enabled=false)`;
  return 'the routes already in place stay; the agent tries again at the next change or resync';
}
