/**
 * Which routes a node should have for the pod network, and what to change to get there: pure, no I/O.
 *
 * Direct routing (Calico's `Never` encapsulation, flannel's host-gw): every block another node holds is
 * routed via that node's InternalIP of the block's family (the nodes share an L2 segment); every block
 * this node holds gets a blackhole, so traffic for an unassigned address in it stops here instead of
 * leaving by the default route. Pods' own routes come from the main plugin and are more specific (or,
 * for a bridge, a connected route of the block with a lower metric), so they win over the blackhole.
 * An address a node borrowed from another node's block (strictAffinity off) is routed on every other
 * node as a host route (/32, /128) via the borrower, more specific than the block's route or blackhole.
 */
import {
  type Cidr,
  addressToString,
  cidrToString,
  familyBits,
  makeCidr,
  safeParseAddress,
  safeParseCidr,
} from '../../ipam/index.js';

/**
 * The marker of our routes: the `proto` number of every route we install (`ip route ... proto 201`).
 * Unassigned in the kernel's and iproute2's lists (rt_protos) and unused by Calico (80, bird 12),
 * kube-router (17) and Cilium (kernel): we only ever change or delete routes carrying it.
 */
export const routeProtocol = 201;
/**
 * Above the kernel's connected routes (0 for IPv4, 256 for IPv6), so that a bridge's route of a block
 * of this node always wins over its blackhole; the identity of a route is (destination, metric).
 */
export const routeMetric = 1024;

export type Route =
  | { readonly kind: 'via'; readonly dst: string; readonly gateway: string; readonly metric: number }
  | { readonly kind: 'blackhole'; readonly dst: string; readonly metric: number };

/** A route in the node's main table as read: ours when `protocol` is `routeProtocol`. */
export type InstalledRoute =
  | (Route & { readonly protocol: number })
  | { readonly kind: 'other'; readonly dst: string; readonly metric: number; readonly protocol: number };

/** A block held by a node (from its BlockAffinity). */
export interface HeldBlock {
  readonly cidr: string;
  readonly node: string;
}

/** A node's InternalIPs (Node status.addresses of type InternalIP). */
export interface NodeInternalIps {
  readonly name: string;
  readonly internalIps: readonly string[];
}

/** An address assigned to a pod of `node` in a block another node holds (the pod's node borrowed it). */
export interface BorrowedAddress {
  readonly address: string;
  readonly node: string;
}

export interface RouteProblem {
  readonly dst: string;
  readonly reason: string;
}

export interface DesiredRoutes {
  readonly routes: readonly Route[];
  /** Blocks and borrowed addresses left unrouted, and why (a node without an InternalIP of the family, a bad CIDR). */
  readonly problems: readonly RouteProblem[];
}

export const routeKey = (route: { readonly dst: string; readonly metric: number }): string =>
  `${route.dst} metric ${route.metric}`;

/**
 * The routes `node` should have for `blocks` and the `borrowed` addresses, given every node's
 * InternalIPs. A borrowed address of this node's own pods gets none: the main plugin routes its pods.
 */
export function desiredRoutes(
  node: string,
  blocks: readonly HeldBlock[],
  nodes: readonly NodeInternalIps[],
  borrowed: readonly BorrowedAddress[] = [],
): DesiredRoutes {
  const ipsOf = new Map(nodes.map((each) => [each.name, each.internalIps]));
  const routes = new Map<string, Route>();
  const problems: RouteProblem[] = [];
  const routeToward = (toward: string, destination: Cidr): void => {
    const dst = cidrToString(destination);
    if (toward === node) {
      routes.set(routeKey({ dst, metric: routeMetric }), { kind: 'blackhole', dst, metric: routeMetric });
      return;
    }
    const gateway = internalIpOfFamily(ipsOf.get(toward) ?? [], destination);
    if (gateway === undefined) {
      problems.push({ dst, reason: `node ${toward} has no IPv${destination.family} InternalIP` });
      return;
    }
    const route: Route = { kind: 'via', dst, gateway, metric: routeMetric };
    const key = routeKey(route);
    // Two nodes cannot hold one block (its affinity's name is the block), nor one address: the first stays.
    if (!routes.has(key)) routes.set(key, route);
  };
  for (const block of blocks) {
    const parsed = safeParseCidr(block.cidr);
    if (parsed.ok) routeToward(block.node, parsed.value);
    else problems.push({ dst: block.cidr, reason: parsed.error.message });
  }
  for (const address of borrowed) {
    const parsed = safeParseAddress(address.address);
    if (!parsed.ok) problems.push({ dst: address.address, reason: parsed.error.message });
    else if (address.node !== node) {
      const { family, value } = parsed.value;
      routeToward(address.node, makeCidr(family, value, familyBits(family)));
    }
  }
  return { routes: [...routes.values()], problems };
}

/** The first InternalIP of the block's family, canonical; the kubelet lists the preferred one first. */
function internalIpOfFamily(ips: readonly string[], block: Cidr): string | undefined {
  for (const ip of ips) {
    const parsed = safeParseAddress(ip);
    if (parsed.ok && parsed.value.family === block.family) return addressToString(parsed.value);
  }
  return undefined;
}

export interface RouteChanges {
  /** Routes to add or to replace (same destination and metric, of ours, but different). */
  readonly replace: readonly Route[];
  /** Routes of ours no longer desired. */
  readonly remove: readonly Route[];
  /** Desired routes whose destination and metric a route that is not ours holds: left alone. */
  readonly blocked: readonly Route[];
}

const sameRoute = (a: Route, b: Route): boolean =>
  a.kind === b.kind &&
  a.dst === b.dst &&
  a.metric === b.metric &&
  (a.kind === 'blackhole' || (b.kind === 'via' && a.gateway === b.gateway));

const asRoute = (route: Route): Route =>
  route.kind === 'via'
    ? { kind: 'via', dst: route.dst, gateway: route.gateway, metric: route.metric }
    : { kind: 'blackhole', dst: route.dst, metric: route.metric };

/**
 * What to change so that our routes are exactly `desired`: a route of ours that is right is not
 * touched (a restart flaps nothing); a route that is not ours is never changed or removed, and a
 * desired route whose place (destination and metric) it holds is reported as blocked instead.
 */
export function routeChanges(desired: readonly Route[], installed: readonly InstalledRoute[]): RouteChanges {
  const ours = new Map<string, Route>();
  const foreign = new Set<string>();
  for (const route of installed) {
    if (route.kind !== 'other' && route.protocol === routeProtocol) ours.set(routeKey(route), asRoute(route));
    else foreign.add(routeKey(route));
  }
  const wanted = new Map(desired.map((route) => [routeKey(route), route]));
  const replace: Route[] = [];
  const blocked: Route[] = [];
  for (const [key, route] of wanted) {
    const current = ours.get(key);
    if (current !== undefined && sameRoute(current, route)) continue;
    if (current === undefined && foreign.has(key)) blocked.push(route);
    else replace.push(route);
  }
  const remove = [...ours].flatMap(([key, route]) => (wanted.has(key) ? [] : [route]));
  return { replace, remove, blocked };
}
