import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConnection } from '../kube/index.js';
import {
  type InstallerSettings,
  type StepReport,
  apiServerUrl,
  installOnce,
  installerSettings,
  renderConflist,
  renderKubeconfig,
  resync,
  runInstaller,
  tokenNodeName,
} from './index.js';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A JWT shaped like a service-account token with these claims (the signature is not checked here). */
const jwt = (claims: unknown): string =>
  [{ alg: 'RS256', kid: 'k' }, claims, 'signature']
    .map((part) => Buffer.from(typeof part === 'string' ? part : JSON.stringify(part)).toString('base64url'))
    .join('.');
/** A token as the kubelet projects it into a pod on `node`; `serial` tells rotated ones apart. */
const podBoundToken = (node: string, serial: number): string =>
  jwt({
    sub: 'system:serviceaccount:ipam-system:rel-topology-ipam-cni',
    jti: `token-${serial}`,
    'kubernetes.io': {
      namespace: 'ipam-system',
      pod: { name: 'rel-topology-ipam-cni-x7k2p', uid: 'p1' },
      node: { name: node, uid: 'n1' },
      serviceaccount: { name: 'rel-topology-ipam-cni', uid: 's1' },
    },
  });

const conflist = {
  cniVersion: '1.0.0',
  name: 'k8s-pod-network',
  plugins: [
    { type: 'bridge', bridge: 'cni0', ipam: { type: 'topology-ipam', assign_ipv4: true } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
};

describe('settings', () => {
  it('applies the defaults the chart relies on', () => {
    const settings = installerSettings({ NODE_NAME: 'n1', KUBERNETES_SERVICE_HOST: '10.96.0.1' });
    expect(settings).toMatchObject({
      CNI_BIN_DIR: '/host/opt/cni/bin',
      CNI_NET_DIR: '/host/etc/cni/net.d',
      HOST_CNI_NET_DIR: '/etc/cni/net.d',
      CNI_CONF_NAME: '10-topology-ipam.conflist',
      WATCH: false,
      SYNC_SECONDS: 10,
    });
  });

  it.each([
    [{}, /NODE_NAME is required/],
    [{ NODE_NAME: 'n1', KUBE_API_SERVER: 'http://x:80' }, /KUBE_API_SERVER is an https:\/\/ URL/],
    [{ NODE_NAME: 'n1', CNI_CONF_NAME: 'a/b.conflist' }, /CNI_CONF_NAME is a file name/],
    [{ NODE_NAME: 'n1', SYNC_SECONDS: '-1' }, /SYNC_SECONDS/],
    [{ NODE_NAME: 'n1', WATCH: 'yes' }, /WATCH/],
  ])('refuses %j', (env, message) => {
    expect(() => installerSettings(env)).toThrow(message);
  });

  it.each([
    [{ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, 'https://10.96.0.1:443'],
    [{ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, 'https://[fd00::1]:6443'],
    [
      { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBE_API_SERVER: 'https://api.example:6443/' },
      'https://api.example:6443',
    ],
  ])('finds the API server from %j', (env, url) => {
    expect(apiServerUrl(installerSettings({ NODE_NAME: 'n1', ...env }))).toBe(url);
  });

  it('says what to set when the API server address is unknown', () => {
    expect(() => apiServerUrl(installerSettings({ NODE_NAME: 'n1' }))).toThrow(/cni\.apiServer/);
  });
});

describe('renderConflist', () => {
  it("completes this plugin's ipam section with the kubeconfig and the node name", () => {
    const rendered = JSON.parse(
      renderConflist(JSON.stringify(conflist), {
        nodeName: 'n1',
        kubeconfig: '/etc/cni/net.d/topology-ipam/kubeconfig',
      }),
    ) as typeof conflist;
    expect(rendered.plugins[0]?.ipam).toEqual({
      type: 'topology-ipam',
      assign_ipv4: true,
      kubeconfig: '/etc/cni/net.d/topology-ipam/kubeconfig',
      nodename: 'n1',
    });
    expect(rendered.plugins[1]).toEqual(conflist.plugins[1]);
  });

  it('keeps a kubeconfig or node name the template sets', () => {
    const template = structuredClone(conflist);
    Object.assign(template.plugins[0]?.ipam ?? {}, { kubeconfig: '/k', nodename: 'x' });
    const rendered = JSON.parse(
      renderConflist(JSON.stringify(template), { nodeName: 'n1', kubeconfig: '/y' }),
    ) as {
      plugins: { ipam?: unknown }[];
    };
    expect(rendered.plugins[0]?.ipam).toMatchObject({ kubeconfig: '/k', nodename: 'x' });
  });

  it.each([
    ['{', /not JSON/],
    ['[]', /not a conflist/],
    [JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [] }), /at least one plugin/],
    [JSON.stringify({ name: 'n', plugins: [{ type: 'bridge' }] }), /cniVersion/],
    [
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'n',
        plugins: [{ type: 'bridge', ipam: { type: 'host-local' } }],
      }),
      /no plugin with "ipam": \{"type": "topology-ipam"\}/,
    ],
  ])('refuses %s', (template, message) => {
    expect(() => renderConflist(template, { nodeName: 'n1', kubeconfig: '/k' })).toThrow(message);
  });
});

