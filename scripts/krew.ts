/**
 * The krew release of the kubectl plugin (https://krew.sigs.k8s.io/docs/developer-guide/): an archive
 * of the executable and the LICENSE, its sha256, and the plugin manifest with that sha256 filled in.
 * The manifest in the repository (kubectl-ipam/krew/ipam.yaml) names the archive and carries a
 * placeholder sha256; `npm run build` writes the filled copy beside the archive, so the two always match
 * and no commit is needed per build. The archive is reproducible: the same files give the same bytes
 * (fixed times and owners, gzip without a timestamp).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseDocument } from 'yaml';

export const krewArchiveName = 'kubectl-ipam-linux-amd64.tar.gz';

export interface ArchiveFile {
  readonly name: string;
  readonly mode: number;
  readonly content: Buffer;
}

/** An octal field of a tar header: digits, NUL-terminated, zero-padded to `width`. */
function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** A POSIX ustar archive of `files`, owned by root, dated 1970: the same files give the same bytes. */
export function ustar(files: readonly ArchiveFile[]): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    if (Buffer.byteLength(file.name) > 100) throw new Error(`${file.name}: name too long for a tar header`);
    const header = Buffer.alloc(512);
    header.write(file.name, 0);
    header.write(octal(file.mode, 8), 100);
    header.write(octal(0, 8), 108);
    header.write(octal(0, 8), 116);
    header.write(octal(file.content.length, 12), 124);
    header.write(octal(0, 12), 136);
    header.write(' '.repeat(8), 148);
    header.write('0', 156);
    header.write('ustar\u000000', 257);
    header.write('root', 265);
    header.write('root', 297);
    const checksum = header.reduce((sum, byte) => sum + byte, 0);
    header.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148);
    const padding = Buffer.alloc((512 - (file.content.length % 512)) % 512);
    blocks.push(header, file.content, padding);
  }
  return Buffer.concat([...blocks, Buffer.alloc(1024)]);
}

export function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/**
 * The manifest `template` with the sha256 of every platform whose uri names `archive` set to `digest`.
 * Refuses a manifest naming no such archive: it would publish a digest for nothing.
 */
export function fillManifest(template: string, archive: string, digest: string): string {
  const document = parseDocument(template);
  const platforms = document.getIn(['spec', 'platforms']) as { items: unknown[] } | undefined;
  let filled = 0;
  platforms?.items.forEach((_, index) => {
    const uri = document.getIn(['spec', 'platforms', index, 'uri']);
    if (typeof uri === 'string' && uri.endsWith(`/${archive}`)) {
      document.setIn(['spec', 'platforms', index, 'sha256'], digest);
      filled++;
    }
  });
  if (filled === 0) throw new Error(`the krew manifest names no platform archive ${archive}`);
  return document.toString();
}

/**
 * Writes, beside the executable in `outDir`: the archive, `<archive>.sha256` (as sha256sum prints it) and
 * `ipam.yaml`, the manifest filled for it. Returns their paths.
 */
export function krewRelease(
  outDir: string,
  files: { readonly executable: string; readonly license: string; readonly manifest: string },
): string[] {
  const archive = gzipSync(
    ustar([
      { name: path.basename(files.executable), mode: 0o755, content: fs.readFileSync(files.executable) },
      { name: 'LICENSE', mode: 0o644, content: fs.readFileSync(files.license) },
    ]),
    { level: 9 },
  );
  const digest = sha256(archive);
  const archivePath = path.join(outDir, krewArchiveName);
  const digestPath = `${archivePath}.sha256`;
  const manifestPath = path.join(outDir, 'ipam.yaml');
  fs.writeFileSync(archivePath, archive);
  fs.writeFileSync(digestPath, `${digest}  ${krewArchiveName}\n`);
  fs.writeFileSync(
    manifestPath,
    fillManifest(fs.readFileSync(files.manifest, 'utf8'), krewArchiveName, digest),
  );
  return [archivePath, digestPath, manifestPath];
}
