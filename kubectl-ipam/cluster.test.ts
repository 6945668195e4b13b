import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kubeconfigPath } from './cluster.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubectl-ipam-config-'));
const present = path.join(dir, 'present');
fs.writeFileSync(present, '');
const absent = path.join(dir, 'absent');
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('kubeconfigPath', () => {
  it.each([
    ['--kubeconfig wins, even over $KUBECONFIG', '/flag', present, '/flag'],
    ['the first file of $KUBECONFIG that exists', undefined, `${absent}${path.delimiter}${present}`, present],
  ])('%s', (_, flag, env, expected) => {
    expect(kubeconfigPath(flag, { KUBECONFIG: env })).toBe(expected);
  });
});
