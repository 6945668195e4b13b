/** JSON with object keys sorted, so two values compare equal whatever order the API server wrote keys in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

export const semanticallyEqual = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);
