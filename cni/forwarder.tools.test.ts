/**
 * The real forwarder binary (cni/forwarder/main.go), run as a runtime runs it, against a stand-in agent on
 * a unix socket that records what it receives and answers as told: the forwarder carries env and stdin
 * there and the reply back unchanged, and fails with code 11 whenever no proper reply arrives.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  defaultAgentSocket,
  encodeReply,
  forwardedVariables,
  maxStdinBytes,
  parseRequest,
  protocolVersion,
} from '../agent/protocol.js';
import { buildForwarder } from './build.js';
import { type StandInAgent, type StandInAnswer, startStandInAgent } from './stand-in-agent.js';
import { type ProcessOutcome, runWithStdin } from './testing.js';
import { versionInfo } from './versions.js';

let executable: string;
let buildDir: string;
let root: string;
const agents: StandInAgent[] = [];

beforeAll(async () => {
  buildDir = fs.mkdtempSync(path.join(os.tmpdir(), 'forwarder-build-'));
  executable = await buildForwarder(buildDir);
}, 300_000);
afterAll(() => {
  fs.rmSync(buildDir, { recursive: true, force: true });
});
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'forwarder-test-'));
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  fs.rmSync(root, { recursive: true, force: true });
});

async function standInAgent(answer: StandInAnswer): Promise<StandInAgent> {
  const agent = await startStandInAgent(path.join(root, 'agent.sock'), answer);
  agents.push(agent);
  return agent;
}

/** Runs the forwarder; with `keepStdinOpen` reading stdin to its end would hang (until killed). */
function forward(
  env: Record<string, string>,
  stdin: string,
  { keepStdinOpen = false } = {},
): Promise<ProcessOutcome> {
  return runWithStdin(executable, env, stdin, { keepStdinOpen });
}

const add = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/c1', CNI_IFNAME: 'eth0' };

function config(ipam: Record<string, unknown>, cniVersion: unknown = '1.0.0'): string {
  return JSON.stringify({
    cniVersion,
    name: 'net',
    type: 'bridge',
    ipam: { type: 'topology-ipam', ...ipam },
  });
}

function cniError(outcome: ProcessOutcome): {
  cniVersion: string;
  code: number;
  msg: string;
  details: string;
} {
  return JSON.parse(outcome.stdout) as { cniVersion: string; code: number; msg: string; details: string };
}

describe('buildForwarder', () => {
  it('builds a static executable once and reuses it while it is newer than its sources', async () => {
    const built = fs.statSync(executable);
    expect(built.mode & 0o111).toBe(0o111);
    expect(fs.readFileSync(executable).includes('ld-linux')).toBe(false); // no dynamic loader: CGO_ENABLED=0
    expect(await buildForwarder(buildDir)).toBe(executable);
    expect(fs.statSync(executable).mtimeMs).toBe(built.mtimeMs);
    fs.utimesSync(executable, new Date(0), new Date(0));
    expect(await buildForwarder(buildDir)).toBe(executable);
    expect(fs.statSync(executable).mtimeMs).toBeGreaterThan(0);
  }, 300_000);
});

