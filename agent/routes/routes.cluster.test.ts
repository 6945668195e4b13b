/**
 * Routes on the real kernel, from the real API server: three "nodes", each a network namespace with a
 * veth into a fourth holding a bridge (one L2 segment, IPv4 and IPv6), each with its agent syncing routes
 * into its namespace from the BlockAffinities and Node addresses. Needs root and iproute2; no traffic
 * leaves the namespaces, which are removed whatever happens.
 */
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { IpamResources } from '../../allocator/index.js';
import { cidrToResourceName, cidrToString, parseCidr } from '../../ipam/index.js';
import { type LogFields, callbackLogger } from '../../common/index.js';
import { KubeClient, loadConnection } from '../../kube/index.js';
import { type AdminClients, adminClients, removeNodes } from '../../local-cluster/clients.js';
import { clusterTestContext } from '../../local-cluster/context.js';
import { type RunningAgent, startAgent } from '../agent.js';
import { parseIpRoutes } from './ip-json.js';
import { type InstalledRoute, routeMetric, routeProtocol } from './plan.js';
import { type NodeSegment, createNodeSegment, createSegmentNodes, ip } from './testing.js';

const cluster = clusterTestContext(import.meta.url);
const { prefix } = cluster;
const tag = `tr${process.pid % 100_000}`;
const octet = randomInt(100, 250);
const names = ['n1', 'n2', 'n3'] as const;
type Name = (typeof names)[number];
let segment: NodeSegment | undefined;
const nodes = (): NodeSegment => {
  if (segment === undefined) throw new Error('the node namespaces were not made');
  return segment;
};
const netns = (name: Name) => nodes().netns(names.indexOf(name));
const nodeName = (name: Name) => `${prefix}-${name}`;
const v4 = (name: Name) => nodes().v4(names.indexOf(name));
const v6 = (name: Name) => nodes().v6(names.indexOf(name));
const block = (index: number) => `10.${octet}.0.${index * 64}/26`;
const block6 = (index: number) =>
  cidrToString(parseCidr(`fd10:${octet.toString(16)}::${(index * 64).toString(16)}/122`));
/** Blocks held by each node: n1 and n3 dual-stack, n2 IPv4 only. */
const held: Record<Name, string[]> = { n1: [block(0), block6(0)], n2: [block(1)], n3: [block(2), block6(1)] };

let dir: string;
let admin: AdminClients;
let resources: IpamResources;
const agents = new Map<Name, RunningAgent>();

async function startNodeAgent(name: Name): Promise<RunningAgent> {
  const agent = await startAgent({
    node: nodeName(name),
    client: new KubeClient(loadConnection(cluster.kubeconfig), { userAgent: 'topology-ipam-agent' }),
    socketPath: path.join(dir, `${name}.sock`),
    routes: { netns: netns(name), resyncMs: 1_000 },
  });
  agents.set(name, agent);
  return agent;
}

/** The routes of `name`'s namespace under this test's blocks (the cluster may hold other files' blocks). */
function routesOf(name: Name): InstalledRoute[] {
  return ([4, 6] as const).flatMap((family) =>
    parseIpRoutes(
      ip('-n', netns(name), '-N', '-json', `-${family}`, 'route', 'show', 'table', 'main'),
      family,
    ).filter(
      (route) => route.dst.startsWith(`10.${octet}.`) || route.dst.startsWith(`fd10:${octet.toString(16)}:`),
    ),
  );
}

const ours = { protocol: routeProtocol, metric: routeMetric };
const blackholes = (name: Name) => held[name].map((dst) => ({ kind: 'blackhole', dst, ...ours }));
const toward = (name: Name, dsts: readonly string[]) =>
  dsts.map((dst) => ({ kind: 'via', dst, gateway: dst.includes(':') ? v6(name) : v4(name), ...ours }));

/** What each node should have with the blocks `held`. */
const expected = (name: Name) => [
  ...blackholes(name),
  ...names.filter((other) => other !== name).flatMap((other) => toward(other, held[other])),
];

/** In one order, to compare as sets (the kernel lists routes in its own order). */
const sorted = <T extends { dst: string; kind: string }>(routes: readonly T[]): T[] =>
  [...routes].sort((a, b) => `${a.dst} ${a.kind}`.localeCompare(`${b.dst} ${b.kind}`));

async function untilRoutes(name: Name, want: readonly { dst: string; kind: string }[]): Promise<void> {
  await vi.waitFor(
    () => {
      expect(sorted(routesOf(name))).toEqual(sorted(want));
    },
    {
      timeout: 10_000,
      interval: 100,
    },
  );
}

