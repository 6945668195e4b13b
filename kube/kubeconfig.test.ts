import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { errorMessage } from '../common/index.js';
import { KubeconfigError } from './errors.js';
import { type Connection, loadConnection, maxCredentialFileBytes } from './kubeconfig.js';

const token = 'tok3n-that-must-never-be-printed';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeconfig-test-'));
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: string): string {
  const target = path.join(dir, name);
  fs.writeFileSync(target, content);
  return target;
}

const valid = (user: string) => `apiVersion: v1
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:6443" } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
users:
- name: u
  user:
${user}
`;

function refusal(kubeconfig: string | undefined): string {
  try {
    loadConnection(kubeconfig).token?.();
  } catch (error) {
    expect(error).toBeInstanceOf(KubeconfigError);
    return errorMessage(error);
  }
  throw new Error('expected the kubeconfig to be refused');
}

const fifo = path.join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);

describe('loadConnection on a bad kubeconfig', () => {
  it.each([
    [
      'malformed YAML around the token',
      () => file('syntax', valid(`    token: ${token}\n  bad: [unclosed`)),
      /is not valid YAML: \w+ at line \d+, column \d+$/,
    ],
    ['a YAML scalar', () => file('scalar', token), /is not valid: \(top level\): /],
    [
      'a token of the wrong type',
      () => file('shape', valid(`    token: [${token}]`)),
      /users\.0\.user\.token: Invalid input/,
    ],
    ['/dev/zero', () => '/dev/zero', /is not a regular file/],
    ['a FIFO with no writer', () => fifo, /is not a regular file/],
    [
      'an oversized file',
      () => file('huge', `# ${token}\n${'#'.repeat(maxCredentialFileBytes)}`),
      /is larger than \d+ bytes/,
    ],
    [
      'a token file that is /dev/zero',
      () => file('token-file', valid('    tokenFile: /dev/zero')),
      /token file \/dev\/zero is not a regular file/,
    ],
    [
      'a credential plugin printing its token as non-JSON',
      () => file('exec', valid(`    exec: { command: echo, args: ["${token}"] }`)),
      /credential plugin echo did not print JSON/,
    ],
  ])('names the file and the kind of error for %s, never the contents', (_, make, message) => {
    const kubeconfig = make();
    const text = refusal(kubeconfig);
    expect(text).toMatch(message);
    expect(text).not.toContain(token);
  });
});

/** A kubeconfig of one cluster, context and user (JSON is YAML), with `change` applied to it. */
function kubeconfig(
  name: string,
  change: (config: Record<string, unknown>) => void = () => undefined,
): string {
  const config: Record<string, unknown> = {
    apiVersion: 'v1',
    clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443' } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
    users: [{ name: 'u', user: {} }],
  };
  change(config);
  return file(name, JSON.stringify(config));
}
const withUser = (user: Record<string, unknown>) => (config: Record<string, unknown>) => {
  config.users = [{ name: 'u', user }];
};
const withCluster = (cluster: Record<string, unknown>) => (config: Record<string, unknown>) => {
  config.clusters = [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443', ...cluster } }];
};

describe('loadConnection refuses, saying why', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it.each<[string, () => string | undefined, string]>([
    ['a missing file', () => path.join(dir, 'absent'), `cannot read kubeconfig ${dir}/absent: ENOENT`],
    [
      'a file without clusters',
      () => file('no-clusters', 'contexts: []\n'),
      `kubeconfig ${dir}/no-clusters is not valid: clusters: Invalid input: expected array, received undefined`,
    ],
    [
      'a current context it does not define',
      () => kubeconfig('no-context', (config) => (config['current-context'] = 'y')),
      `kubeconfig ${dir}/no-context has no context "y"`,
    ],
    [
      'no context at all',
      () =>
        kubeconfig('no-contexts', (config) => {
          delete config['current-context'];
          config.contexts = [];
        }),
      `kubeconfig ${dir}/no-contexts has no context ""`,
    ],
    [
      "a context's cluster it does not define",
      () =>
        kubeconfig('no-cluster', (config) => (config.contexts = [{ name: 'x', context: { cluster: 'd' } }])),
      `kubeconfig ${dir}/no-cluster has no cluster "d"`,
    ],
    [
      'a missing certificate authority, relative to the file',
      () => kubeconfig('no-ca', withCluster({ 'certificate-authority': 'ca.crt' })),
      `cannot read certificate authority ${dir}/ca.crt: ENOENT`,
    ],
    [
      'a missing client certificate',
      () => kubeconfig('no-cert', withUser({ 'client-certificate': 'client.crt' })),
      `cannot read client certificate ${dir}/client.crt: ENOENT`,
    ],
    [
      'a missing client key',
      () => kubeconfig('no-key', withUser({ 'client-key': '/nonexistent/client.key' })),
      'cannot read client key /nonexistent/client.key: ENOENT',
    ],
    [
      'a missing token file, when a token is asked for',
      () => kubeconfig('no-token-file', withUser({ tokenFile: 'token' })),
      `cannot read token file ${dir}/token: ENOENT`,
    ],
    [
      'a credential plugin that fails',
      () => kubeconfig('plugin-fails', withUser({ exec: { command: 'false' } })),
      "the kubeconfig's credential plugin false failed: non-zero exit",
    ],
    [
      'a credential plugin that is not there',
      () => kubeconfig('plugin-absent', withUser({ exec: { command: 'no-such-credential-plugin' } })),
      "the kubeconfig's credential plugin no-such-credential-plugin failed: ENOENT",
    ],
    [
      'a credential plugin printing JSON without a token',
      () => kubeconfig('plugin-no-token', withUser({ exec: { command: 'echo', args: ['{}'] } })),
      "the kubeconfig's credential plugin echo printed no ExecCredential with status.token",
    ],
    [
      'no kubeconfig outside a pod',
      () => {
        vi.stubEnv('KUBERNETES_SERVICE_HOST', '');
        return undefined;
      },
      'no kubeconfig given and not running in a pod (KUBERNETES_SERVICE_HOST is unset)',
    ],
  ])('%s', (_what, make, message) => {
    expect(refusal(make())).toBe(message);
  });
});

