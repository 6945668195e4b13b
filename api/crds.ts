/** The CustomResourceDefinition of each resource in the model's table (resources.ts), as the API server takes it. */
import type { ResourceDefinition } from './resources.js';
import { type SchemaNode, schemaAt, structuralSchemaOf } from './structural-schema.js';

function objectSchema(resource: ResourceDefinition): SchemaNode {
  const properties: Record<string, SchemaNode> = {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: structuralSchemaOf(resource.spec),
  };
  if (resource.status) properties.status = structuralSchemaOf(resource.status);
  const root: SchemaNode = {
    type: 'object',
    description: resource.description,
    properties,
    required: ['spec'],
  };
  if (resource.rootRules) root['x-kubernetes-validations'] = resource.rootRules;
  for (const { path, rules, maxLength, listType, listMapKeys } of resource.fieldRules ?? []) {
    const node = schemaAt(root, path);
    if (rules) node['x-kubernetes-validations'] = rules;
    if (maxLength !== undefined) node.maxLength = maxLength;
    if (listType) node['x-kubernetes-list-type'] = listType;
    if (listMapKeys) node['x-kubernetes-list-map-keys'] = listMapKeys;
  }
  return root;
}

/** The CustomResourceDefinition of one resource, as the API server takes it. */
export function customResourceDefinition(resource: ResourceDefinition): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${resource.plural}.${resource.group}` },
    spec: {
      group: resource.group,
      scope: resource.scope,
      names: {
        kind: resource.kind,
        listKind: `${resource.kind}List`,
        plural: resource.plural,
        singular: resource.kind.toLowerCase(),
        ...(resource.shortNames.length > 0 ? { shortNames: resource.shortNames } : {}),
        categories: ['topology-ipam'],
      },
      versions: [
        {
          name: resource.version,
          served: true,
          storage: true,
          ...(resource.status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: resource.printerColumns,
          schema: { openAPIV3Schema: objectSchema(resource) },
        },
      ],
    },
  };
}
