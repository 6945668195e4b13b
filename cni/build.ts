/**
 * Builds the CNI plugin that runtimes execute: the Go forwarder of `cni/forwarder/`, static (no cgo) and
 * stripped. It only carries env and stdin to the node agent and back (agent/protocol.ts); every decision
 * is the agent's, in TypeScript. Install it as /opt/cni/bin/topology-ipam, and as topology-ipam-routes (the
 * chained plugin it is under that name). `npm run build` (scripts/build.ts) makes dist/cni/topology-ipam
 * with it, and the second name as a hard link beside it; tests and benchmarks build their own. Go only: the forwarder uses
 * the standard library alone, so the build needs no network (docs/adr/0011-cni-forwarder.md).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pluginName, routesPluginName } from '../common/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const sourceDir = path.join(here, 'forwarder');

function newerThanSources(file: string): boolean {
  if (!fs.existsSync(file)) return false;
  const built = fs.statSync(file).mtimeMs;
  return fs
    .readdirSync(sourceDir)
    .filter((name) => name.endsWith('.go') || name === 'go.mod')
    .every((name) => fs.statSync(path.join(sourceDir, name)).mtimeMs < built);
}

/** `topology-ipam-routes` beside the executable: a hard link, so one file runs in either mode. */
function linkRoutesPlugin(executable: string): void {
  const link = path.join(path.dirname(executable), routesPluginName);
  if (fs.statSync(link, { throwIfNoEntry: false })?.ino === fs.statSync(executable).ino) return;
  fs.rmSync(link, { force: true });
  fs.linkSync(executable, link);
}

/**
 * Builds the forwarder into `outDir` unless the one there is newer than its sources, links its second
 * name beside it, and returns its path.
 */
export async function buildForwarder(outDir: string = path.join(repo, 'dist', 'cni')): Promise<string> {
  const executable = path.join(outDir, pluginName);
  if (newerThanSources(executable)) {
    linkRoutesPlugin(executable);
    return executable;
  }
  fs.mkdirSync(outDir, { recursive: true });
  await promisify(execFile)(
    'go',
    ['build', '-trimpath', '-buildvcs=false', '-ldflags=-s -w', '-o', executable, '.'],
    {
      cwd: sourceDir,
      env: {
        ...process.env,
        CGO_ENABLED: '0',
        // Never fetch a newer Go toolchain. CI may have no HOME: without a GOPATH the go command
        // compiled a stale import list of main.go (seen with go 1.26), so both get a folder of ours.
        GOTOOLCHAIN: 'local',
        GOCACHE: process.env.GOCACHE ?? path.join(repo, '.cache', 'go-build'),
        ...(process.env.GOPATH === undefined && process.env.HOME === undefined
          ? { GOPATH: path.join(repo, '.cache', 'go') }
          : {}),
      },
    },
  );
  linkRoutesPlugin(executable);
  return executable;
}
