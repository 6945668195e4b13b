import { apiVersion, customResourceDefinition, resourceDefinitions } from '../api/index.js';
import type { ClusterTestContext } from './context.js';
import { installCrds } from './crds.js';
import { eventually } from './eventually.js';

/** The kinds loosened, each with a spec that today's CRD refuses. */
const garbageSpecs: Readonly<Record<string, unknown>> = {
  IPAMBlock: { cidr: 'garbage', pool: 'p', node: 'n', allocations: [], cooling: [] },
  BlockAffinity: { cidr: 'garbage', pool: 'p', node: 'n', state: 'pending' },
  IPReservation: { reservedCIDRs: ['garbage'] },
};

/** The IPAMBlock, BlockAffinity and IPReservation CRDs as loose as an older version's: any spec goes. */
function looseCrds(): string {
  return resourceDefinitions
    .filter((definition) => definition.kind in garbageSpecs)
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

/** Whether the API server refuses garbage of every loosened kind now (a CRD change takes a moment to apply). */
function garbageRefused(cluster: ClusterTestContext): boolean[] {
  return Object.entries(garbageSpecs).map(([kind, spec]) => {
    const probe = { apiVersion, kind, metadata: { name: `${cluster.prefix}-loose-probe` }, spec };
    return !cluster.tryKubectl(['create', '--dry-run=server', '-f', '-'], JSON.stringify(probe)).ok;
  });
}

/**
 * Runs `write` while the IPAMBlock, BlockAffinity and IPReservation CRDs accept any spec, as an older
 * version of them did, then installs crds/ again: for objects an API server may still hold that today's
 * CRDs refuse.
 */
export async function withLooseCrds(cluster: ClusterTestContext, write: () => Promise<void>): Promise<void> {
  cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], looseCrds());
  try {
    await eventually(() => (garbageRefused(cluster).some((refused) => refused) ? undefined : true), {
      timeoutMs: 60_000,
    });
    await write();
  } finally {
    installCrds(`${cluster.binDir}/kubectl`, cluster.kubeconfig);
    await eventually(() => (garbageRefused(cluster).every((refused) => refused) ? true : undefined), {
      timeoutMs: 60_000,
    });
  }
}
