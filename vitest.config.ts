import { defineConfig } from 'vitest/config';

// Two suites: `unit` is pure and fast; `cluster` runs against a real kube-apiserver + etcd
// started once per run by the global setup (or the cluster KUBECONFIG points at).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{selector,ipam,operator,cni,test,bench}/**/*.test.ts'],
          exclude: ['**/*.cluster.test.ts', '**/node_modules/**'],
          benchmark: { include: ['bench/**/*.bench.ts'] },
        },
      },
    ],
  },
});
