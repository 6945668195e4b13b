/** `kubectl ipam configure`: flags to IPAMConfig changes, validated by the resource's own schema. */
import { type IPAMConfigSpec, ipamConfigSpecSchema } from '../api/index.js';

/** Each flag and the field it sets. */
export const configureFlags = {
  'strict-affinity': { field: 'strictAffinity', kind: 'boolean' },
  'max-blocks-per-host': { field: 'maxBlocksPerHost', kind: 'integer' },
  'auto-allocate-blocks': { field: 'autoAllocateBlocks', kind: 'boolean' },
  'min-free-addresses-per-node': { field: 'minFreeAddressesPerNode', kind: 'integer' },
  'release-cooldown-seconds': { field: 'releaseCooldownSeconds', kind: 'integer' },
  'leak-grace-period-seconds': { field: 'leakGracePeriodSeconds', kind: 'integer' },
} as const satisfies Record<string, { field: keyof IPAMConfigSpec; kind: 'boolean' | 'integer' }>;
export type ConfigureFlag = keyof typeof configureFlags;

export type ConfigureOutcome =
  | { readonly ok: true; readonly spec: Partial<IPAMConfigSpec> }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * The spec to write: `current` (the object's spec, or none) with the flags given applied. Fields not
 * given keep their value, defaults stay implicit. Problems name the flag, as the user typed it.
 */
export function configureSpec(
  current: Partial<IPAMConfigSpec> | undefined,
  flags: Partial<Record<ConfigureFlag, string>>,
): ConfigureOutcome {
  const changes: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [flag, text] of Object.entries(flags) as [ConfigureFlag, string | undefined][]) {
    if (text === undefined) continue;
    const { field, kind } = configureFlags[flag];
    const value = kind === 'boolean' ? parseBoolean(text) : parseInteger(text);
    if (value === undefined)
      problems.push(
        `--${flag}: ${JSON.stringify(text)} is not ${kind === 'boolean' ? 'true or false' : 'an integer'}`,
      );
    else changes[field] = value;
  }
  if (problems.length === 0 && Object.keys(changes).length === 0)
    problems.push(
      `nothing to change: give one of ${Object.keys(configureFlags)
        .map((flag) => `--${flag}`)
        .join(', ')}`,
    );
  if (problems.length > 0) return { ok: false, problems };
  const spec = { ...current, ...changes };
  const parsed = ipamConfigSpecSchema.safeParse(spec);
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((issue) => `${flagOf(issue.path[0])}: ${issue.message}`),
    };
  }
  return { ok: true, spec };
}

function flagOf(field: PropertyKey | undefined): string {
  const flag = Object.entries(configureFlags).find(([, entry]) => entry.field === field)?.[0];
  return flag === undefined ? `spec.${String(field)}` : `--${flag}`;
}

function parseBoolean(text: string): boolean | undefined {
  return text === 'true' ? true : text === 'false' ? false : undefined;
}

function parseInteger(text: string): number | undefined {
  return /^-?\d{1,9}$/.test(text) ? Number(text) : undefined;
}
