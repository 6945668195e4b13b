/**
 * The plugin as one executable file, `kubectl-ipam`, for kubectl to find on PATH: CommonJS, so Node runs
 * it whatever package.json (if any) sits next to it, with a `#!/usr/bin/env node` line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.ts');

export async function bundleKubectlIpam(outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
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
}
