/**
 * The real forwarder binary run under its second name, `topology-ipam-routes`, as a runtime runs a chained
 * plugin: after the main plugin, with its result as prevResult. In a network namespace made here that
 * stands for the pod after `ptp` (eth0 with the pod's addresses, 169.254.1.1 on-link), it adds the default
 * routes via the link-local gateways, idempotently, checks them, and passes prevResult on with them.
 * Needs root and iproute2: without them the test fails saying what to install, it is never skipped.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { routesPluginName } from '../common/index.js';
import { buildForwarder } from './build.js';
import { linkLocalGateways } from './result.js';
import { type ProcessOutcome, missingNamespacePrerequisites, runWithStdin } from './testing.js';
import { versionInfo } from './versions.js';

let buildDir: string;
let plugin: string;
const pod = `troutes-${randomBytes(3).toString('hex')}`;
const netns = `/var/run/netns/${pod}`;
const subnet = `10.${randomInt(100, 250)}.${randomInt(0, 255)}`;
const v4 = `${subnet}.5`;
const v6 = `fd00:${randomInt(0x100, 0xfff).toString(16)}::5`;

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', stdio: 'pipe' });
const podRoutes = (family: '-4' | '-6') => ip('-n', pod, family, 'route', 'show', 'table', 'main');

beforeAll(async () => {
  const missing = missingNamespacePrerequisites();
  if (missing.length > 0) throw new Error(`the chained plugin's test needs: ${missing.join('; ')}`);
  buildDir = fs.mkdtempSync(path.join(os.tmpdir(), 'routes-plugin-build-'));
  plugin = path.join(path.dirname(await buildForwarder(buildDir)), routesPluginName);
}, 300_000);
afterAll(() => {
  fs.rmSync(buildDir, { recursive: true, force: true });
});

/** The pod as ptp leaves it: eth0 up with its addresses, and the IPv4 gateway on-link. */
beforeEach(() => {
  ip('netns', 'add', pod);
  ip('-n', pod, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0');
  ip('-n', pod, 'link', 'set', 'peer0', 'up');
  ip('-n', pod, 'link', 'set', 'eth0', 'up');
  ip('-n', pod, 'addr', 'add', `${v4}/24`, 'dev', 'eth0');
  ip('-n', pod, 'addr', 'add', `${v6}/120`, 'dev', 'eth0', 'nodad');
  ip('-n', pod, 'route', 'add', linkLocalGateways[4], 'dev', 'eth0', 'scope', 'link');
});
afterEach(() => {
  spawnSync('ip', ['netns', 'del', pod]);
});

/** ptp's result for a dual-stack pod, as the runtime passes it on. */
function ptpResult(cniVersion = '1.0.0', ips = [`${v4}/24`, `${v6}/120`]): Record<string, unknown> {
  const modern = cniVersion.startsWith('1.');
  return {
    cniVersion,
    interfaces: [
      { name: 'veth1234', mac: '6a:fb:67:99:55:7b' },
      { name: 'eth0', sandbox: netns },
    ],
    ips: ips.map((address) => {
      const family = address.includes(':') ? 6 : 4;
      return {
        ...(modern ? {} : { version: String(family) }),
        interface: 1,
        address,
        gateway: linkLocalGateways[family],
      };
    }),
    dns: {},
  };
}

function network(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'k8s-pod-network',
    type: routesPluginName,
    prevResult: ptpResult(),
    ...fields,
  };
}

/** Runs the plugin as a runtime does; with `keepStdinOpen` reading stdin to its end would hang. */
function run(
  command: string,
  config: Record<string, unknown> | string,
  { env = {}, keepStdinOpen = false }: { env?: Record<string, string>; keepStdinOpen?: boolean } = {},
): Promise<ProcessOutcome> {
  return runWithStdin(
    plugin,
    { CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: netns, CNI_IFNAME: 'eth0', ...env },
    typeof config === 'string' ? config : JSON.stringify(config),
    { keepStdinOpen },
  );
}

function cniError(outcome: ProcessOutcome): {
  cniVersion: string;
  code: number;
  msg: string;
  details: string;
} {
  expect(outcome.exitCode, outcome.stdout).toBe(1);
  return JSON.parse(outcome.stdout) as { cniVersion: string; code: number; msg: string; details: string };
}

const defaultV4 = { dst: '0.0.0.0/0', gw: linkLocalGateways[4] };
const defaultRoutes = [defaultV4, { dst: '::/0', gw: linkLocalGateways[6] }];

