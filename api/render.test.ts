import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderCrdFiles } from './render.js';

const crdDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'crds');

describe('crds/', () => {
  it.each(renderCrdFiles())(
    '$fileName matches what api/ generates (run `npm run generate`)',
    ({ fileName, content }) => {
      expect(fs.readFileSync(path.join(crdDir, fileName), 'utf8')).toBe(content);
    },
  );

  it('holds no CRD that api/ does not define', () => {
    const expected = renderCrdFiles()
      .map((file) => file.fileName)
      .sort();
    expect(
      fs
        .readdirSync(crdDir)
        .filter((name) => name.endsWith('.yaml'))
        .sort(),
    ).toEqual(expected);
  });
});
