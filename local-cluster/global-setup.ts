import type { TestProject } from 'vitest/node';
import { ensureBinaries } from './binaries.js';
import { ControlPlane } from './control-plane.js';
import { installCrds } from './crds.js';
import { externalKubeconfig } from './kubeconfig.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    binDir: string;
  }
}

/**
 * One control plane per test run for the cluster suite. With KUBECONFIG set, the suite runs against
 * that cluster instead (it creates and deletes Nodes and IPPools named after each test file); a
 * KUBECONFIG naming no file fails the run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = externalKubeconfig(process.env);
  if (external !== undefined) {
    const { kubectl, binDir } = ensureBinaries();
    installCrds(kubectl, external);
    project.provide('kubeconfig', external);
    project.provide('binDir', binDir);
    return () => Promise.resolve();
  }
  const plane = await ControlPlane.start();
  installCrds(plane.binaries.kubectl, plane.kubeconfigPath);
  project.provide('kubeconfig', plane.kubeconfigPath);
  project.provide('binDir', plane.binaries.binDir);
  return () => plane.stop();
}
