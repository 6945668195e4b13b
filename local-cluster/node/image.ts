/**
 * The one image the real-node test bed runs, made without a registry or an image builder: Debian's
 * static busybox as /bin/busybox (with the few applet links the tests call) in one uncompressed layer,
 * written as an OCI image layout tarball that `ctr images import` takes. It serves as the sandbox
 * ("pause") image too: its default command sleeps, and containerd stops sandboxes with SIGKILL.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const testImage = 'localhost/topology-ipam-test/busybox:1';
export const busyboxPath = '/bin/busybox';
const applets = ['sh', 'sleep', 'ping', 'ip', 'cat', 'hostname'];

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Writes `bytes` as a blob of the layout in `dir`; returns its descriptor. */
function writeBlob(
  dir: string,
  mediaType: string,
  bytes: Buffer,
): { mediaType: string; digest: string; size: number } {
  const digest = sha256(bytes);
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), bytes);
  return { mediaType, digest, size: bytes.length };
}

/** Writes the image as an OCI layout tarball at `file`, using `work` (emptied) as scratch space. */
export function writeTestImage(file: string, work: string): void {
  fs.rmSync(work, { recursive: true, force: true });
  const rootfs = path.join(work, 'rootfs');
  const layout = path.join(work, 'layout');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(layout, 'blobs', 'sha256'), { recursive: true });
  fs.copyFileSync(busyboxPath, path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of applets) fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  for (const empty of ['proc', 'sys', 'dev', 'etc', 'tmp']) fs.mkdirSync(path.join(rootfs, empty));
  const layer = execFileSync(
    'tar',
    ['--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', '-', '.'],
    {
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const layerDescriptor = writeBlob(layout, 'application/vnd.oci.image.layer.v1.tar', layer);
  const config = writeBlob(
    layout,
    'application/vnd.oci.image.config.v1+json',
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Env: ['PATH=/bin'], Cmd: ['/bin/sleep', '2147483647'] },
        rootfs: { type: 'layers', diff_ids: [layerDescriptor.digest] },
      }),
    ),
  );
  const manifest = writeBlob(
    layout,
    'application/vnd.oci.image.manifest.v1+json',
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config,
        layers: [layerDescriptor],
      }),
    ),
  );
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          ...manifest,
          platform: { architecture: 'amd64', os: 'linux' },
          annotations: { 'io.containerd.image.name': testImage, 'org.opencontainers.image.ref.name': '1' },
        },
      ],
    }),
  );
  execFileSync('tar', ['--numeric-owner', '-C', layout, '-cf', file, '.']);
}