describe('topology-ipam-routes, the chained plugin', () => {
  it('answers VERSION as the forwarder does, without reading stdin', async () => {
    const outcome = await run('VERSION', network(), { keepStdinOpen: true });
    expect(outcome).toEqual({ exitCode: 0, stdout: versionInfo(), stderr: '' });
  });

  it.each([
    ['DEL', '1.0.0'],
    ['DEL', '0.3.1'],
    ['GC', '1.1.0'],
    ['STATUS', '1.1.0'],
  ])(
    'succeeds at %s (cniVersion %s) doing nothing: the routes go with the pod',
    async (command, cniVersion) => {
      const outcome = await run(command, network({ cniVersion }), { env: { CNI_NETNS: '/nonexistent' } });
      expect(outcome).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    },
  );

  it.each<[string, string, Record<string, unknown> | string, Record<string, string>, number, RegExp]>([
    [
      'no prevResult',
      'ADD',
      network({ prevResult: undefined }),
      {},
      7,
      /chained plugin and got no prevResult/,
    ],
    [
      'a version it does not speak',
      'ADD',
      network({ cniVersion: '0.2.0' }),
      {},
      1,
      /supports cniVersion 0\.3\.0/,
    ],
    [
      'CHECK before 0.4.0',
      'CHECK',
      network({ cniVersion: '0.3.1' }),
      {},
      1,
      /CHECK needs cniVersion 0\.4\.0/,
    ],
    ['GC before 1.1.0', 'GC', network(), {}, 1, /GC needs cniVersion 1\.1\.0/],
    [
      'a route with a gw',
      'ADD',
      network({ routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }] }),
      {},
      2,
      /gateway of its family/,
    ],
    ['a route that is no CIDR', 'ADD', network({ routes: [{ dst: '10.0.0.0' }] }), {}, 7, /routes\[0\]\.dst/],
    ['routes that are no list', 'ADD', network({ routes: 'default' }), {}, 7, /routes/],
    ['a configuration that is no JSON', 'ADD', '{"cniVersion": "1.0.0",', {}, 6, /unexpected end/],
    [
      'an address without a gateway',
      'ADD',
      network({ prevResult: { cniVersion: '1.0.0', ips: [{ address: `${v4}/24` }] } }),
      {},
      7,
      /address .*\/24 but no gateway .* link_local_gateway/,
    ],
    ['an unknown command', 'ATTACH', network(), {}, 4, /CNI_COMMAND "ATTACH"/],
    ['no CNI_NETNS', 'ADD', network(), { CNI_NETNS: '' }, 4, /CNI_NETNS is required/],
    ['a network namespace that is gone', 'ADD', network(), { CNI_NETNS: '/nonexistent' }, 120, /cannot open/],
    ['an interface the pod lacks', 'ADD', network(), { CNI_IFNAME: 'eth9' }, 120, /no interface eth9/],
  ])('refuses %s with a code the user can act on', async (_, command, config, env, code, details) => {
    const outcome = cniError(await run(command, config, { env }));
    expect(outcome.code).toBe(code);
    expect(`${outcome.msg}: ${outcome.details}`).toMatch(details);
    expect(podRoutes('-4')).not.toContain('default');
  });

  it('adds the default routes via the gateways and passes prevResult on with them, again on a retried ADD', async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const outcome = await run('ADD', network());
      expect(outcome.exitCode, outcome.stdout).toBe(0);
      expect(JSON.parse(outcome.stdout)).toEqual({ ...ptpResult(), routes: defaultRoutes });
    }
    expect(podRoutes('-4')).toContain(`default via ${linkLocalGateways[4]} dev eth0`);
    expect(podRoutes('-6')).toContain(`default via ${linkLocalGateways[6]} dev eth0`);
    expect(await run('CHECK', network({ prevResult: { ...ptpResult(), routes: defaultRoutes } }))).toEqual({
      exitCode: 0,
      stdout: '',
      stderr: '',
    });
  });

  it('CHECK names the route that is missing, and ADD puts it back', async () => {
    expect((await run('ADD', network())).exitCode).toBe(0);
    ip('-n', pod, 'route', 'del', 'default');
    const missing = cniError(await run('CHECK', network()));
    expect(missing.code).toBe(122);
    expect(missing.details).toContain(`no route 0.0.0.0/0 via ${linkLocalGateways[4]} dev eth0 in ${netns}`);
    expect((await run('ADD', network())).exitCode).toBe(0);
    expect((await run('CHECK', network())).exitCode).toBe(0);
  });

  it('refuses to add beside another default route, naming it', async () => {
    ip('-n', pod, 'route', 'add', 'default', 'via', `${subnet}.1`);
    const refused = cniError(await run('ADD', network()));
    expect(refused.code).toBe(121);
    expect(refused.details).toContain(`the pod has 0.0.0.0/0 via ${subnet}.1 dev eth0`);
    expect(podRoutes('-4')).toContain(`default via ${subnet}.1 dev eth0`);
  });

  it('says what to do when the gateway is not on-link (no ptp before it)', async () => {
    ip('-n', pod, 'route', 'del', linkLocalGateways[4]);
    const refused = cniError(await run('ADD', network()));
    expect(refused.code).toBe(121);
    expect(refused.details).toMatch(
      /network is unreachable\. 169\.254\.1\.1 is not on-link in the pod: .* after/,
    );
  });

  it.each<[string, Record<string, unknown>, { dst: string; gw?: string }[]]>([
    [
      'an IPv4-only pod gets the IPv4 default only',
      network({ prevResult: ptpResult('1.0.0', [`${v4}/24`]) }),
      [defaultV4],
    ],
    ['a 0.3.1 result', network({ cniVersion: '0.3.1', prevResult: ptpResult('0.3.1') }), defaultRoutes],
    [
      'a result that lists ::/0 already (the IPAM routes IPv6) keeps it once',
      network({ prevResult: { ...ptpResult(), routes: [{ dst: '::/0' }] } }),
      [{ dst: '::/0' }, defaultV4],
    ],
    [
      'the routes configured instead',
      network({ routes: [{ dst: '10.96.0.0/12' }] }),
      [{ dst: '10.96.0.0/12', gw: linkLocalGateways[4] }],
    ],
    ['no routes when configured so', network({ routes: [] }), []],
  ])('adds and reports %s', async (_, config, routes) => {
    const outcome = await run('ADD', config);
    expect(outcome.exitCode, outcome.stdout).toBe(0);
    const result = JSON.parse(outcome.stdout) as { cniVersion: string; routes?: unknown[] };
    expect(result.cniVersion).toBe(config.cniVersion);
    expect(result.routes ?? []).toEqual(routes);
    const inPod = podRoutes('-4') + podRoutes('-6');
    for (const route of routes)
      expect(inPod).toContain(`${route.dst.replace(/^(0\.0\.0\.0|::)\/0$/, 'default')} via `);
    expect((await run('CHECK', { ...config, cniVersion: '1.0.0' })).exitCode).toBe(0);
  });
});
