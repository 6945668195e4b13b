/**
 * Bundles the plugin into one executable file, `dist/kubectl-ipam/kubectl-ipam`, for kubectl to find on
 * PATH: CommonJS, so Node runs it whatever package.json (if any) sits next to it, behind a
 * `#!/usr/bin/env node` line. Run with `npx tsx kubectl-ipam/build.ts [outfile]` (`npm run build` does).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
export const defaultOutfile = path.resolve(here, '..', 'dist', 'kubectl-ipam', 'kubectl-ipam');

export async function buildKubectlIpam(outfile: string = defaultOutfile): Promise<string> {
  await build({
    entryPoints: [path.join(here, 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: false,
    legalComments: 'none',
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'warning',
  });
  fs.chmodSync(outfile, 0o755);
  return outfile;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(
    await buildKubectlIpam(process.argv[2] === undefined ? undefined : path.resolve(process.argv[2])),
  );
}
