import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { fillManifest, krewArchiveName, krewRelease, sha256, ustar } from './krew.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const manifest = path.join(repo, 'kubectl-ipam', 'krew', 'ipam.yaml');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-'));
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Platform {
  readonly uri: string;
  readonly sha256: string;
  readonly bin: string;
}
const platformsOf = (text: string) => (parse(text) as { spec: { platforms: Platform[] } }).spec.platforms;

describe('ustar', () => {
  const files = [
    { name: 'kubectl-ipam', mode: 0o755, content: Buffer.from('#!/usr/bin/env node\n'.repeat(100)) },
    { name: 'LICENSE', mode: 0o644, content: Buffer.from('') },
  ];

  it('is read back by tar, with names, modes and contents', () => {
    const archive = path.join(dir, 'a.tar');
    fs.writeFileSync(archive, ustar(files));
    expect(execFileSync('tar', ['-tvf', archive], { encoding: 'utf8' })).toMatch(
      /^-rwxr-xr-x root\/root\s+2000 1970-01-01 00:00 kubectl-ipam\n-rw-r--r-- root\/root\s+0 1970-01-01 00:00 LICENSE\n$/,
    );
    expect(execFileSync('tar', ['-xOf', archive, 'kubectl-ipam'])).toEqual(files[0]?.content);
  });

  it('gives the same bytes for the same files', () => {
    expect(ustar(files).equals(ustar(files.map((file) => ({ ...file }))))).toBe(true);
  });
});

describe('the krew manifest', () => {
  it('names the archive the build makes, for the program it holds', () => {
    const platforms = platformsOf(fs.readFileSync(manifest, 'utf8'));
    expect(platforms.map((platform) => path.basename(platform.uri))).toEqual([krewArchiveName]);
    expect(platforms.map((platform) => platform.bin)).toEqual(['kubectl-ipam']);
  });

  it('is filled with the sha256, comments kept', () => {
    const template = fs.readFileSync(manifest, 'utf8');
    const filled = fillManifest(template, krewArchiveName, 'ab'.repeat(32));
    expect(platformsOf(filled).map((platform) => platform.sha256)).toEqual(['ab'.repeat(32)]);
    expect(filled).toContain('# Krew plugin manifest');
  });

  it('refuses to fill a manifest naming no such archive', () => {
    expect(() => fillManifest(fs.readFileSync(manifest, 'utf8'), 'other.tar.gz', 'ab'.repeat(32))).toThrow(
      'the krew manifest names no platform archive other.tar.gz',
    );
  });
});

describe('krewRelease', () => {
  it('writes the archive, its sha256 as sha256sum prints it, and the manifest filled with it', () => {
    const executable = path.join(dir, 'kubectl-ipam');
    fs.writeFileSync(executable, '#!/usr/bin/env node\nconsole.log("ipam")\n', { mode: 0o755 });
    const written = krewRelease(dir, { executable, license: path.join(repo, 'LICENSE'), manifest });
    expect(written.map((file) => path.basename(file))).toEqual([
      krewArchiveName,
      `${krewArchiveName}.sha256`,
      'ipam.yaml',
    ]);
    const digest = sha256(fs.readFileSync(path.join(dir, krewArchiveName)));
    expect(fs.readFileSync(path.join(dir, `${krewArchiveName}.sha256`), 'utf8')).toBe(
      `${digest}  ${krewArchiveName}\n`,
    );
    expect(platformsOf(fs.readFileSync(path.join(dir, 'ipam.yaml'), 'utf8'))[0]?.sha256).toBe(digest);
    expect(
      execFileSync('tar', ['-tzf', path.join(dir, krewArchiveName)], { encoding: 'utf8' }).split('\n'),
    ).toEqual(['kubectl-ipam', 'LICENSE', '']);
  });
});
