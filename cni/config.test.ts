import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { handleOf, isHandleOfNetwork, legacyHandleOf, parseNetworkConfig } from './config.js';
import { parseEnv } from './env.js';
import { CniError, toCniError } from './errors.js';
import { type CommandBackend, run } from './run.js';

const network = (ipam: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'podnet', type: 'bridge', ipam, ...extra });

function failure(stdin: string): { code: number; msg: string; details: string } {
  try {
    parseNetworkConfig(stdin);
  } catch (error) {
    expect(error).toBeInstanceOf(CniError);
    return toCniError(error, '1.0.0');
  }
  throw new Error('expected the configuration to be refused');
}

describe('parseNetworkConfig', () => {
  it('parses a full configuration', () => {
    const config = parseNetworkConfig(
      network({
        type: 'topology-ipam',
        pools: ['rack-0', '10.0.0.0/16'],
        ipv6_pools: ['fd00::/64'],
        assign_ipv6: 'true',
        routes: [{ dst: '0.0.0.0/0' }, { dst: '10.96.0.0/12', gw: '10.0.0.1' }],
        dns: { nameservers: ['10.96.0.10'] },
        kubeconfig: '/etc/cni/net.d/topology-ipam.kubeconfig',
        nodename: 'node-a',
        cooldown_seconds: 0,
        agent_socket: '/run/topology-ipam/agent.sock',
      }),
    );
    expect(config.cniVersion).toBe('1.0.0');
    expect(config.name).toBe('podnet');
    expect(config.ipam.families).toEqual([4, 6]);
    expect(config.ipam.pools.map((ref) => ref.kind)).toEqual(['name', 'cidr', 'cidr']);
    expect(config.ipam.cooldownSeconds).toBe(0);
    expect(config.ipam.timeoutSeconds).toBe(30);
  });

  it('defaults to IPv4 only, every pool selecting the node', () => {
    const config = parseNetworkConfig(network({ type: 'topology-ipam' }));
    expect(config.ipam.families).toEqual([4]);
    expect(config.ipam.pools).toEqual([]);
  });

  it.each([
    ['off by default', {}, false],
    ['on', { link_local_gateway: true }, true],
    ['on, written as Calico writes flags', { link_local_gateway: 'true' }, true],
    [
      'on, with an IPv6 default route and an IPv4 route with its own gateway',
      { link_local_gateway: true, routes: [{ dst: '::/0' }, { dst: '10.96.0.0/12', gw: '10.0.0.1' }] },
      true,
    ],
    ['off, with an IPv4 default route', { routes: [{ dst: '0.0.0.0/0' }] }, false],
  ])('reads link_local_gateway: %s', (_, fields, linkLocalGateway) => {
    expect(parseNetworkConfig(network({ type: 'topology-ipam', ...fields })).ipam.linkLocalGateway).toBe(
      linkLocalGateway,
    );
  });

  it('reads the GC valid-attachments list', () => {
    const config = parseNetworkConfig(
      network(
        { type: 'topology-ipam' },
        { 'cni.dev/valid-attachments': [{ containerID: 'abc', ifname: 'eth0' }] },
      ),
    );
    expect(config.validAttachments).toEqual([{ containerID: 'abc', ifname: 'eth0' }]);
  });

  it.each([
    ['malformed JSON', '{"cniVersion": "1.0.0", "name": ', 6, /not JSON/],
    ['empty stdin', '', 6, /stdin is empty/],
    ['a JSON array', '[]', 6, /not a JSON object/],
    ['no ipam section', network(undefined), 7, /no "ipam" section/],
    ['no cniVersion', JSON.stringify({ name: 'n', ipam: { type: 't' } }), 7, /cniVersion is required/],
    [
      'an old cniVersion',
      network({ type: 't' }, { cniVersion: '0.2.0' }),
      1,
      /0\.2\.0 is not supported.*1\.1\.0/,
    ],
    ['a bad network name', network({ type: 't' }, { name: '-x' }), 7, /network name/],
    ['no ipam.type', network({}), 7, /ipam\.type/],
    ['an unknown ipam field', network({ type: 't', assign_ip4: true }), 2, /ipam\.assign_ip4.*Known fields/],
    [
      'a bad pool CIDR',
      network({ type: 't', pools: ['10.0.0.0/33'] }),
      7,
      /ipam\.pools\[0\].*not a valid CIDR/,
    ],
    [
      'a pool CIDR with host bits',
      network({ type: 't', pools: ['10.0.0.1/24'] }),
      7,
      /did you mean 10\.0\.0\.0\/24/,
    ],
    ['a bad pool name', network({ type: 't', pools: ['Rack_0'] }), 7, /neither an IPPool name nor a CIDR/],
    [
      'an IPv6 CIDR in ipv4_pools',
      network({ type: 't', ipv4_pools: ['fd00::/64'] }),
      7,
      /IPv6 CIDR in the IPv4/,
    ],
    ['no family', network({ type: 't', assign_ipv4: false }), 7, /nothing to assign/],
    ['a bad route', network({ type: 't', routes: [{ dst: '0.0.0.0' }] }), 7, /routes\[0\]\.dst/],
    ['a bad gateway', network({ type: 't', routes: [{ dst: '0.0.0.0/0', gw: 'x' }] }), 7, /routes\[0\]\.gw/],
    ['a negative cool-down', network({ type: 't', cooldown_seconds: -1 }), 7, /cooldown_seconds/],
    [
      'a link_local_gateway that is no flag',
      network({ type: 't', link_local_gateway: 'yes' }),
      7,
      /ipam\.link_local_gateway/,
    ],
    [
      'an IPv4 route via the link-local gateway',
      network({ type: 't', link_local_gateway: true, routes: [{ dst: '0.0.0.0/0' }] }),
      7,
      /ipam\.routes\[0\]: with link_local_gateway an IPv4 route without gw would go via 169\.254\.1\.1/,
    ],
    [
      'an IPv4 route via the link-local gateway, sent to the chained plugin',
      network({ type: 't', link_local_gateway: true, routes: [{ dst: '10.96.0.0/12' }] }),
      7,
      /list the route in the routes of topology-ipam-routes, chained after the main plugin/,
    ],
    ['a string flag', network({ type: 't', assign_ipv6: 'yes' }), 7, /assign_ipv6/],
    ['an agent socket that is no path', network({ type: 't', agent_socket: 7 }), 7, /ipam\.agent_socket/],
    [
      'a 10 KB network name',
      network({ type: 't' }, { name: 'n'.repeat(10_240) }),
      7,
      /^invalid network configuration: name: .*at most 253/,
    ],
  ])('refuses %s with the right code and a message naming the problem', (_, stdin, code, message) => {
    const error = failure(stdin);
    expect(error.code).toBe(code);
    expect(`${error.msg}: ${error.details}`).toMatch(message);
  });
});

