/**
 * Bundles the plugin into one ESM file, `dist/cni/topology-ipam.mjs`, and copies the launcher next to it
 * as `dist/cni/topology-ipam`. Install both into the CNI bin directory (e.g. /opt/cni/bin): the launcher
 * runs node on `<its own path>.mjs`. Run with `npx tsx cni/build.ts [outdir]`.
 *
 * Start-up is paid on every pod, so the file is laid out for it:
 * - one file, so no node_modules walk and no module resolution at start;
 * - the entry (`main.ts`) is tiny and answers VERSION by itself;
 * - everything else (`run.ts`: zod, the Kubernetes client) is a CommonJS bundle embedded as a string and
 *   compiled on demand with `vm.Script`, together with a V8 code cache made at build time by running it
 *   once. VERSION never compiles it; ADD/DEL skip most compilation. A node of another V8 version rejects
 *   the cache and compiles as usual: build with the node you ship (the launcher prefers one next to it).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, type Plugin, build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
export const defaultOutDir = path.resolve(here, '..', 'dist', 'cni');
export const pluginName = 'topology-ipam';
const embeddedFilename = `${pluginName}-run.cjs`;

/**
 * zod's `z` namespace re-exports every locale and `fromJSONSchema`, which a bundler cannot drop while `z`
 * is used as an object: two thirds of the bundle. The plugin only ever formats errors in English and never
 * converts JSON Schema, so both are replaced by what it uses.
 */
export const trimZod: Plugin = {
  name: 'trim-zod',
  setup(build) {
    build.onResolve({ filter: /(^|\/)locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${path.sep}zod${path.sep}`)
        ? { path: path.join(path.dirname(args.importer), '..', 'locales', 'en.js'), namespace: 'zod-locales' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: path.dirname(args.path),
    }));
    build.onResolve({ filter: /\/from-json-schema\.js$/ }, (args) =>
      args.importer.includes(`${path.sep}zod${path.sep}`)
        ? { path: 'from-json-schema', namespace: 'zod-stub' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-stub' }, () => ({
      contents: "export function fromJSONSchema() { throw new Error('fromJSONSchema is not bundled'); }",
    }));
  },
};

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [trimZod],
  write: false,
};

/** `run.ts` as the body of a CommonJS module function: `(function (exports, require, module) {...})`. */
async function buildRunModule(): Promise<string> {
  const result = await build({ ...common, entryPoints: [path.join(here, 'run.ts')], format: 'cjs' });
  const code = result.outputFiles?.[0]?.text;
  if (code === undefined) throw new Error('esbuild produced no output for run.ts');
  return `(function (exports, require, module) {${code}\n})`;
}

/**
 * Compiles and runs the module once in a fresh node, through the configuration-parsing paths an ADD takes
 * (without any request), then serialises V8's code cache: the functions compiled so far come with it.
 */
function makeCodeCache(source: string): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-ipam-build-'));
  try {
    const sourceFile = path.join(dir, 'run.cjs');
    const cacheFile = path.join(dir, 'run.cache');
    fs.writeFileSync(sourceFile, source);
    const warmUp = `
      import fs from 'node:fs';
      import vm from 'node:vm';
      import { createRequire } from 'node:module';
      const script = new vm.Script(fs.readFileSync(${JSON.stringify(sourceFile)}, 'utf8'), { filename: ${JSON.stringify(embeddedFilename)} });
      const module = { exports: {} };
      script.runInThisContext()(module.exports, createRequire(import.meta.url), module);
      const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/n', CNI_IFNAME: 'eth0', CNI_PATH: '/p', CNI_ARGS: 'K8S_POD_NAMESPACE=a;K8S_POD_NAME=b' };
      const config = { cniVersion: '1.0.0', name: 'n', type: 't', ipam: { type: 't', nodename: 'n', kubeconfig: '/nonexistent', routes: [{ dst: '0.0.0.0/0' }], pools: ['p', '10.0.0.0/8'] } };
      await module.exports.run(env, JSON.stringify(config));
      await module.exports.run({ ...env, CNI_COMMAND: 'DEL' }, '{');
      fs.writeFileSync(${JSON.stringify(cacheFile)}, script.createCachedData());
    `;
    execFileSync(process.execPath, ['--input-type=module', '-e', warmUp], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    return fs.readFileSync(cacheFile);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Resolves main.ts's `import('./run.js')` to a module that compiles the embedded source with its cache. */
function embedRun(source: string, cache: Buffer): Plugin {
  return {
    name: 'embed-run',
    setup(build) {
      build.onResolve({ filter: /^\.\/run\.js$/ }, () => ({ path: 'run', namespace: 'embedded' }));
      build.onLoad({ filter: /.*/, namespace: 'embedded' }, () => ({
        loader: 'js',
        contents: `
          import { Script } from 'node:vm';
          import { createRequire } from 'node:module';
          const script = new Script(${JSON.stringify(source)}, {
            filename: ${JSON.stringify(embeddedFilename)},
            cachedData: Buffer.from(${JSON.stringify(cache.toString('base64'))}, 'base64'),
          });
          if (process.env.TOPOLOGY_IPAM_DEBUG_CODE_CACHE) {
            process.stderr.write('code cache ' + (script.cachedDataRejected ? 'rejected' : 'accepted') + '\\n');
          }
          const module = { exports: {} };
          script.runInThisContext()(module.exports, createRequire(import.meta.url), module);
          export const run = module.exports.run;
        `,
      }));
    },
  };
}

export interface BuiltPlugin {
  /** The launcher: what a runtime executes. */
  readonly launcher: string;
  readonly bundle: string;
  readonly bytes: number;
}

export async function buildPlugin(outDir: string = defaultOutDir): Promise<BuiltPlugin> {
  fs.mkdirSync(outDir, { recursive: true });
  const source = await buildRunModule();
  const cache = makeCodeCache(source);
  const bundle = path.join(outDir, `${pluginName}.mjs`);
  await build({
    ...common,
    entryPoints: [path.join(here, 'main.ts')],
    outfile: bundle,
    format: 'esm',
    write: true,
    plugins: [embedRun(source, cache)],
  });
  const launcher = path.join(outDir, pluginName);
  fs.copyFileSync(path.join(here, 'launcher.sh'), launcher);
  fs.chmodSync(launcher, 0o755);
  return { launcher, bundle, bytes: fs.statSync(bundle).size };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await buildPlugin(process.argv[2] === undefined ? undefined : path.resolve(process.argv[2]));
  console.log(`${built.launcher}\n${built.bundle} (${Math.round(built.bytes / 1024)} KiB)`);
}