describe('loadConnection reads', () => {
  it.each<[string, () => string, Partial<Connection>]>([
    [
      'the server without trailing slashes',
      () => kubeconfig('slash', withCluster({ server: 'https://127.0.0.1:6443//' })),
      { server: 'https://127.0.0.1:6443', insecureSkipTlsVerify: false },
    ],
    [
      'the first context when none is current',
      () =>
        kubeconfig('first-context', (config) => {
          delete config['current-context'];
          config.clusters = [
            { name: 'c', cluster: { server: 'https://c:6443' } },
            { name: 'd', cluster: { server: 'https://d:6443' } },
          ];
          config.contexts = [
            { name: 'y', context: { cluster: 'd' } },
            { name: 'x', context: { cluster: 'c' } },
          ];
        }),
      { server: 'https://d:6443' },
    ],
    [
      'files relative to its folder',
      () => {
        file('relative-ca.crt', 'CA');
        return kubeconfig('relative', withCluster({ 'certificate-authority': 'relative-ca.crt' }));
      },
      { ca: Buffer.from('CA') },
    ],
    [
      '-data fields as base64',
      () =>
        kubeconfig('data', (config) => {
          withCluster({ 'certificate-authority-data': Buffer.from('CA').toString('base64') })(config);
          withUser({
            'client-certificate-data': Buffer.from('CERT').toString('base64'),
            'client-key-data': Buffer.from('KEY').toString('base64'),
          })(config);
        }),
      { ca: Buffer.from('CA'), cert: Buffer.from('CERT'), key: Buffer.from('KEY') },
    ],
    [
      'insecure-skip-tls-verify',
      () => kubeconfig('insecure', withCluster({ 'insecure-skip-tls-verify': true })),
      { insecureSkipTlsVerify: true },
    ],
  ])('%s', (_what, make, expected) => {
    expect(loadConnection(make())).toMatchObject(expected);
  });

  it.each<[string, (config: Record<string, unknown>) => void, string]>([
    ['a token', withUser({ token: 'static' }), 'static'],
    ['a token file, trimmed', withUser({ tokenFile: 'token-file-value' }), 'from file'],
    [
      "a credential plugin's ExecCredential",
      withUser({ exec: { command: 'echo', args: ['{"status":{"token":"from plugin"}}'] } }),
      'from plugin',
    ],
    ['nothing, for a user with no credential', withUser({}), 'none'],
  ])('the bearer token from %s', (_what, change, expected) => {
    file('token-file-value', ' from file\n');
    const connection = loadConnection(kubeconfig('token-source', change));
    expect(connection.token?.() ?? 'none').toBe(expected);
  });

  it('reads a token file again for each request, so a rotated token is used', () => {
    const tokenFile = file('rotating', 'first');
    const connection = loadConnection(kubeconfig('rotation', withUser({ tokenFile })));
    expect(connection.token?.()).toBe('first');
    fs.writeFileSync(tokenFile, 'second');
    expect(connection.token?.()).toBe('second');
  });
});

describe('loadConnection with a context', () => {
  const twoContexts = file(
    'contexts',
    `apiVersion: v1
clusters:
- { name: a, cluster: { server: "https://a.example:6443" } }
- { name: b, cluster: { server: "https://b.example:6443/" } }
contexts:
- { name: first, context: { cluster: a } }
- { name: second, context: { cluster: b } }
current-context: first
`,
  );

  it.each([
    [undefined, 'https://a.example:6443'],
    ['first', 'https://a.example:6443'],
    ['second', 'https://b.example:6443'],
  ])('context %s connects to %s', (context, server) => {
    expect(loadConnection(twoContexts, context).server).toBe(server);
  });

  it('refuses a context the file does not have, by name', () => {
    expect(() => loadConnection(twoContexts, 'third')).toThrow(/has no context "third"/);
  });
});