describe('handleOf', () => {
  it('gives the colliding attachments of issue 9 different handles', () => {
    expect(handleOf('net', 'podA.eth0', 'eth1')).not.toBe(handleOf('net', 'podA', 'eth0.eth1'));
    expect(legacyHandleOf('net', 'podA.eth0', 'eth1')).toBe(legacyHandleOf('net', 'podA', 'eth0.eth1'));
  });

  it.each([
    ['k8s-pod-network', 'abc123', 'eth0', 'k8s-pod-network.abc123.eth0'],
    ['net', 'podA.eth0', 'eth1', 'net.podA%2Eeth0.eth1'],
    ['net', 'podA', 'eth0.eth1', 'net.podA.eth0%2Eeth1'],
    ['a.b', 'c', 'e%1', 'a%2Eb.c.e%251'],
  ])('handleOf(%s, %s, %s) is %s', (network, containerId, ifname, handle) => {
    expect(handleOf(network, containerId, ifname)).toBe(handle);
  });

  it('is injective, keeps handles without "." or "%" as they were, and tells networks apart', () => {
    const component = fc.stringMatching(/^[a-z0-9.%_-]{1,12}$/);
    fc.assert(
      fc.property(
        fc.tuple(component, component, component),
        fc.tuple(component, component, component),
        (a, b) => {
          if (a.join('\0') !== b.join('\0')) expect(handleOf(...a)).not.toBe(handleOf(...b));
          if (!/[.%]/.test(a.join(''))) expect(handleOf(...a)).toBe(legacyHandleOf(...a));
          expect(isHandleOfNetwork(handleOf(...a), a[0])).toBe(true);
          expect(isHandleOfNetwork(handleOf(...a), b[0])).toBe(a[0] === b[0]);
        },
      ),
    );
  });

  it('attributes no legacy handle with a "." in a component to a network', () => {
    expect(isHandleOfNetwork(legacyHandleOf('a', 'b.c', 'eth0'), 'a')).toBe(false);
    expect(isHandleOfNetwork(legacyHandleOf('a.b', 'c', 'eth0'), 'a')).toBe(false);
  });
});

