import { defineConfig } from 'vitest/config';

// Two suites: `unit` is pure and fast; `cluster` runs against a real kube-apiserver + etcd
// started once per run by its global setup (or the cluster KUBECONFIG points at).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{allocator,api,kube,selector,ipam,operator,cni,agent,charts,installer,test,scripts,chaos}/**/*.test.ts',
          ],
          exclude: ['**/*.cluster.test.ts', '**/node_modules/**'],
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['**/*.cluster.test.ts'],
          exclude: ['**/node_modules/**'],
          globalSetup: ['test/cluster/global-setup.ts'],
          // One API server serves the whole suite; files run one at a time so their timings stay honest.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
