import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { callbackLogger } from '../common/index.js';
import {
  type InstallerSettings,
  type StepReport,
  installOnce,
  installerSettings,
  renderConflist,
  resync,
  runInstaller,
} from './index.js';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

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
    const settings = installerSettings({ NODE_NAME: 'n1' });
    expect(settings).toEqual({
      NODE_NAME: 'n1',
      CNI_BIN_DIR: '/host/opt/cni/bin',
      CNI_NET_DIR: '/host/etc/cni/net.d',
      CNI_CONF_NAME: '10-topology-ipam.conflist',
      CNI_NETWORK_CONFIG: '',
      SOURCE_DIR: '/opt/topology-ipam',
      WATCH: false,
      SYNC_SECONDS: 10,
    });
  });

  it.each([
    [{}, /NODE_NAME is required/],
    [{ NODE_NAME: 'n1', CNI_CONF_NAME: 'a/b.conflist' }, /CNI_CONF_NAME is a file name/],
    [{ NODE_NAME: 'n1', SYNC_SECONDS: '-1' }, /SYNC_SECONDS/],
    [{ NODE_NAME: 'n1', WATCH: 'yes' }, /WATCH/],
  ])('refuses %j', (env, message) => {
    expect(() => installerSettings(env)).toThrow(message);
  });
});

describe('renderConflist', () => {
  it('writes the template as it is: nothing node-specific, no credentials', () => {
    expect(JSON.parse(renderConflist(JSON.stringify(conflist)))).toEqual(conflist);
  });

  it('keeps an agent_socket the template sets, for the forwarder to dial', () => {
    const template = structuredClone(conflist);
    Object.assign(template.plugins[0]?.ipam ?? {}, { agent_socket: '/run/other/agent.sock' });
    const rendered = JSON.parse(renderConflist(JSON.stringify(template))) as typeof conflist;
    expect(rendered.plugins[0]?.ipam).toEqual({
      type: 'topology-ipam',
      assign_ipv4: true,
      agent_socket: '/run/other/agent.sock',
    });
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
    expect(() => renderConflist(template)).toThrow(message);
  });
});

