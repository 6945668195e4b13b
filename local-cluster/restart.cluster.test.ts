import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from './control-plane.js';
import { installCrds } from './crds.js';

// Its own control plane: killing the shared one would disturb the other test files.
let plane: ControlPlane;
const kubectl = (args: string[], input?: string) =>
  execFileSync(plane.binaries.kubectl, args, {
    env: { ...process.env, KUBECONFIG: plane.kubeconfigPath },
    input,
    encoding: 'utf8',
    stdio: 'pipe',
  });

beforeAll(async () => {
  plane = await ControlPlane.start();
  installCrds(plane.binaries.kubectl, plane.kubeconfigPath);
});

afterAll(async () => {
  const stateDir = plane.stateDir;
  await plane.stop();
  expect(fs.existsSync(stateDir)).toBe(false);
});

describe('the control plane harness', () => {
  it('survives kube-apiserver being killed and restarted mid-run, keeping its data', async () => {
    const pool = {
      apiVersion: 'ipam.topology-ipam.dev/v1alpha1',
      kind: 'IPPool',
      metadata: { name: 'survivor' },
      spec: { cidr: '10.20.0.0/16' },
    };
    kubectl(['apply', '-f', '-'], JSON.stringify(pool));
    await plane.killApiServer();
    expect(() => kubectl(['get', 'ippool', 'survivor', '--request-timeout=2s'])).toThrow();
    await plane.startApiServer();
    expect(kubectl(['get', 'ippool', 'survivor', '-o', 'jsonpath={.spec.cidr}'])).toBe('10.20.0.0/16');
    // The same kubeconfig (port, CA, token) still works after the restart.
    expect(fs.existsSync(path.join(plane.stateDir, 'kubeconfig'))).toBe(true);
  });
});
