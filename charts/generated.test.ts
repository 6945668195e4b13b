/**
 * The chart's files without helm: the generated ones fresh, values.yaml valid against its schema.
 * What needs helm (lint, rendering, the schema as helm applies it) is in chart.tools.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { chartDir, generatedFiles, staleCrdFiles } from './generate.js';
import { valuesSchema } from './values-schema.js';

describe('generated files', () => {
  it.each(generatedFiles().map(({ file, content }) => [path.relative(chartDir, file), file, content]))(
    '%s is fresh (npm run generate)',
    (_name, file, content) => {
      expect(fs.readFileSync(file, 'utf8')).toBe(content);
    },
  );

  it('crds/ holds no CRD that api/ does not define', () => {
    expect(staleCrdFiles()).toEqual([]);
  });
});

describe('values', () => {
  it('values.yaml satisfies the schema', () => {
    const values: unknown = parseYaml(fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
    const parsed = valuesSchema.safeParse(values);
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
  });
});