describe('parseEnv', () => {
  const base = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'abc',
    CNI_NETNS: '/var/run/netns/x',
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/opt/cni/bin',
  };

  it('parses CNI_ARGS', () => {
    const env = parseEnv({
      ...base,
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0',
    });
    expect(env.args.podNamespace).toBe('default');
    expect(env.args.podName).toBe('web-0');
    expect(env.path).toEqual(['/opt/cni/bin']);
  });

  it.each([
    [
      'containerd and CRI-O pass it',
      'K8S_POD_NAME=web-0;K8S_POD_UID=3f1c9a2e-0000-4000-8000-000000000001',
      '3f1c9a2e-0000-4000-8000-000000000001',
    ],
    ['older runtimes do not', 'K8S_POD_NAME=web-0', undefined],
    ['an empty one is none', 'K8S_POD_NAME=web-0;K8S_POD_UID=', undefined],
  ])('reads the pod UID from CNI_ARGS: %s', (_, args, uid) => {
    expect(parseEnv({ ...base, CNI_ARGS: args }).args.podUID).toBe(uid);
  });

  it('lets DEL go without a namespace, and GC without a container', () => {
    expect(parseEnv({ ...base, CNI_COMMAND: 'DEL', CNI_NETNS: '' }).netns).toBe('');
    expect(parseEnv({ CNI_COMMAND: 'GC', CNI_CONTAINERID: '', CNI_PATH: '/opt/cni/bin' }).command).toBe('GC');
  });

  it.each([
    ['no command', { ...base, CNI_COMMAND: undefined }, /CNI_COMMAND is not set/],
    ['an unknown command', { ...base, CNI_COMMAND: 'UPDATE' }, /CNI_COMMAND="UPDATE"/],
    ['no container for ADD', { ...base, CNI_CONTAINERID: undefined }, /CNI_CONTAINERID is required for ADD/],
    ['a bad container id', { ...base, CNI_CONTAINERID: '-abc' }, /CNI_CONTAINERID/],
    ['no namespace for ADD', { ...base, CNI_NETNS: '' }, /CNI_NETNS is required for ADD/],
    ['a long interface name', { ...base, CNI_IFNAME: 'a-very-long-ifname' }, /15 characters/],
    ['a malformed CNI_ARGS', { ...base, CNI_ARGS: 'K8S_POD_NAME' }, /not KEY=VALUE/],
    [
      'a 10 KB container ID, without echoing it',
      { ...base, CNI_CONTAINERID: 'c'.repeat(10_240) },
      /^CNI_CONTAINERID=\(10240 characters\): .*at most 256/,
    ],
  ])('refuses %s with code 4', (_, env, message) => {
    let error: unknown;
    try {
      parseEnv(env);
    } catch (caught) {
      error = caught;
    }
    const object = toCniError(error);
    expect(object.code).toBe(4);
    expect(object.details).toMatch(message);
  });
});

/** A backend that records which commands reached it: a refused request must reach none. */
function recordingBackend(): CommandBackend & { calls: string[] } {
  const calls: string[] = [];
  const record = (command: string) => () => {
    calls.push(command);
    return Promise.resolve();
  };
  return {
    calls,
    add: () => {
      calls.push('ADD');
      return Promise.resolve({ ips: [], routes: [] });
    },
    del: record('DEL'),
    check: record('CHECK'),
    gc: record('GC'),
    status: record('STATUS'),
  };
}

describe('run, refusing bad input', () => {
  it('prints the error object, exits 1, and never reaches the backend', async () => {
    const backend = recordingBackend();
    const outcome = await run(
      {
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: 'abc',
        CNI_NETNS: '/x',
        CNI_IFNAME: 'eth0',
        CNI_PATH: '/opt/cni/bin',
      },
      network({ type: 'topology-ipam', pools: ['10.0.0.0/40'] }),
      backend,
    );
    expect(outcome.exitCode).toBe(1);
    expect(JSON.parse(outcome.stdout)).toMatchObject({ cniVersion: '1.0.0', code: 7 });
    expect(backend.calls).toEqual([]);
  });

  it.each([
    ['CHECK', '0.3.1'],
    ['GC', '1.0.0'],
    ['STATUS', '1.0.0'],
  ])('refuses %s for cniVersion %s with code 1', async (command, cniVersion) => {
    const backend = recordingBackend();
    const outcome = await run(
      { CNI_COMMAND: command, CNI_CONTAINERID: 'abc', CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt' },
      network({ type: 'topology-ipam' }, { cniVersion }),
      backend,
    );
    expect(JSON.parse(outcome.stdout)).toMatchObject({ cniVersion, code: 1 });
    expect(backend.calls).toEqual([]);
  });

  const runWith = async (command: string, config: string) =>
    JSON.parse(
      (
        await run(
          {
            CNI_COMMAND: command,
            CNI_PATH: '/opt',
            CNI_CONTAINERID: 'abc',
            CNI_NETNS: '/x',
            CNI_IFNAME: 'eth0',
          },
          config,
          recordingBackend(),
        )
      ).stdout,
    ) as { code: number; msg: string; details: string };

  it.each<[string, Record<string, unknown>]>([
    ['missing', { cniVersion: '1.1.0' }],
    ['misspelt', { cniVersion: '1.1.0', 'cni.dev/valid-attachment': [] }],
  ])('refuses a GC whose valid-attachments list is %s with code 7', async (_, extra) => {
    const error = await runWith('GC', network({ type: 'topology-ipam' }, extra));
    expect(error).toMatchObject({ code: 7, msg: 'invalid network configuration: cni.dev/valid-attachments' });
  });

  it('refuses an ipam.type that is not this plugin with code 7', async () => {
    const error = await runWith('ADD', network({ type: 'host-local' }));
    expect(error).toMatchObject({ code: 7, msg: 'invalid network configuration: ipam.type' });
  });

  it('passes a valid request to the backend and prints its result', async () => {
    const backend = recordingBackend();
    const outcome = await run(
      { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt' },
      network({ type: 'topology-ipam', kubeconfig: '/accepted/but/unused', lock_dir: '/unused' }),
      backend,
    );
    expect([outcome.exitCode, backend.calls]).toEqual([0, ['ADD']]);
    expect(JSON.parse(outcome.stdout)).toMatchObject({ cniVersion: '1.0.0', ips: [] });
  });
});
