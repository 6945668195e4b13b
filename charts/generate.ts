/**
 * `npm run generate`: every generated file, all of them in the chart, in this order: the CRDs
 * (crds/, from the resource definitions in api/), values.schema.json (from values-schema.ts) and the
 * README's values table (from that schema and values.yaml). The chart's crds/ is the one copy of the CRDs:
 * `helm install` and the local control plane (local-cluster/crds.ts) apply the same files.
 * charts/generated.test.ts fails when any of them is stale.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { renderCrdFiles } from '../api/render.js';
import { valuesRows, valuesTable, withValuesTable } from './readme.js';
import { renderValuesJsonSchema, valuesJsonSchema } from './values-schema.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const chartDir = path.join(here, 'topology-ipam');
export const crdDir = path.join(chartDir, 'crds');

/** Every generated file: its path and the content it must have, in the order they are written. */
export function generatedFiles(): { file: string; content: string }[] {
  const readmeFile = path.join(chartDir, 'README.md');
  const values: unknown = parseYaml(fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
  const table = valuesTable(valuesRows(valuesJsonSchema(), values));
  return [
    ...renderCrdFiles().map(({ fileName, content }) => ({ file: path.join(crdDir, fileName), content })),
    { file: path.join(chartDir, 'values.schema.json'), content: renderValuesJsonSchema() },
    { file: readmeFile, content: withValuesTable(fs.readFileSync(readmeFile, 'utf8'), table) },
  ];
}

/** Files in crds/ that api/ no longer defines. */
export function staleCrdFiles(): string[] {
  const wanted = new Set(generatedFiles().map(({ file }) => file));
  return fs
    .readdirSync(crdDir)
    .map((name) => path.join(crdDir, name))
    .filter((file) => !wanted.has(file));
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  fs.mkdirSync(crdDir, { recursive: true });
  for (const file of staleCrdFiles()) {
    fs.rmSync(file);
    console.log(`removed ${path.relative(process.cwd(), file)}`);
  }
  for (const { file, content } of generatedFiles()) {
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    if (current === content) continue;
    fs.writeFileSync(file, content);
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
}
