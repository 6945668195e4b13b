/**
 * `npm run build`: the operator and the node agent as one ESM file each, dist/operator/main.mjs and
 * dist/agent/agent.mjs, which is all their container images need besides Node. CommonJS dependencies
 * (prom-client, node-forge) inside an ESM bundle need `require`, hence the createRequire banner.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The operator's and the node agent's bundles. */
const bundles = [
  { entry: path.join(repo, 'operator', 'main.ts'), outfile: path.join(repo, 'dist', 'operator', 'main.mjs') },
  { entry: path.join(repo, 'agent', 'main.ts'), outfile: path.join(repo, 'dist', 'agent', 'agent.mjs') },
];

for (const { entry, outfile } of bundles) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: false,
    sourcemap: 'linked',
    legalComments: 'linked',
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
}
