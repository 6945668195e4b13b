import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const crdDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'crds');

/** Applies every CRD in crds/ with kubectl and waits until the API server serves them. */
export function installCrds(kubectl: string, kubeconfig: string): void {
  const env = { ...process.env, KUBECONFIG: kubeconfig };
  execFileSync(kubectl, ['apply', '--server-side', '--force-conflicts', '-f', crdDir], {
    env,
    stdio: 'pipe',
  });
  execFileSync(kubectl, ['wait', '--for=condition=Established', '--timeout=60s', '-f', crdDir], {
    env,
    stdio: 'pipe',
  });
}
