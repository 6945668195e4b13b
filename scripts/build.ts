/**
 * `npm run build`: every artefact the two images carry, into dist/: the operator's and the node agent's
 * bundles (dist/operator/main.mjs, dist/agent/agent.mjs), the CNI forwarder (dist/cni/topology-ipam, a
 * static Go binary: needs Go) and the installer's bundle (dist/installer/installer.mjs). Each bundle is
 * one ESM file, all its image needs besides Node. Besides the images: the kubectl plugin,
 * dist/kubectl-ipam/bin/kubectl-ipam, with its krew release in dist/kubectl-ipam (scripts/krew.ts): the
 * archive kubectl-ipam-linux-amd64.tar.gz, its .sha256 and the manifest ipam.yaml filled with that sha256.
 *
 * `npm run build -- agent installer` builds only those (images/Dockerfile builds the forwarder in a Go
 * stage of its own); `--out-dir DIR` puts their executables in DIR instead, side by side as the CNI image
 * lays them out (the krew release is a dist/ product only).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BuildOptions, build } from 'esbuild';
import { buildForwarder } from '../cni/build.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The bundles' common options. CommonJS dependencies (prom-client, node-forge) inside an ESM bundle need
 * `require`: the banner provides it.
 */
const esmForNode: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
};
/** The operator and the agent: readable, with source maps for their stack traces. */
const readable: BuildOptions = { minify: false, sourcemap: 'linked', legalComments: 'linked' };
const minified: BuildOptions = { minify: true, legalComments: 'none' };

async function bundle(entry: string, outfile: string, options: BuildOptions): Promise<string> {
  await build({ ...esmForNode, ...options, entryPoints: [path.join(repo, entry)], outfile });
  return outfile;
}

/**
 * The kubectl plugin, one executable file for kubectl to find on PATH, behind a `#!/usr/bin/env node`
 * line. CommonJS, which Node assumes for a file without extension outside any package; inside this
 * repository (package.json says ESM) the package.json written beside it says CommonJS again.
 */
async function kubectlPlugin(outDir: string): Promise<string> {
  const outfile = path.join(outDir, 'kubectl-ipam');
  await build({
    ...esmForNode,
    format: 'cjs',
    banner: { js: '#!/usr/bin/env node' },
    ...minified,
    entryPoints: [path.join(repo, 'kubectl-ipam', 'main.ts')],
    outfile,
  });
  fs.chmodSync(outfile, 0o755);
  fs.writeFileSync(path.join(outDir, 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
  return outfile;
}

/**
 * The plugin in `outDir`/bin, the folder to put on PATH, and its krew release in `outDir`: kubectl takes
 * every `kubectl-*` file on PATH for a plugin, and would complain of the archive beside the executable.
 */
async function kubectlPluginRelease(outDir: string): Promise<string[]> {
  const executable = await kubectlPlugin(path.join(outDir, 'bin'));
  // Loaded here only: the images' build stage copies build.ts alone and builds no kubectl plugin.
  const { krewRelease } = await import('./krew.js');
  const release = krewRelease(outDir, {
    executable,
    license: path.join(repo, 'LICENSE'),
    manifest: path.join(repo, 'kubectl-ipam', 'krew', 'ipam.yaml'),
  });
  return [executable, ...release];
}

interface Artefact {
  /** Its folder in dist/. */
  readonly distDir: string;
  /** Builds it into its dist/ folder; returns the files made. */
  readonly build: (outDir: string) => Promise<string | string[]>;
  /** Builds only its executable into a folder shared with others (`--out-dir`), if that differs. */
  readonly buildExecutable?: (outDir: string) => Promise<string>;
}

/** Each artefact, by name. */
const artefacts = {
  operator: {
    distDir: 'operator',
    build: (outDir: string) => bundle('operator/main.ts', path.join(outDir, 'main.mjs'), readable),
  },
  agent: {
    distDir: 'agent',
    build: (outDir: string) => bundle('agent/main.ts', path.join(outDir, 'agent.mjs'), readable),
  },
  forwarder: { distDir: 'cni', build: buildForwarder },
  installer: {
    distDir: 'installer',
    build: (outDir: string) => bundle('installer/main.ts', path.join(outDir, 'installer.mjs'), minified),
  },
  'kubectl-ipam': {
    distDir: 'kubectl-ipam',
    build: kubectlPluginRelease,
    buildExecutable: kubectlPlugin,
  },
} as const satisfies Record<string, Artefact>;
type ArtefactName = keyof typeof artefacts;

const isArtefact = (name: string): name is ArtefactName => Object.hasOwn(artefacts, name);

const { values, positionals } = parseArgs({
  options: { 'out-dir': { type: 'string' } },
  allowPositionals: true,
});
const unknown = positionals.filter((name) => !isArtefact(name));
if (unknown.length > 0) {
  console.error(`no artefact ${unknown.join(', ')}: choose from ${Object.keys(artefacts).join(', ')}`);
  process.exit(2);
}
const names =
  positionals.length > 0 ? positionals.filter(isArtefact) : Object.keys(artefacts).filter(isArtefact);
const outDir = values['out-dir'];
for (const name of names) {
  const artefact: Artefact = artefacts[name];
  const built =
    outDir === undefined
      ? await artefact.build(path.join(repo, 'dist', artefact.distDir))
      : await (artefact.buildExecutable ?? artefact.build)(path.resolve(outDir));
  for (const file of [built].flat()) console.log(path.relative(process.cwd(), file));
}
