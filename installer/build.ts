/**
 * Bundles the installer into one ESM file, `dist/installer/installer.mjs`, which the CNI image
 * runs with its node binary. Run with `npx tsx installer/build.ts [outdir]`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
export const defaultOutDir = path.resolve(here, '..', 'dist', 'installer');

export async function buildInstaller(outDir: string = defaultOutDir): Promise<string> {
  const outfile = path.join(outDir, 'installer.mjs');
  await build({
    entryPoints: [path.join(here, 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  });
  return outfile;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(
    await buildInstaller(process.argv[2] === undefined ? undefined : path.resolve(process.argv[2])),
  );
}
