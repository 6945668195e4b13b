/**
 * There is no container engine here, so the images are checked by replaying images/Dockerfile's build
 * stages on this machine, each in a fresh directory of its own: the sources its COPY lines take (through
 * the .dockerignore), its RUN commands (all but `npm ci`: node_modules is linked instead; and `apt-get`:
 * Go, Node.js, iproute2 and nftables are this machine's, a Debian 12 like the images'), then every file
 * the runtime stages copy out of them must exist and run. Base images, `npm ci` and `apt-get` are not
 * exercised.
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
/** The stages the runtime images copy from, replayed in this order. */
const buildStages = ['forwarder', 'build', 'nettools'] as const;
let root: string;
/** Where a build stage's WORKDIR (/src) is replayed. */
const stageDir = (name: string) => path.join(root, name);
/** A file a runtime stage copies `--from` a build stage, in the replay. */
const built = (from: string, file: string) => path.join(stageDir(from), path.relative('/src', file));

function replay(name: string): void {
  const target = stage(name);
  expect(target.instructions.find((instruction) => instruction.keyword === 'WORKDIR')?.args).toBe('/src');
  const src = stageDir(name);
  fs.mkdirSync(src, { recursive: true });
  for (const { from, sources, target: destinationPath } of copies(target)) {
    if (from !== undefined) continue;
    for (const file of sources) {
      const destination = path.join(
        src,
        destinationPath.endsWith('/') ? path.join(destinationPath, path.basename(file)) : destinationPath,
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
  // Go's caches outside the scratch directory, and no toolchain download: the replay needs no network.
  const env = {
    ...process.env,
    GOCACHE: process.env.GOCACHE ?? path.join(repo, '.cache', 'go-build'),
    GOTOOLCHAIN: 'local',
  };
  for (const { keyword, args } of target.instructions) {
    if (keyword !== 'RUN' || args.startsWith('npm ci') || args.startsWith('apt-get')) continue;
    execFileSync('sh', ['-c', args], { cwd: src, stdio: 'pipe', env });
  }
}

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'image-build-'));
  for (const name of buildStages) replay(name);
}, 300_000);

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** The first bytes of `file`: an ELF header and its program headers are at the start. */
function head(file: string, bytes = 64 * 1024): Buffer {
  const buffer = Buffer.alloc(bytes);
  const fd = fs.openSync(file, 'r');
  try {
    return buffer.subarray(0, fs.readSync(fd, buffer, 0, bytes, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether an ELF executable asks for a program interpreter (a dynamic loader): a static one does not. */
function hasInterpreter(elf: Buffer): boolean {
  expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  expect(elf[4]).toBe(2); // 64-bit
  const headers = Number(elf.readBigUInt64LE(0x20));
  const size = elf.readUInt16LE(0x36);
  const count = elf.readUInt16LE(0x38);
  const PT_INTERP = 3;
  return Array.from({ length: count }, (_, i) => elf.readUInt32LE(headers + i * size)).includes(PT_INTERP);
}

describe('images/Dockerfile', () => {
  it('has the build stages and the two runtime targets', () => {
    expect(all.map((candidate) => candidate.name)).toEqual([...buildStages, 'operator', 'cni']);
  });

  it.each(buildStages)(
    'copies into the %s stage only what its .dockerignore lets into the context',
    (name) => {
      for (const { from, sources } of copies(stage(name))) {
        if (from === undefined) for (const source of sources) expect(inContext(source)).toBe(true);
      }
    },
  );

  it('lets sources into the context, and no tests, node_modules or binaries', () => {
    expect(inContext('operator/main.ts')).toBe(true);
    expect(inContext('agent/protocol.ts')).toBe(true);
    expect(inContext('cni/forwarder/go.mod')).toBe(true);
    expect(inContext('operator/operator.cluster.test.ts')).toBe(false);
    expect(inContext('node_modules/zod/package.json')).toBe(false);
    expect(inContext('.cache/bin/kube-apiserver')).toBe(false);
  });

  it.each(['operator', 'cni'])('%s runs as a non-root user, from files the build stages made', (name) => {
    const target = stage(name);
    expect(target.instructions.find((instruction) => instruction.keyword === 'USER')?.args).toBe(
      '65532:65532',
    );
    const copied = copies(target);
    expect(copied.length).toBeGreaterThan(0);
    for (const { from, sources } of copied) {
      expect(buildStages).toContain(from);
      for (const source of sources) expect(fs.existsSync(built(from ?? '', source)), source).toBe(true);
    }
    const cmd = JSON.parse(
      target.instructions.find((instruction) => instruction.keyword === 'CMD')?.args ?? '[]',
    ) as string[];
    expect(copied.map(({ target: file }) => file)).toContain(cmd[0]);
  });

  it('builds an operator bundle that starts and reports a bad setting in one line', async () => {
    const failure = await run(process.execPath, [built('build', '/src/dist/operator/main.mjs')], {
      env: { HEALTH_PORT: 'x' },
    }).then(
      () => undefined,
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toMatch(/invalid operator settings/);
  }, 60_000); // starting node takes seconds on a loaded machine

  it('builds an installer bundle that runs standalone', async () => {
    const failure = await run(process.execPath, [built('build', '/src/dist/installer/installer.mjs')], {
      env: {},
    }).then(
      () => undefined,
      (error: unknown) => error as { code: number; stdout: string },
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toMatch(/NODE_NAME is required/);
  }, 60_000); // starting node takes seconds on a loaded machine

  it('builds an agent bundle that runs standalone and names the setting it misses', async () => {
    const failure = await run(process.execPath, [built('build', '/src/dist/agent/agent.mjs')], {
      env: {},
    }).then(
      () => undefined,
      (error: unknown) => error as { code: number; stdout: string; stderr: string },
    );
    expect(failure?.code).toBe(1);
    expect(`${failure?.stdout ?? ''}${failure?.stderr ?? ''}`).toMatch(/NODE_NAME/);
  }, 60_000); // starting node takes seconds on a loaded machine

  it('builds a static forwarder, for any host, that answers VERSION with no PATH and no agent', async () => {
    const forwarder = built('forwarder', '/src/dist/cni/topology-ipam');
    expect(hasInterpreter(head(forwarder))).toBe(false);
    const child = run(forwarder, [], { env: { CNI_COMMAND: 'VERSION' } });
    // The forwarder answers VERSION without reading stdin: it may have exited before this write lands.
    child.child.stdin?.on('error', () => undefined);
    child.child.stdin?.end('{"cniVersion":"1.0.0"}');
    const { stdout } = await child;
    expect(JSON.parse(stdout)).toMatchObject({
      supportedVersions: expect.arrayContaining(['1.0.0']) as unknown,
    });
  }, 60_000); // starting node takes seconds on a loaded machine

  it('builds a forwarder that is the chained topology-ipam-routes under that name, as the installer puts it', async () => {
    const linkDir = fs.mkdtempSync(path.join(os.tmpdir(), 'images-routes-'));
    try {
      const routes = path.join(linkDir, 'topology-ipam-routes');
      fs.linkSync(built('forwarder', '/src/dist/cni/topology-ipam'), routes);
      const child = run(routes, [], { env: { CNI_COMMAND: 'ADD' } });
      child.child.stdin?.end('{"cniVersion":"1.0.0","name":"n","type":"topology-ipam-routes"}');
      const failure = await child.then(
        () => undefined,
        (error: unknown) => error as { code: number; stdout: string },
      );
      expect(failure?.code).toBe(1);
      expect(JSON.parse(failure?.stdout ?? '')).toMatchObject({ code: 7 });
      expect(failure?.stdout).toContain('chained plugin and got no prevResult');
    } finally {
      fs.rmSync(linkDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("puts ip and nft on the cni image's PATH, with every library they load but glibc's beside them", () => {
    const root = built('nettools', '/src/dist/nettools');
    expect(copies(stage('cni'))).toContainEqual({
      from: 'nettools',
      sources: ['/src/dist/nettools/'],
      target: '/',
    });
    const pathEnv = stage('cni').instructions.find(
      (instruction) => instruction.keyword === 'ENV' && instruction.args.startsWith('PATH='),
    );
    expect(pathEnv?.args.slice('PATH='.length).split(':')).toContain('/usr/sbin');
    const copied = (directory: string) => fs.readdirSync(path.join(root, directory));
    expect(copied('usr/sbin').sort()).toEqual(['ip', 'nft']);
    const libraries = new Set(copied('usr/lib/x86_64-linux-gnu'));
    // The runtime image's own: glibc (node loads it too) and the kernel's vDSO.
    const glibc = /^(libc|libm|libdl|libpthread|librt|libresolv)\.so|^ld-linux|^linux-vdso/;
    const files = [
      ...copied('usr/sbin').map((name) => path.join(root, 'usr/sbin', name)),
      ...[...libraries].map((name) => path.join(root, 'usr/lib/x86_64-linux-gnu', name)),
    ];
    for (const file of files) {
      const needed = execFileSync('ldd', [file], { encoding: 'utf8' })
        .split('\n')
        .map((line) => /^\s*(\S+)/.exec(line)?.[1] ?? '')
        .filter((name) => name !== '' && !name.startsWith('/'));
      expect(
        needed.filter((name) => !libraries.has(name) && !glibc.test(name)),
        `${file} loads a library the image lacks`,
      ).toEqual([]);
    }
    // Each copy runs from the copied libraries (glibc's aside), as in the image.
    const runCopy = (binary: string, args: readonly string[]) =>
      execFileSync(path.join(root, 'usr/sbin', binary), args, {
        encoding: 'utf8',
        env: { LD_LIBRARY_PATH: path.join(root, 'usr/lib/x86_64-linux-gnu') },
      });
    expect(runCopy('ip', ['-V'])).toMatch(/^ip utility, iproute2/);
    expect(runCopy('nft', ['--version'])).toMatch(/^nftables v\d/);
  }, 60_000); // ldd on each copy takes seconds on a loaded machine

  it('finds the dynamic loader of a dynamically linked executable (the check above can fail)', () => {
    expect(hasInterpreter(head(process.execPath))).toBe(true);
  });
});
