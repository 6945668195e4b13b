/** The API group and version of every custom resource this project defines. */
export const apiGroup = 'ipam.topology-ipam.dev';
export const apiVersionName = 'v1alpha1';
export const apiVersion = `${apiGroup}/${apiVersionName}`;

/**
 * Labels that let a node's blocks and affinities, a pool's blocks, or every block that could overlap a
 * new one (its claim region, `blockRegion`) be listed in one request.
 */
export const labels = {
  node: `${apiGroup}/node`,
  pool: `${apiGroup}/pool`,
  region: `${apiGroup}/region`,
} as const;

/**
 * On an IPPool made by `kubectl ipam split`: the name of the pool it was split from. A pool so marked may
 * lie inside that pool while the latter is disabled (`overlapFromSplit`, docs/adr/0014-splitting-a-pool.md).
 */
export const splitFromAnnotation = `${apiGroup}/split-from`;

/** Held on an IPPool until no block in it holds an address. */
export const poolFinalizer = `${apiGroup}/blocks-released`;
