import { defineConfig } from 'vitest/config';

// Four suites, named by what a test needs: `unit` needs Node.js only and runs in seconds on a fresh
// clone; `tools` (`*.tools.test.ts`) builds or runs Go programs (the CNI forwarder, helm, the images'
// build stages) but needs no API server; `cluster` (`*.cluster.test.ts`) runs against a real
// kube-apiserver + etcd started once per run by its global setup (or the cluster KUBECONFIG points at);
// `node` (`*.node.test.ts`) runs real pods on a real kubelet and containerd (local-cluster/node/).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{allocator,api,common,runtime,kube,kubectl-ipam,selector,ipam,operator,cni,agent,charts,installer,local-cluster,test,scripts,chaos,bench}/**/*.test.ts',
          ],
          exclude: ['**/*.cluster.test.ts', '**/*.tools.test.ts', '**/*.node.test.ts', '**/node_modules/**'],
        },
      },
      {
        test: {
          name: 'tools',
          include: ['**/*.tools.test.ts'],
          exclude: ['**/node_modules/**'],
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['**/*.cluster.test.ts'],
          exclude: ['**/node_modules/**'],
          globalSetup: ['local-cluster/global-setup.ts'],
          // One API server serves the whole suite; files run one at a time so their timings stay honest.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          // Real nodes (containerd + kubelet, as root) against a control plane of their own.
          name: 'node',
          include: ['**/*.node.test.ts'],
          exclude: ['**/node_modules/**'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
