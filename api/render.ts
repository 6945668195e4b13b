import { stringify } from 'yaml';
import { customResourceDefinition } from './crds.js';
import { apiGroup } from './group.js';
import { resourceDefinitions } from './resources.js';

const header = '# Generated from api/ by `npm run generate`. Do not edit by hand.\n';

/** Every CRD as the YAML file crds/ holds for it. */
export function renderCrdFiles(): { fileName: string; content: string }[] {
  return resourceDefinitions.map((resource) => ({
    fileName: `${apiGroup}_${resource.plural}.yaml`,
    content: header + stringify(customResourceDefinition(resource), { lineWidth: 0 }),
  }));
}
