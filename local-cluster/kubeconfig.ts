import fs from 'node:fs';

/**
 * The kubeconfig of the cluster that `npm start` and the cluster suite use instead of starting the local
 * control plane: KUBECONFIG's, or undefined when it is unset or empty. A KUBECONFIG naming no file is an
 * error: its user meant a cluster, and silently getting a local one instead hides the mistake (a shell
 * still exporting the path of a control plane that `npm run cluster:down` removed, say).
 */
export function externalKubeconfig(env: NodeJS.ProcessEnv): string | undefined {
  const file = env.KUBECONFIG;
  if (file === undefined || file === '') return undefined;
  if (!fs.existsSync(file)) {
    throw new Error(
      `KUBECONFIG is ${file}, which does not exist: point it at a cluster's kubeconfig, or unset it to start a local control plane`,
    );
  }
  return file;
}
