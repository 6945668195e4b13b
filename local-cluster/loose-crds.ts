import { apiVersion, customResourceDefinition, resourceDefinitions } from '../api/index.js';
import type { ClusterTestContext } from './context.js';
import { installCrds } from './crds.js';
import { eventually } from './eventually.js';

/** The IPAMBlock and BlockAffinity CRDs as loose as an older version's: any spec goes. */
function looseCrds(): string {
  return resourceDefinitions
    .filter((definition) => definition.kind === 'IPAMBlock' || definition.kind === 'BlockAffinity')
    .map((definition) => {
      const crd = customResourceDefinition(definition) as {
        spec: { versions: { schema: { openAPIV3Schema: { properties: Record<string, unknown> } } }[] };
      };
      for (const version of crd.spec.versions) {
        version.schema.openAPIV3Schema.properties.spec = {
          type: 'object',
          'x-kubernetes-preserve-unknown-fields': true,
        };
      }
      return JSON.stringify(crd);
    })
    .join('\n');
}

/** Whether the API server refuses a block with a garbage CIDR now (a CRD change takes a moment to apply). */
function garbageRefused(cluster: ClusterTestContext): boolean {
  const probe = {
    apiVersion,
    kind: 'IPAMBlock',
    metadata: { name: `${cluster.prefix}-loose-probe` },
    spec: { cidr: 'garbage', pool: 'p', node: 'n', allocations: [], cooling: [] },
  };
  return !cluster.tryKubectl(['create', '--dry-run=server', '-f', '-'], JSON.stringify(probe)).ok;
}

/**
 * Runs `write` while the IPAMBlock and BlockAffinity CRDs accept any spec, as an older version of them
 * did, then installs crds/ again: for objects an API server may still hold that today's CRDs refuse.
 */
export async function withLooseCrds(cluster: ClusterTestContext, write: () => Promise<void>): Promise<void> {
  cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], looseCrds());
  try {
    await eventually(() => (garbageRefused(cluster) ? undefined : true), { timeoutMs: 60_000 });
    await write();
  } finally {
    installCrds(`${cluster.binDir}/kubectl`, cluster.kubeconfig);
    await eventually(() => (garbageRefused(cluster) ? true : undefined), { timeoutMs: 60_000 });
  }
}
