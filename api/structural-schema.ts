import { z } from 'zod';

/** An OpenAPI v3 schema node as a CRD takes it. */
export interface SchemaNode {
  type?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  [key: string]: unknown;
}

export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** Keys zod emits that a CRD's structural schema does not allow or need. */
const droppedKeys = new Set(['$schema', 'additionalProperties', 'id', '$id']);

/**
 * Converts a zod object schema to a CRD structural schema. Unknown fields are pruned by the API server
 * (and refused by kubectl's strict field validation), so `additionalProperties: false` is dropped: a CRD
 * may not combine it with `properties`. Fields with defaults are optional to the user, hence `io: input`.
 */
export function structuralSchemaOf(schema: z.ZodType): SchemaNode {
  const json = z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'throw' });
  return clean(json) as SchemaNode;
}

function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clean);
  if (value === null || typeof value !== 'object') return value;
  const result: Record<string, unknown> = {};
  const entries = Object.entries(value);
  // zod spells a timestamp as both `format: date-time` and its own regex; the API server checks the format.
  const dateTime = entries.some(([key, child]) => key === 'format' && child === 'date-time');
  for (const [key, child] of entries) {
    if (droppedKeys.has(key) || (dateTime && key === 'pattern')) continue;
    // Safe-integer bounds zod adds to every int are noise in a CRD; real bounds are far smaller.
    if ((key === 'minimum' || key === 'maximum') && Math.abs(child as number) >= Number.MAX_SAFE_INTEGER)
      continue;
    result[key] = key === 'properties' ? cleanProperties(child as Record<string, unknown>) : clean(child);
  }
  return result;
}

function cleanProperties(properties: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(properties).map(([name, child]) => [name, clean(child)]));
}

/**
 * Returns the node at a dotted property path (`spec.cidr`; `spec.list[]` for the list's items), for
 * attaching rules after conversion.
 */
export function schemaAt(root: SchemaNode, dottedPath: string): SchemaNode {
  let node = root;
  for (const segment of dottedPath.split('.')) {
    const items = segment.endsWith('[]');
    const name = items ? segment.slice(0, -2) : segment;
    const property = node.properties?.[name];
    const child = items ? property?.items : property;
    if (!child) throw new Error(`schema has no property ${dottedPath} (missing ${segment})`);
    node = child;
  }
  return node;
}