describe('installing into host directories', () => {
  let root: string;
  let settings: InstallerSettings;
  const host = (...parts: string[]) => path.join(root, 'host', ...parts);
  const outcomes = (report: StepReport, outcome: string) =>
    Object.entries(report)
      .filter(([, value]) => value === outcome)
      .map(([file]) => path.relative(root, file))
      .sort();
  const written = (report: StepReport) => outcomes(report, 'written');
  const modeOf = (file: string) => fs.statSync(file).mode & 0o777;
  const write = (file: string, content: string) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  };

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'installer-'));
    const source = path.join(root, 'image');
    fs.mkdirSync(source);
    // A stand-in forwarder: any executable that runs with the empty PATH runtimes call plugins with.
    fs.writeFileSync(
      path.join(source, 'topology-ipam'),
      '#!/bin/sh\nprintf \'{"forwarder":1,"command":"%s","argv":"%s"}\' "$CNI_COMMAND" "$*"\n',
      { mode: 0o755 },
    );
    settings = installerSettings({
      NODE_NAME: 'node-a',
      CNI_BIN_DIR: host('opt', 'cni', 'bin'),
      CNI_NET_DIR: host('etc', 'cni', 'net.d'),
      SOURCE_DIR: source,
      CNI_NETWORK_CONFIG: JSON.stringify(conflist),
    });
  });

  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('puts only the forwarder (under its two names) and the conflist in place, with their modes', async () => {
    const report = await installOnce(settings);
    expect(Object.keys(report).map((file) => path.relative(root, file))).toEqual([
      'host/opt/cni/bin/topology-ipam',
      'host/opt/cni/bin/topology-ipam-routes',
      'host/etc/cni/net.d/10-topology-ipam.conflist',
    ]);
    expect(written(report)).toEqual([
      'host/etc/cni/net.d/10-topology-ipam.conflist',
      'host/opt/cni/bin/topology-ipam',
      'host/opt/cni/bin/topology-ipam-routes',
    ]);
    expect(modeOf(host('opt', 'cni', 'bin', 'topology-ipam'))).toBe(0o755);
    expect(modeOf(host('opt', 'cni', 'bin', 'topology-ipam-routes'))).toBe(0o755);
    expect(modeOf(host('etc', 'cni', 'net.d', '10-topology-ipam.conflist'))).toBe(0o644);
    expect(fs.readdirSync(host('opt', 'cni', 'bin'))).toEqual(['topology-ipam', 'topology-ipam-routes']);
    expect(fs.readdirSync(host('etc', 'cni', 'net.d'))).toEqual(['10-topology-ipam.conflist']);
    expect(
      JSON.parse(fs.readFileSync(host('etc', 'cni', 'net.d', '10-topology-ipam.conflist'), 'utf8')),
    ).toEqual(conflist);
  });

  it.each(['topology-ipam', 'topology-ipam-routes'])(
    'installs the forwarder runnable as a runtime runs it, with an empty PATH, as %s',
    async (name) => {
      await installOnce(settings);
      const { stdout } = await run(host('opt', 'cni', 'bin', name), ['x'], {
        env: { CNI_COMMAND: 'VERSION', PATH: '' },
      });
      expect(JSON.parse(stdout)).toEqual({ forwarder: 1, command: 'VERSION', argv: 'x' });
    },
  );

  it('removes what the version before the node agent installed: node, the bundle and the copied credentials', async () => {
    for (const name of ['node', 'topology-ipam.mjs']) write(host('opt', 'cni', 'bin', name), name);
    for (const name of ['ca.crt', 'token', 'kubeconfig']) {
      write(host('etc', 'cni', 'net.d', 'topology-ipam', name), name);
    }
    write(host('opt', 'cni', 'bin', 'bridge'), 'another plugin');
    const report = await installOnce(settings);
    expect(outcomes(report, 'removed')).toEqual([
      'host/etc/cni/net.d/topology-ipam/ca.crt',
      'host/etc/cni/net.d/topology-ipam/kubeconfig',
      'host/etc/cni/net.d/topology-ipam/token',
      'host/opt/cni/bin/node',
      'host/opt/cni/bin/topology-ipam.mjs',
    ]);
    expect(fs.readdirSync(host('opt', 'cni', 'bin')).sort()).toEqual([
      'bridge',
      'topology-ipam',
      'topology-ipam-routes',
    ]);
    expect(fs.readdirSync(host('etc', 'cni', 'net.d'))).toEqual(['10-topology-ipam.conflist']);
    expect(Object.values(await installOnce(settings))).not.toContain('removed');
  });

  it.each([
    ['a node binary without our bundle beside it', ['opt', 'cni', 'bin', 'node']],
    [
      'a file of someone else in the old credentials folder',
      ['etc', 'cni', 'net.d', 'topology-ipam', 'notes'],
    ],
  ])('leaves %s alone', async (_name, parts) => {
    write(host(...parts), 'not ours');
    expect(outcomes(await installOnce(settings), 'removed')).toEqual([]);
    expect(fs.readFileSync(host(...parts), 'utf8')).toBe('not ours');
  });

  it('writes nothing when nothing changed', async () => {
    await installOnce(settings);
    expect(Object.values(await installOnce(settings))).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(Object.values(await resync(settings))).toEqual(['unchanged']);
  });

  it('puts back a conflist or a forwarder that was removed, and a changed forwarder', async () => {
    await installOnce(settings);
    fs.rmSync(host('etc', 'cni', 'net.d', '10-topology-ipam.conflist'));
    fs.rmSync(host('opt', 'cni', 'bin', 'topology-ipam'));
    expect(written(await resync(settings))).toEqual([
      'host/etc/cni/net.d/10-topology-ipam.conflist',
      'host/opt/cni/bin/topology-ipam',
    ]);
    fs.rmSync(host('opt', 'cni', 'bin', 'topology-ipam-routes'));
    expect(written(await resync(settings))).toEqual(['host/opt/cni/bin/topology-ipam-routes']);
    fs.appendFileSync(path.join(settings.SOURCE_DIR, 'topology-ipam'), '# a new version\n');
    expect(written(await installOnce(settings))).toEqual([
      'host/opt/cni/bin/topology-ipam',
      'host/opt/cni/bin/topology-ipam-routes',
    ]);
  });

  it('writes no conflist without CNI_NETWORK_CONFIG, only the forwarder', async () => {
    const report = await installOnce({ ...settings, CNI_NETWORK_CONFIG: '' });
    expect(written(report)).toEqual([
      'host/opt/cni/bin/topology-ipam',
      'host/opt/cni/bin/topology-ipam-routes',
    ]);
    expect(fs.existsSync(host('etc', 'cni', 'net.d'))).toBe(false);
  });

  it('fails the first install with a readable reason when the image has no forwarder', async () => {
    fs.rmSync(path.join(settings.SOURCE_DIR, 'topology-ipam'));
    await expect(installOnce(settings)).rejects.toThrow(
      `cannot install ${path.join(settings.SOURCE_DIR, 'topology-ipam')} as ${host('opt', 'cni', 'bin', 'topology-ipam')}`,
    );
  });

  it('keeps re-syncing in watch mode until stopped, surviving a failed round', async () => {
    const stop = new AbortController();
    const logs: { level: string; message: string }[] = [];
    const running = runInstaller(
      { ...settings, WATCH: true, SYNC_SECONDS: 0.02 },
      {
        signal: stop.signal,
        log: callbackLogger((level, message) => {
          logs.push({ level, message });
        }),
      },
    );
    const installed = host('opt', 'cni', 'bin', 'topology-ipam');
    const until = async (condition: () => boolean) => {
      for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(condition()).toBe(true);
    };
    await until(() => fs.existsSync(installed));
    const image = path.join(settings.SOURCE_DIR, 'topology-ipam');
    fs.renameSync(image, `${image}.away`);
    fs.rmSync(installed);
    await until(() => logs.some((entry) => entry.level === 'error'));
    fs.renameSync(`${image}.away`, image);
    await until(() => fs.existsSync(installed));
    stop.abort();
    await running;
    expect(logs.map((entry) => entry.message)).toContain('installed');
    expect(logs.map((entry) => entry.message)).toContain('updated');
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
