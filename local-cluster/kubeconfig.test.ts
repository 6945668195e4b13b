import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { externalKubeconfig } from './kubeconfig.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeconfig-choice-'));
const existing = path.join(scratch, 'kubeconfig');
fs.writeFileSync(existing, 'apiVersion: v1\n');
const missing = path.join(scratch, 'removed-by-cluster-down', 'kubeconfig');
afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('externalKubeconfig', () => {
  it.each([
    ['unset: the local control plane', {}, undefined],
    ['empty: the local control plane', { KUBECONFIG: '' }, undefined],
    ['a file: that cluster', { KUBECONFIG: existing }, existing],
  ])('%s', (_case, env, expected) => {
    expect(externalKubeconfig(env)).toBe(expected);
  });

  it('refuses a path to no file, naming it, instead of starting a local control plane', () => {
    expect(() => externalKubeconfig({ KUBECONFIG: missing })).toThrow(
      `KUBECONFIG is ${missing}, which does not exist`,
    );
  });
});

describe('npm start', () => {
  it('with a KUBECONFIG naming no file, exits 1 before starting anything, and names the path', () => {
    const outcome = spawnSync(
      process.execPath,
      ['--import', 'tsx', path.join(repo, 'scripts', 'start.ts'), '--once'],
      { cwd: repo, env: { ...process.env, KUBECONFIG: missing }, encoding: 'utf8', timeout: 60_000 },
    );
    expect(outcome.status).toBe(1);
    expect(outcome.stderr).toBe(
      `npm start: KUBECONFIG is ${missing}, which does not exist: point it at a cluster's kubeconfig, or unset it to start a local control plane\n`,
    );
    expect(outcome.stdout).toBe('');
  }, 60_000);
});
