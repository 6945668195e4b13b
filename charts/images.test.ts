/**
 * There is no container engine here, so the images are checked by replaying images/Dockerfile's build
 * stage on this machine: the sources its COPY lines take (through its .dockerignore) into a fresh
 * directory, its RUN commands (all but `npm ci`: node_modules is linked instead), then every file the
 * runtime stages copy out of it must exist and run. Base images and `npm ci` are not exercised.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dockerfile = fs.readFileSync(path.join(repo, 'images', 'Dockerfile'), 'utf8');
const dockerignore = fs
  .readFileSync(path.join(repo, 'images', 'Dockerfile.dockerignore'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

interface Stage {
  readonly name: string;
  readonly instructions: { readonly keyword: string; readonly args: string }[];
}

/** The Dockerfile's stages, with continuation lines joined and comments dropped. */
function stages(text: string): Stage[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  const result: { name: string; instructions: { keyword: string; args: string }[] }[] = [];
  for (const line of lines) {
    const match = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
    if (!match || line.trimStart().startsWith('#')) continue;
    const [, keyword = '', args = ''] = match;
    if (keyword === 'FROM') result.push({ name: /\bAS\s+(\S+)/i.exec(args)?.[1] ?? '', instructions: [] });
    else result.at(-1)?.instructions.push({ keyword, args: args.trim() });
  }
  return result;
}

const all = stages(dockerfile);
const stage = (name: string): Stage => {
  const found = all.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no stage ${name} in images/Dockerfile`);
  return found;
};
const copies = (of: Stage) =>
  of.instructions
    .filter((instruction) => instruction.keyword === 'COPY')
    .map((instruction) => {
      const words = instruction.args.split(/\s+/);
      const flags = words.filter((word) => word.startsWith('--'));
      const paths = words.filter((word) => !word.startsWith('--'));
      const target = paths.at(-1) ?? '';
      return {
        from: flags.find((flag) => flag.startsWith('--from='))?.slice(7),
        sources: paths.slice(0, -1),
        target,
      };
    });

/** Whether the .dockerignore lets `file` (relative to the repository) into the build context. */
function inContext(file: string): boolean {
  let included = true;
  for (const pattern of dockerignore) {
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    const expression = new RegExp(
      `^${glob
        .replace(/[.+^${}()|[\]]/g, '\\$&')
        .replace(/\*\*\//g, '(.*/)?')
        .replace(/\*/g, '[^/]*')}(/.*)?$`,
    );
    if (expression.test(file)) included = negated;
  }
  return included;
}

const run = promisify(execFile);
let root: string;
let src: string;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'image-build-'));
  src = path.join(root, 'src');
  fs.mkdirSync(src);
  const build = stage('build');
  for (const { from, sources, target } of copies(build)) {
    if (from !== undefined) continue;
    for (const file of sources) {
      const destination = path.join(
        src,
        target.endsWith('/') ? path.join(target, path.basename(file)) : target,
      );
      fs.mkdirSync(path.dirname(destination), { recursive: true });
      fs.cpSync(path.join(repo, file), destination, {
        recursive: true,
        filter: (candidate) => {
          const relative = path.relative(repo, candidate);
          return relative === '' || inContext(relative) || fs.statSync(candidate).isDirectory();
        },
      });
    }
  }
  fs.symlinkSync(path.join(repo, 'node_modules'), path.join(src, 'node_modules'));
  for (const { keyword, args } of build.instructions) {
    if (keyword !== 'RUN' || args.startsWith('npm ci')) continue;
    execFileSync('sh', ['-c', args], { cwd: src, stdio: 'pipe' });
  }
}, 180_000);

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('images/Dockerfile', () => {
  it('has a build stage and the two runtime targets', () => {
    expect(all.map((candidate) => candidate.name)).toEqual(['build', 'operator', 'cni-installer']);
  });

  it('copies into the build stage only what its .dockerignore lets into the context', () => {
    for (const { from, sources } of copies(stage('build'))) {
      if (from === undefined) for (const source of sources) expect(inContext(source)).toBe(true);
    }
    expect(inContext('operator/main.ts')).toBe(true);
    expect(inContext('operator/operator.cluster.test.ts')).toBe(false);
    expect(inContext('node_modules/zod/package.json')).toBe(false);
    expect(inContext('.cache/bin/kube-apiserver')).toBe(false);
  });

  it.each(['operator', 'cni-installer'])('%s runs as a non-root user, from files the build made', (name) => {
    const target = stage(name);
    expect(target.instructions.find((instruction) => instruction.keyword === 'USER')?.args).toBe(
      '65532:65532',
    );
    const copied = copies(target);
    expect(copied.length).toBeGreaterThan(0);
    for (const { from, sources } of copied) {
      expect(from).toBe('build');
      for (const source of sources) expect(fs.existsSync(path.join(root, source))).toBe(true);
    }
    const cmd = JSON.parse(
      target.instructions.find((instruction) => instruction.keyword === 'CMD')?.args ?? '[]',
    ) as string[];
    expect(copied.map(({ target: file }) => file)).toContain(cmd[0]);
  });

  it('builds an operator bundle that starts and reports a bad setting in one line', async () => {
    const failure = await run(process.execPath, [path.join(src, 'dist', 'operator', 'main.mjs')], {
      env: { HEALTH_PORT: 'x' },
    }).then(
      () => undefined,
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toMatch(/invalid operator settings/);
  });

  it('builds an installer bundle that runs standalone', async () => {
    const failure = await run(process.execPath, [path.join(src, 'dist', 'installer', 'installer.mjs')], {
      env: {},
    }).then(
      () => undefined,
      (error: unknown) => error as { code: number; stdout: string },
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toMatch(/NODE_NAME is required/);
  });

  it('builds the CNI launcher and bundle, which answer VERSION', async () => {
    const launcher = path.join(src, 'dist', 'cni', 'topology-ipam');
    const child = run(launcher, [], {
      env: { CNI_COMMAND: 'VERSION', PATH: path.dirname(process.execPath) },
    });
    child.child.stdin?.end('{"cniVersion":"1.0.0"}');
    const { stdout } = await child;
    expect(JSON.parse(stdout)).toMatchObject({
      supportedVersions: expect.arrayContaining(['1.0.0']) as unknown,
    });
  });
});