describe('the CNI forwarder', () => {
  it.each([
    ['all of them', Object.fromEntries(forwardedVariables.map((name) => [name, `value of ${name}`]))],
    ['only those set', { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c2', CNI_ARGS: 'K8S_POD_NAME=a;X=b=c' }],
    ['an empty one as set', { CNI_COMMAND: 'CHECK', CNI_NETNS: '' }],
  ])('sends the CNI variables of the protocol (%s), no others, and stdin as is', async (_, cni) => {
    const agent = await standInAgent({ reply: () => encodeReply(0, '{}') });
    const stdin = config({ agent_socket: agent.socket, routes: [{ dst: '0.0.0.0/0' }] });
    const env = { ...cni, PATH: '/usr/bin', HOME: '/root', CNI_UNKNOWN: 'x', KUBECONFIG: '/k' };
    await forward(env, stdin);
    expect(agent.requests.map(parseRequest)).toEqual([{ version: protocolVersion, env: cni, stdin }]);
  });

  it.each([
    [0, '{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.5/26"}]}'],
    [1, '{"cniVersion":"1.0.0","code":7,"msg":"invalid","details":"é ✓ <&>"}\n'],
    [3, ''],
  ])('prints the reply stdout unchanged and exits with its code %i', async (exitCode, stdout) => {
    const agent = await standInAgent({ reply: () => encodeReply(exitCode, stdout) });
    const outcome = await forward(add, config({ agent_socket: agent.socket }));
    expect(outcome).toEqual({ exitCode, stdout, stderr: '' });
  });

  it.each([
    ['a cniVersion that is a number', { cniVersion: 1, ipam: {} }],
    ['a timeout_seconds that is a string', { cniVersion: '1.0.0', ipam: { timeout_seconds: 'ten' } }],
    ['an unknown field and no name', { cniVersion: '1.0.0', ipam: { assign_ipv7: true } }],
    ['a network that is a list', { cniVersion: '1.0.0', ipam: {}, name: [1, 2] }],
  ])('forwards a configuration with %s as is, for the agent to refuse', async (_, network) => {
    const agent = await standInAgent({ reply: () => encodeReply(7, 'refused by the agent') });
    const stdin = JSON.stringify({ ...network, ipam: { ...network.ipam, agent_socket: agent.socket } });
    const outcome = await forward(add, stdin);
    expect(outcome).toEqual({ exitCode: 7, stdout: 'refused by the agent', stderr: '' });
    expect(agent.requests.map((request) => parseRequest(request).stdin)).toEqual([stdin]);
  });

  it.each(['{"cniVersion": "1.0.0", "ipam": ', 'not json at all', '', '[1,2,3]', 'null', '{"ipam":7}'])(
    'forwards a configuration it cannot read to the default socket, unharmed: %j',
    async (stdin) => {
      expect(fs.existsSync(defaultAgentSocket)).toBe(false);
      const outcome = await forward(add, stdin);
      expect(outcome.exitCode).toBe(1);
      expect(cniError(outcome)).toMatchObject({ cniVersion: '1.1.0', code: 11 });
      expect(cniError(outcome).details).toContain(`socket ${defaultAgentSocket}`);
      expect(outcome.stderr).toBe('');
    },
  );

  it('answers VERSION itself, without reading stdin or dialing the agent', async () => {
    const agent = await standInAgent({ reply: () => encodeReply(0, 'from the agent') });
    const stdin = config({ agent_socket: agent.socket });
    const outcome = await forward({ CNI_COMMAND: 'VERSION' }, stdin, { keepStdinOpen: true });
    expect(outcome).toEqual({ exitCode: 0, stdout: versionInfo(), stderr: '' });
    expect(agent.connections()).toBe(0);
  });

  it.each([
    ['the configuration names', (socket: string) => config({ agent_socket: socket }, '0.4.0'), '0.4.0'],
    ['a non-string cniVersion and', (socket: string) => config({ agent_socket: socket }, 4), '1.1.0'],
  ])('fails with code 11 naming the socket %s when nothing listens there', async (_, stdin, cniVersion) => {
    const socket = path.join(root, 'absent.sock');
    const outcome = await forward(add, stdin(socket));
    expect(outcome.exitCode).toBe(1);
    expect(cniError(outcome)).toMatchObject({
      cniVersion,
      code: 11,
      msg: 'topology-ipam node agent unreachable',
    });
    expect(cniError(outcome).details).toContain(`socket ${socket}`);
    expect(cniError(outcome).details).toContain('no such file or directory');
    expect(cniError(outcome).details).toContain('app.kubernetes.io/component=cni');
  });

  it('dials the default socket when the configuration names none, and says so when it is absent', async () => {
    expect(fs.existsSync(defaultAgentSocket)).toBe(false);
    const outcome = await forward(add, config({ agent_socket: null }));
    expect(cniError(outcome)).toMatchObject({ cniVersion: '1.0.0', code: 11 });
    expect(cniError(outcome).details).toContain(`socket ${defaultAgentSocket}`);
  });

  it('fails with code 11 when the socket path refuses connections (a file that is no socket)', async () => {
    const socket = path.join(root, 'not-a-socket');
    fs.writeFileSync(socket, '');
    const outcome = await forward(add, config({ agent_socket: socket }));
    expect(cniError(outcome)).toMatchObject({ code: 11 });
    expect(cniError(outcome).details).toContain('connection refused');
  });

  it.each<[string, StandInAnswer, string]>([
    ['closes the connection without a reply', { close: true }, 'closed the connection without a reply'],
    [
      'replies with another protocol version',
      { reply: () => '{"version":2,"exitCode":0,"stdout":"{}"}' },
      'protocol version 2',
    ],
    [
      'replies with something that is not JSON',
      { reply: () => 'Internal error' },
      'not a protocol reply: "Internal error"',
    ],
    ['replies without an exit code', { reply: () => '{"version":1,"stdout":"{}"}' }, 'not a protocol reply'],
    [
      'replies with a string exit code',
      { reply: () => '{"version":1,"exitCode":"0","stdout":""}' },
      'not a protocol reply',
    ],
    [
      'replies with an exit code that would wrap to 0',
      { reply: () => encodeReply(256, '{}') },
      'not a protocol reply',
    ],
  ])('fails with code 11 when the agent %s', async (_, answer, problem) => {
    const agent = await standInAgent(answer);
    const outcome = await forward(add, config({ agent_socket: agent.socket }, '0.3.1'));
    expect(outcome.exitCode).toBe(1);
    expect(cniError(outcome)).toMatchObject({ cniVersion: '0.3.1', code: 11 });
    expect(cniError(outcome).details).toContain(problem);
    expect(agent.requests).toHaveLength(1);
  });

  it('gives up with code 11 five seconds after ipam.timeout_seconds when no reply comes', async () => {
    const agent = await standInAgent({ silent: true });
    const started = performance.now();
    const outcome = await forward(add, config({ agent_socket: agent.socket, timeout_seconds: 0.5 }));
    expect(cniError(outcome)).toMatchObject({ code: 11 });
    expect(cniError(outcome).details).toContain('no reply within 5.5s (ipam.timeout_seconds + 5 s)');
    expect(performance.now() - started).toBeGreaterThanOrEqual(5_000);
  }, 30_000);

  it('forwards a configuration of maxStdinBytes and refuses a larger one (code 7) without dialing', async () => {
    const agent = await standInAgent({ reply: () => encodeReply(0, 'ok') });
    const head = `{"cniVersion":"1.0.0","ipam":{"agent_socket":${JSON.stringify(agent.socket)}},"pad":"`;
    const fits = head + 'x'.repeat(maxStdinBytes - head.length - 2) + '"}';
    expect(await forward(add, fits)).toEqual({ exitCode: 0, stdout: 'ok', stderr: '' });
    const tooLarge = await forward(add, fits + ' ');
    expect(cniError(tooLarge)).toMatchObject({ code: 7, msg: 'network configuration too large' });
    expect(agent.requests.map((request) => parseRequest(request).stdin)).toEqual([fits]);
  });
});
