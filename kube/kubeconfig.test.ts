import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorMessage } from '../common/index.js';
import { KubeconfigError } from './errors.js';
import { loadConnection, maxCredentialFileBytes } from './kubeconfig.js';

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

function refusal(kubeconfig: string): string {
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
