import type { z } from 'zod';

/**
 * What is wrong with an object's spec, as `spec.field: message` lines ([] if nothing): for a consumer
 * that reads an object the API server stored before its CRD was as strict as the schema, and must skip
 * it and say why rather than fail on it.
 */
export function specProblems(schema: z.ZodType, spec: unknown): string[] {
  const result = schema.safeParse(spec);
  if (result.success) return [];
  return result.error.issues.map((issue) => {
    const field = issue.path.reduce<string>(
      (path, key) => (typeof key === 'number' ? `${path}[${key}]` : `${path}.${String(key)}`),
      'spec',
    );
    return `${field}: ${issue.message}`;
  });
}
