/**
 * `npm run build`: the operator as one ESM file, dist/operator/main.mjs, which is all its container
 * image needs besides Node. CommonJS dependencies (prom-client, node-forge) inside an ESM bundle need
 * `require`, hence the createRequire banner.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

await build({
  entryPoints: [path.join(repo, 'operator', 'main.ts')],
  outfile: path.join(repo, 'dist', 'operator', 'main.mjs'),
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
