/** Writes crds/*.yaml from the resource definitions in api/. `npm run generate` runs it; a test fails if crds/ is stale. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCrdFiles } from '../api/render.js';

const crdDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'crds');
fs.mkdirSync(crdDir, { recursive: true });
for (const { fileName, content } of renderCrdFiles()) fs.writeFileSync(path.join(crdDir, fileName), content);