describe('renderKubeconfig', () => {
  it('is a kubeconfig the plugin loads, reading the token file on each request', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'installer-kubeconfig-'));
    try {
      fs.writeFileSync(path.join(dir, 'ca.crt'), 'CA');
      fs.writeFileSync(path.join(dir, 'token'), 'first\n');
      const file = path.join(dir, 'kubeconfig');
      fs.writeFileSync(
        file,
        renderKubeconfig({
          server: 'https://10.96.0.1:443',
          caFile: path.join(dir, 'ca.crt'),
          tokenFile: path.join(dir, 'token'),
        }),
      );
      const connection = loadConnection(file);
      expect(connection.server).toBe('https://10.96.0.1:443');
      expect(connection.ca?.toString()).toBe('CA');
      expect(connection.token?.()).toBe('first');
      fs.writeFileSync(path.join(dir, 'token'), 'rotated');
      expect(connection.token?.()).toBe('rotated');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('installing into host directories', () => {
  let root: string;
  let settings: InstallerSettings;
  const host = (...parts: string[]) => path.join(root, 'host', ...parts);
  const written = (report: StepReport) =>
    Object.entries(report)
      .filter(([, outcome]) => outcome === 'written')
      .map(([file]) => path.relative(root, file))
      .sort();
  const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'installer-'));
    const source = path.join(root, 'image');
    const serviceAccount = path.join(root, 'serviceaccount');
    fs.mkdirSync(source);
    fs.mkdirSync(serviceAccount);
    // The real launcher, a stand-in bundle, and a small `node` that runs the real one.
    fs.copyFileSync(path.join(repo, 'cni', 'launcher.sh'), path.join(source, 'topology-ipam'));
    fs.writeFileSync(
      path.join(source, 'topology-ipam.mjs'),
      'process.stdout.write(JSON.stringify({ argv: process.argv.slice(2), command: process.env.CNI_COMMAND }));\n',
    );
    fs.writeFileSync(path.join(root, 'node'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} "$@"\n`, {
      mode: 0o755,
    });
    fs.writeFileSync(path.join(serviceAccount, 'ca.crt'), 'CA');
    fs.writeFileSync(path.join(serviceAccount, 'token'), podBoundToken('node-a', 1));
    settings = installerSettings({
      NODE_NAME: 'node-a',
      CNI_BIN_DIR: host('opt', 'cni', 'bin'),
      CNI_NET_DIR: host('etc', 'cni', 'net.d'),
      SOURCE_DIR: source,
      NODE_BINARY: path.join(root, 'node'),
      SERVICE_ACCOUNT_DIR: serviceAccount,
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      CNI_NETWORK_CONFIG: JSON.stringify(conflist),
    });
  });

  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('puts the binaries, the credentials and the conflist in place, with tight modes', async () => {
    const report = await installOnce(settings);
    expect(written(report)).toEqual([
      'host/etc/cni/net.d/10-topology-ipam.conflist',
      'host/etc/cni/net.d/topology-ipam/ca.crt',
      'host/etc/cni/net.d/topology-ipam/kubeconfig',
      'host/etc/cni/net.d/topology-ipam/token',
      'host/opt/cni/bin/node',
      'host/opt/cni/bin/topology-ipam',
      'host/opt/cni/bin/topology-ipam.mjs',
    ]);
    expect(modeOf(host('opt', 'cni', 'bin', 'topology-ipam'))).toBe(0o755);
    expect(modeOf(host('opt', 'cni', 'bin', 'node'))).toBe(0o755);
    expect(modeOf(host('opt', 'cni', 'bin', 'topology-ipam.mjs'))).toBe(0o644);
    expect(modeOf(host('etc', 'cni', 'net.d', 'topology-ipam'))).toBe(0o700);
    for (const name of ['ca.crt', 'token', 'kubeconfig'])
      expect(modeOf(host('etc', 'cni', 'net.d', 'topology-ipam', name))).toBe(0o600);
    const installed = JSON.parse(
      fs.readFileSync(host('etc', 'cni', 'net.d', '10-topology-ipam.conflist'), 'utf8'),
    ) as {
      plugins: { ipam?: Record<string, unknown> }[];
    };
    expect(installed.plugins[0]?.ipam).toMatchObject({
      kubeconfig: '/etc/cni/net.d/topology-ipam/kubeconfig',
      nodename: 'node-a',
    });
    // Paths inside the kubeconfig are the host's, not the installer's mount points.
    const kubeconfig = parseYaml(
      fs.readFileSync(host('etc', 'cni', 'net.d', 'topology-ipam', 'kubeconfig'), 'utf8'),
    ) as {
      clusters: { cluster: Record<string, string> }[];
      users: { user: Record<string, string> }[];
    };
    expect(kubeconfig.clusters[0]?.cluster).toEqual({
      server: 'https://10.96.0.1:443',
      'certificate-authority': '/etc/cni/net.d/topology-ipam/ca.crt',
    });
    expect(kubeconfig.users[0]?.user).toEqual({ tokenFile: '/etc/cni/net.d/topology-ipam/token' });
    expect(fs.readdirSync(host('opt', 'cni', 'bin')).filter((name) => name.includes('.tmp-'))).toEqual([]);
  });

  it('installs a launcher that runs the bundle with the node binary next to it, with an empty PATH', async () => {
    await installOnce(settings);
    const { stdout } = await run(host('opt', 'cni', 'bin', 'topology-ipam'), ['x'], {
      env: { CNI_COMMAND: 'VERSION', PATH: '' },
    });
    expect(JSON.parse(stdout)).toEqual({ argv: ['x'], command: 'VERSION' });
  });

  it('writes nothing when nothing changed, and only the token when it rotates', async () => {
    await installOnce(settings);
    expect(written(await installOnce(settings))).toEqual([]);
    fs.writeFileSync(path.join(settings.SERVICE_ACCOUNT_DIR, 'token'), podBoundToken('node-a', 2));
    expect(written(await resync(settings))).toEqual(['host/etc/cni/net.d/topology-ipam/token']);
    expect(fs.readFileSync(host('etc', 'cni', 'net.d', 'topology-ipam', 'token'), 'utf8')).toBe(
      podBoundToken('node-a', 2),
    );
  });

  it('puts back a conflist or a binary that was removed, and a changed bundle', async () => {
    await installOnce(settings);
    fs.rmSync(host('etc', 'cni', 'net.d', '10-topology-ipam.conflist'));
    fs.rmSync(host('opt', 'cni', 'bin', 'topology-ipam'));
    expect(written(await resync(settings))).toEqual([
      'host/etc/cni/net.d/10-topology-ipam.conflist',
      'host/opt/cni/bin/topology-ipam',
    ]);
    fs.appendFileSync(path.join(settings.SOURCE_DIR, 'topology-ipam.mjs'), '// a new version\n');
    expect(written(await installOnce(settings))).toEqual(['host/opt/cni/bin/topology-ipam.mjs']);
  });

  it('writes no conflist without CNI_NETWORK_CONFIG, only the plugin and its credentials', async () => {
    const report = await installOnce({ ...settings, CNI_NETWORK_CONFIG: '' });
    expect(written(report)).not.toContain('host/etc/cni/net.d/10-topology-ipam.conflist');
    expect(fs.existsSync(host('etc', 'cni', 'net.d', 'topology-ipam', 'kubeconfig'))).toBe(true);
  });

  it('fails the first install with a readable reason when the token is missing', async () => {
    fs.rmSync(path.join(settings.SERVICE_ACCOUNT_DIR, 'token'));
    await expect(installOnce(settings)).rejects.toThrow(/cannot read the service account's token/);
  });

  it.each([
    [
      'bound to no node (a long-lived or unbound token)',
      jwt({ sub: 'x', 'kubernetes.io': { namespace: 'n' } }),
      'bound to no node',
    ],
    ['bound to another node', podBoundToken('node-b', 1), 'bound to node node-b'],
    ['not a JWT', 'secret-token-text', 'bound to no node'],
  ])('refuses to copy a token %s, naming the file and never its content', async (_name, token, reason) => {
    fs.writeFileSync(path.join(settings.SERVICE_ACCOUNT_DIR, 'token'), token);
    const failure = await installOnce(settings).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(failure?.message).toContain(
      `the service account token ${path.join(settings.SERVICE_ACCOUNT_DIR, 'token')} is ${reason}, not to this node (node-a)`,
    );
    expect(failure?.message).not.toContain(token);
    expect(fs.existsSync(host('etc', 'cni', 'net.d', 'topology-ipam', 'token'))).toBe(false);
  });

  it('keeps re-syncing in watch mode until stopped, surviving a failed round', async () => {
    const stop = new AbortController();
    const logs: { level: string; message: string }[] = [];
    const running = runInstaller(
      { ...settings, WATCH: true, SYNC_SECONDS: 0.02 },
      {
        signal: stop.signal,
        log: (level, message) => {
          logs.push({ level, message });
        },
      },
    );
    const tokenFile = host('etc', 'cni', 'net.d', 'topology-ipam', 'token');
    const until = async (condition: () => boolean) => {
      for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(condition()).toBe(true);
    };
    await until(() => fs.existsSync(tokenFile));
    fs.rmSync(path.join(settings.SERVICE_ACCOUNT_DIR, 'token'));
    await until(() => logs.some((entry) => entry.level === 'error'));
    fs.writeFileSync(path.join(settings.SERVICE_ACCOUNT_DIR, 'token'), podBoundToken('node-a', 3));
    await until(() => fs.readFileSync(tokenFile, 'utf8') === podBoundToken('node-a', 3));
    stop.abort();
    await running;
    expect(logs.map((entry) => entry.message)).toContain('installed');
    expect(logs.map((entry) => entry.message)).toContain('updated');
  });
});

describe('tokenNodeName', () => {
  it.each([
    ['a pod-bound token', podBoundToken('node-a', 1), 'node-a'],
    ['a Node-bound token', jwt({ 'kubernetes.io': { node: { name: 'node-b', uid: 'u' } } }), 'node-b'],
    ['a token with surrounding whitespace', `\n${podBoundToken('node-c', 1)}\n`, 'node-c'],
    ['a token bound to no node', jwt({ 'kubernetes.io': { namespace: 'n' } }), undefined],
    ['a legacy token without kubernetes.io claims', jwt({ sub: 'system:serviceaccount:n:s' }), undefined],
    ['a node claim that is not an object', jwt({ 'kubernetes.io': { node: 'node-a' } }), undefined],
    ['a payload that is not JSON', `a.${Buffer.from('{oops').toString('base64url')}.c`, undefined],
    ['no dots at all', 'opaque-token', undefined],
    ['an empty string', '', undefined],
  ])('reads %s as bound to %s', (_name, token, node) => {
    expect(tokenNodeName(token)).toBe(node);
  });
});

describe('the installer process', () => {
  it('exits 1 with one JSON line naming the missing setting', async () => {
    const failure = await run(
      process.execPath,
      ['--import', 'tsx', path.join(repo, 'installer', 'main.ts')],
      {
        env: { PATH: process.env.PATH ?? '' },
        cwd: repo,
      },
    ).then(
      () => undefined,
      (error: unknown) => error as { code: number; stdout: string },
    );
    expect(failure?.code).toBe(1);
    const line = JSON.parse(failure?.stdout.trim() ?? '') as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'error', msg: 'install failed', component: 'cni-installer' });
    expect(line.error).toMatch(/NODE_NAME is required/);
  }, 60_000); // starting tsx takes seconds on a loaded machine
});
