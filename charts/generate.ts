/**
 * Writes the chart's generated files: values.schema.json (from values-schema.ts), crds/ (copies of the
 * repository's crds/, themselves generated from api/), and the README's values table. Run with
 * `npx tsx charts/generate.ts`; charts/generated.test.ts fails when any of them is stale.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { valuesRows, valuesTable, withValuesTable } from './readme.js';
import { renderValuesJsonSchema, valuesJsonSchema } from './values-schema.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const chartDir = path.join(here, 'topology-ipam');
export const repoCrdDir = path.resolve(here, '..', 'crds');

/** Every generated file of the chart: its path and the content it must have. */
export function generatedFiles(): { file: string; content: string }[] {
  const readmeFile = path.join(chartDir, 'README.md');
  const values: unknown = parseYaml(fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
  const table = valuesTable(valuesRows(valuesJsonSchema(), values));
  return [
    { file: path.join(chartDir, 'values.schema.json'), content: renderValuesJsonSchema() },
    { file: readmeFile, content: withValuesTable(fs.readFileSync(readmeFile, 'utf8'), table) },
    ...fs
      .readdirSync(repoCrdDir)
      .filter((name) => name.endsWith('.yaml'))
      .sort()
      .map((name) => ({
        file: path.join(chartDir, 'crds', name),
        content: fs.readFileSync(path.join(repoCrdDir, name), 'utf8'),
      })),
  ];
}

/** Files in the chart's crds/ that the repository's crds/ no longer has. */
export function staleCrdCopies(): string[] {
  const wanted = new Set(fs.readdirSync(repoCrdDir));
  return fs
    .readdirSync(path.join(chartDir, 'crds'))
    .filter((name) => !wanted.has(name))
    .map((name) => path.join(chartDir, 'crds', name));
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  fs.mkdirSync(path.join(chartDir, 'crds'), { recursive: true });
  for (const file of staleCrdCopies()) fs.rmSync(file);
  for (const { file, content } of generatedFiles()) {
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    if (current === content) continue;
    fs.writeFileSync(file, content);
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
}