async function holdBlock(name: Name, cidr: string): Promise<void> {
  await resources.affinities.create({
    metadata: { name: cidrToResourceName(parseCidr(cidr)) },
    spec: { node: nodeName(name), cidr, pool: `${prefix}-pool`, state: 'confirmed' },
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-routes-'));
  segment = createNodeSegment(tag, names.length, octet);
  admin = adminClients(cluster.kubeconfig);
  resources = admin.resources;
  await createSegmentNodes(admin, nodes(), names.map(nodeName), { ipv4Only: new Set([nodeName('n2')]) });
  for (const name of names) for (const cidr of held[name]) await holdBlock(name, cidr);
  for (const name of names) await startNodeAgent(name);
});

afterAll(async () => {
  await Promise.all([...agents.values()].map((agent) => agent.stop(5_000)));
  for (const name of Object.keys(held) as Name[])
    for (const cidr of held[name])
      await resources.affinities.delete(cidrToResourceName(parseCidr(cidr))).catch(() => undefined);
  await removeNodes(admin.nodes, names.map(nodeName));
  segment?.remove();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('routes from the node agent', () => {
  it("routes every other node's blocks via its InternalIP of the family, and blackholes its own", async () => {
    for (const name of names) await untilRoutes(name, expected(name));
  });

  it('a block released: its routes go everywhere', async () => {
    const released = block(2);
    await resources.affinities.delete(cidrToResourceName(parseCidr(released)));
    held.n3 = held.n3.filter((cidr) => cidr !== released);
    for (const name of names) await untilRoutes(name, expected(name));
  });

  it('leaves a route that is not ours alone, even where it would put one, and removes only its own', async () => {
    const foreignDst = block(3);
    ip(
      '-n',
      netns('n1'),
      'route',
      'add',
      foreignDst,
      'via',
      v4('n3'),
      'proto',
      'static',
      'metric',
      String(routeMetric),
    );
    const foreign = { kind: 'other', dst: foreignDst, metric: routeMetric, protocol: 4 };
    held.n2 = [...held.n2, foreignDst];
    await holdBlock('n2', foreignDst);
    await untilRoutes('n3', expected('n3'));
    await untilRoutes('n1', [...expected('n1').filter((route) => route.dst !== foreignDst), foreign]);
    held.n2 = held.n2.filter((cidr) => cidr !== foreignDst);
    await resources.affinities.delete(cidrToResourceName(parseCidr(foreignDst)));
    await untilRoutes('n3', expected('n3'));
    await untilRoutes('n1', [...expected('n1'), foreign]);
  });

  it('an agent restarted leaves its routes in place and does not rewrite them', async () => {
    const before = sorted(routesOf('n1'));
    await agents.get('n1')?.stop(5_000);
    expect(sorted(routesOf('n1'))).toEqual(before);
    const monitor = spawn('ip', ['-n', netns('n1'), 'monitor', 'route']);
    let seen = '';
    monitor.stdout.setEncoding('utf8').on('data', (chunk: string) => (seen += chunk));
    // A route of someone else's, once the monitor shows it, proves the monitor is listening; it may
    // start listening after the first one, so another is added (at another metric) until one shows.
    const probe = `10.${octet}.0.240/28`;
    let probes = 0;
    await vi.waitFor(
      () => {
        if (!seen.includes(probe)) {
          probes++;
          ip(
            '-n',
            netns('n1'),
            'route',
            'add',
            'blackhole',
            probe,
            'proto',
            'static',
            'metric',
            String(probes),
          );
        }
        expect(seen).toContain(probe);
      },
      { timeout: 10_000, interval: 100 },
    );
    seen = '';
    try {
      const agent = await startNodeAgent('n1');
      await agent.routes?.sync.firstSync;
      expect(agent.routes?.sync.lastError).toBeUndefined();
      await agent.routes?.sync.settled();
    } finally {
      monitor.kill();
    }
    // The kernel's own changes (an IPv6 link-local address coming up) may show; none of ours may.
    expect(seen.split('\n').filter((line) => line.includes(`proto ${routeProtocol} `))).toEqual([]);
    ip('-n', netns('n1'), 'route', 'flush', probe, 'proto', 'static');
    expect(sorted(routesOf('n1'))).toEqual(before);
  });

  it('counts a failed sync on /metrics and logs what to do about it', async () => {
    const warnings: LogFields[] = [];
    const agent = await startAgent({
      node: nodeName('n1'),
      client: new KubeClient(loadConnection(cluster.kubeconfig), { userAgent: 'topology-ipam-agent' }),
      socketPath: path.join(dir, 'failing.sock'),
      // A namespace that does not exist: every `ip -n` fails.
      routes: { netns: `${tag}-absent`, resyncMs: 1_000 },
      log: callbackLogger((level, message, fields) => {
        if (level === 'warn' && message.startsWith('routes not synced')) warnings.push(fields);
      }),
    });
    try {
      await agent.routes?.sync.firstSync;
      expect(agent.routes?.sync.lastError).toMatch(/absent/);
      expect(warnings[0]).toMatchObject({ routes: true, advice: expect.any(String) as unknown });
      expect(await agent.metrics.registry.metrics()).toMatch(
        /^topology_ipam_agent_route_sync_errors_total [1-9]/m,
      );
    } finally {
      await agent.stop(5_000);
    }
  });
});
