import { execFileSync } from 'node:child_process';
import { crdDir } from '../charts/generate.js';

export { crdDir };

/** Applies every CRD in the chart's crds/ with kubectl and waits until the API server serves them. */
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
