import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ControlPlaneBinaries {
  readonly binDir: string;
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  readonly kubeScheduler: string;
  readonly kubelet: string;
  readonly kubectl: string;
  readonly helm: string;
}

const buildScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tools', 'build.sh');

/**
 * Builds (or reuses) etcd, the control plane's servers, kubectl, the kubelet, helm and the node's
 * containerd (with its shim, ctr and CNI plugins, which the node finds beside the kubelet) from the
 * pinned Go wrapper modules.
 * A cold build takes minutes; the script's cache makes every later call a hash check.
 */
export function ensureBinaries(): ControlPlaneBinaries {
  const binDir = execFileSync('bash', [buildScript], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return {
    binDir,
    etcd: path.join(binDir, 'etcd'),
    kubeApiserver: path.join(binDir, 'kube-apiserver'),
    kubeControllerManager: path.join(binDir, 'kube-controller-manager'),
    kubeScheduler: path.join(binDir, 'kube-scheduler'),
    kubelet: path.join(binDir, 'kubelet'),
    kubectl: path.join(binDir, 'kubectl'),
    helm: path.join(binDir, 'helm'),
  };
}
