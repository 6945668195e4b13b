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

/** Held on an IPPool until no block in it holds an address. */
export const poolFinalizer = `${apiGroup}/blocks-released`;
